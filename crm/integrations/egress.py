"""Which outbound URLs Warmline may call on a user's behalf (webhook targets): public addresses only, unless the
operator allows private ones, so a subscription cannot be used to probe the internal network (SSRF)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from crm.errors import InvalidInput


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return not ip.is_global or ip.is_multicast


async def check_target(url: str, *, allow_private: bool) -> None:
    """Raise InvalidInput unless every address the URL's host resolves to is public (or private ones are allowed).

    Checked when a subscription is saved and again before each delivery, because DNS answers can change.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("webhook URLs must be absolute http(s) URLs")
    if allow_private:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise InvalidInput(f"cannot resolve {parts.hostname}: {exc.strerror or exc}") from None
    blocked = sorted({str(info[4][0]) for info in infos if _forbidden(str(info[4][0]))})
    if blocked:
        raise InvalidInput(
            f"{parts.hostname} resolves to a non-public address ({', '.join(blocked)}); "
            "set CRM_WEBHOOK_ALLOW_PRIVATE_TARGETS=true to allow internal receivers"
        )
