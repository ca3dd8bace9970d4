"""What every platform connector is: sources per watch, pages of normalised mentions, and the cursor after each page.

Also the small, strict readers connectors use to turn a platform's JSON into RawMention (a bad item is a Rejected).
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from crm.models import Watch
from crm.settings import Settings
from listeners.base import PayloadError, RawMention
from listeners.intake import Rejected
from listeners.matching import WatchMatcher
from listeners.platforms.http import PlatformHttp

Item = RawMention | Rejected
MAX_SOURCE = 200  # ListenerCursor.source column size


@dataclass
class Page:
    """One fetched page: save `items`, then store `cursor` and `state` in the same transaction."""

    items: list[Item]
    cursor: str
    state: dict[str, Any] = field(default_factory=dict)
    done: bool = True
    deleted: list[str] = field(default_factory=list)  # external ids the platform says were deleted
    live: bool = False  # read from a stream bounded by time or events, not a walk bounded by listener_max_pages


class Connector(ABC):
    """A small typed client on an injected httpx client (wrapped in PlatformHttp for rate limits and retries)."""

    name: ClassVar[str]  # registry key and ListenerCursor.platform
    platform: ClassVar[str]  # Mention.platform of what it produces

    def __init__(self, http: PlatformHttp, settings: Settings) -> None:
        self.http = http
        self.settings = settings

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        """Whether settings hold what this connector needs (tokens, feeds); unconfigured connectors are skipped."""
        return True

    @abstractmethod
    def sources(self, watch: Watch) -> list[str]:
        """The independent streams to read for this watch (a query, a tag, a feed), each with its own cursor."""

    @abstractmethod
    def pages(self, watch: Watch, source: str, cursor: str, state: dict[str, Any]) -> AsyncGenerator[Page, None]:
        """Newer pages since `cursor`, resuming a half-read walk from `state`; stops when caught up."""


# --------------------------------------------------------------------------- shared reading of platform JSON


def search_terms(watch: Watch) -> list[str]:
    """What to ask a platform's search for: keywords, competitor names and the query's terms, first spelling wins.

    Platform search only narrows the stream; the watch's full query is applied when the mentions are stored.
    """
    seen: set[str] = set()
    terms: list[str] = []
    query_terms = [t.text for t in WatchMatcher.from_watch(watch).query_terms if t.text] if watch.query else []
    names = [c.get("name", "") for c in watch.competitors if isinstance(c, dict)]
    for term in [*watch.keywords, *names, *query_terms]:
        cleaned = " ".join(str(term).split())
        if cleaned and cleaned.casefold() not in seen:
            seen.add(cleaned.casefold())
            terms.append(cleaned)
    return terms


def source_key(value: str) -> str:
    """Fits a source (a long feed URL, a long query) into the cursor column while staying unique."""
    if len(value) <= MAX_SOURCE:
        return value
    return value[: MAX_SOURCE - 17] + "#" + hashlib.sha256(value.encode()).hexdigest()[:16]


def reject(index: int, reason: str, raw: Any) -> Rejected:
    """A quarantine entry with the item as received (text stays text, JSON is re-serialised)."""
    body = raw if isinstance(raw, str) else json.dumps(raw, default=str, ensure_ascii=False)
    return Rejected(index, reason, body[:500_000])


def normalise_all(raw_items: Any, normalise: Callable[[Any], RawMention | None], what: str) -> list[Item]:
    """Each item normalised on its own: a bad one is rejected, the rest of the batch is kept; None means skip."""
    if not isinstance(raw_items, list):
        return [reject(0, f"{what} is not a list", raw_items)]
    items: list[Item] = []
    for index, raw in enumerate(raw_items, start=1):
        try:
            mention = normalise(raw)
        except PayloadError as exc:
            items.append(reject(index, str(exc), raw))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:  # a shape we did not foresee
            items.append(reject(index, f"unexpected {what} item: {type(exc).__name__}: {exc}", raw))
        else:
            if mention is not None:
                items.append(mention)
    return items


def obj(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(f"{name} must be an object, got {type(value).__name__}")
    return value


def sub(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """An optional nested object; anything else (missing, null, wrong type) reads as empty."""
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def text_of(value: Any, name: str, *, required: bool = True) -> str:
    if value is None or value == "":
        if required:
            raise PayloadError(f"{name} is missing")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PayloadError(f"{name} must be a string, got {type(value).__name__}")
    return str(value)


def count(value: Any) -> int:
    """Engagement and reach figures: a missing or odd value counts as 0 rather than losing the post."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float) and value == value:
        return max(int(value), 0)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return 0


def reach(value: Any) -> int | None:
    """Like count, but unknown stays None so a stored figure is not overwritten with 0."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    return count(value) if not isinstance(value, str) or value.strip().isdigit() else None


def timestamp(value: Any, name: str) -> datetime:
    """A tz-aware UTC datetime from epoch seconds or ISO 8601 text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise PayloadError(f"{name} is out of range: {value!r}") from None
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(f"{name} is missing or not a timestamp")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise PayloadError(f"{name} is not an ISO 8601 timestamp: {value!r}") from None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<\s*(br|/p|/div|/li|/h\d)\s*/?\s*>", re.IGNORECASE)


def html_to_text(markup: str) -> str:
    """Plain text from the small HTML posts carry (Mastodon content, HN comments); matching wants words, not tags."""
    text = _BREAK.sub("\n", markup)
    text = _TAG.sub("", text)
    text = html.unescape(text)
    return "\n".join(" ".join(line.split()) for line in text.splitlines()).strip()
