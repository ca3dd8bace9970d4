"""Why a mention cannot be stored as it is, checked before the database gets to refuse it (the store quarantines it
with this reason). The limits are the columns' own: lengths from crm.models, counts the INTEGER range."""

from __future__ import annotations

import json

import sqlalchemy as sa

from crm.models import Mention, PlatformAccount
from listeners.base import RawMention

MENTION = Mention.__table__  # type: ignore[attr-defined]
ACCOUNT = PlatformAccount.__table__  # type: ignore[attr-defined]


def _largest(column: sa.Column[int]) -> int:
    """The largest value an integer column holds on every dialect the store writes to."""
    if isinstance(column.type, sa.BigInteger):
        return 2**63 - 1
    if isinstance(column.type, sa.SmallInteger):
        return 2**15 - 1
    return 2**31 - 1


COUNTS = ("likes", "reposts", "replies", "quotes")
MAX_COUNT = min(_largest(MENTION.c[name]) for name in COUNTS)
PLATFORM_MAX: int = MENTION.c.platform.type.length
EXTERNAL_ID_MAX: int = MENTION.c.external_id.type.length
URL_MAX: int = MENTION.c.url.type.length
HANDLE_MAX: int = ACCOUNT.c.handle.type.length
LANGUAGE_MAX: int = MENTION.c.language.type.length
LIMITS = {"platform": PLATFORM_MAX, "external_id": EXTERNAL_ID_MAX, "url": URL_MAX, "handle": HANDLE_MAX}


def raw_body(item: RawMention) -> str:
    """The payload as quarantine keeps it."""
    try:
        return json.dumps(item.raw, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(item.raw)


def _explain(item: RawMention) -> str | None:
    for name, limit in LIMITS.items():
        value = item.author.handle if name == "handle" else getattr(item, name)
        if not isinstance(value, str):
            return f"{name} must be a string"
        if len(value) > limit:
            return f"{name} is longer than {limit} characters"
    if not item.external_id.strip() or not item.platform or not item.author.handle.strip():
        return "platform, id and author handle are required"
    for name in COUNTS:
        value = getattr(item, name)
        if not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
            return f"{name} must be a whole number between 0 and {MAX_COUNT}"
    return None


def problem(item: RawMention) -> str | None:
    """Why a mention cannot be stored as it is, or None."""
    platform, external_id, url, handle = item.platform, item.external_id, item.url, item.author.handle
    likes, reposts, replies, quotes = item.likes, item.reposts, item.replies, item.quotes
    # The common case in one expression (the store runs it per mention); anything odd gets `_explain`'s reason.
    if (
        type(platform) is str
        and type(external_id) is str
        and type(url) is str
        and type(handle) is str
        and 0 < len(platform) <= PLATFORM_MAX
        and len(external_id) <= EXTERNAL_ID_MAX
        and len(url) <= URL_MAX
        and len(handle) <= HANDLE_MAX
        and type(likes) is int
        and type(reposts) is int
        and type(replies) is int
        and type(quotes) is int
        and 0 <= likes <= MAX_COUNT
        and 0 <= reposts <= MAX_COUNT
        and 0 <= replies <= MAX_COUNT
        and 0 <= quotes <= MAX_COUNT
        and external_id.strip()
        and handle.strip()
    ):
        return None
    return _explain(item)
