"""Checks run before a command starts: is the database reachable and migrated, is Redis answering?

Each failure becomes one line that names the setting to fix, so the CLI never shows a traceback for them.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis
from sqlalchemy import text

from crm.db import make_engine
from crm.settings import Settings


class PreflightError(Exception):
    """A problem with configuration or a service the user must fix; the message is shown as is."""


def _describe(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return message[:200]


async def check_database(settings: Settings, timeout: float = 5.0) -> None:
    try:
        engine = make_engine(settings)
    except Exception as exc:  # a malformed URL or a missing driver
        raise PreflightError(f"CRM_DATABASE_URL is not usable: {_describe(exc)}") from exc
    try:
        async with asyncio.timeout(timeout):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception as exc:
        raise PreflightError(
            f"cannot reach the database at CRM_DATABASE_URL ({_safe(settings.resolved_database_url)}): {_describe(exc)}"
        ) from exc
    finally:
        await engine.dispose()


async def check_redis(url: str, timeout: float = 3.0) -> None:
    client = Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        await client.ping()
    except Exception as exc:
        raise PreflightError(f"cannot reach Redis at CRM_REDIS_URL ({_safe(url)}): {_describe(exc)}") from exc
    finally:
        await client.aclose()


def _safe(url: str) -> str:
    """The URL without its password, fit to print."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url
