"""File and push intake: one JSON object per mention (JSONL, CSV or a webhook body) validated into RawMention."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crm.errors import InvalidInput
from crm.http.request_body import MAX_DEPTH, TooDeep, check_depth
from listeners.base import Author, PayloadError, RawMention

KNOWN_PLATFORMS = {"hackernews", "reddit", "bluesky", "mastodon", "x", "rss", "file", "webhook"}
MAX_TEXT = 40_000


# A JSON escape of a UTF-16 surrogate (a valid pair is an emoji; a lone one is not text any database stores).
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    reason: str
    body: str


LONE_SURROGATE = "contains a lone UTF-16 surrogate escape (e.g. \\ud800), which is not valid Unicode text"


class PayloadTooDeep(InvalidInput):
    """A payload nested past MAX_DEPTH: a nesting bomb is refused whole (a 422), as an oversized body is."""


def has_lone_surrogate(value: Any) -> bool:
    """True when some string in the value holds a lone surrogate (json.loads lets `\\ud800` through)."""
    pending = [value]
    while pending:
        current = pending.pop()
        if isinstance(current, str):
            try:
                current.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(current, dict):
            pending.extend(current.keys())
            pending.extend(current.values())
        elif isinstance(current, list):
            pending.extend(current)
    return False


def load_payload(text: str, where: str = "the payload", *, whole: bool = True) -> Any:
    """One JSON payload as Python values: PayloadError (quarantine) if it is not JSON or holds text no database can
    store (a lone surrogate), PayloadTooDeep past MAX_DEPTH levels. The raw text is still stored in quarantine.
    With `whole=False` the text check is left to the caller, which rejects only the objects that fail it."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(f"not valid JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise PayloadTooDeep(f"{where} is nested deeper than {MAX_DEPTH} levels") from None
    # Both walks are skipped for the usual line: brackets are counted and the escape looked for in C first.
    if text.count("{") + text.count("[") > MAX_DEPTH:
        try:
            check_depth(value)
        except TooDeep:
            raise PayloadTooDeep(f"{where} is nested deeper than {MAX_DEPTH} levels") from None
    if whole and SURROGATE_ESCAPE.search(text) and has_lone_surrogate(value):
        raise PayloadError(LONE_SURROGATE)
    return value


def _int(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise PayloadError(f"{name} must be a whole number, got a boolean")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise PayloadError(f"{name} must be a whole number, got {value!r}") from None
    if number < 0:
        raise PayloadError(f"{name} must not be negative")
    return number


def parse_timestamp(value: Any, name: str = "created_at") -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(f"{name} is missing or not a timestamp")
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise PayloadError(f"{name} is not an ISO 8601 timestamp: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _str(record: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = record.get(name)
    if value is None or value == "":
        if required:
            raise PayloadError(f"{name} is missing")
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise PayloadError(f"{name} must be a string, got {type(value).__name__}")
    return value


def mention_from_record(record: Any) -> RawMention:
    """Validate one intake object; raises PayloadError naming the first problem."""
    if not isinstance(record, dict):
        raise PayloadError(f"expected a JSON object, got {type(record).__name__}")
    platform = _str(record, "platform").strip().lower()
    if platform not in KNOWN_PLATFORMS:
        raise PayloadError(f"unknown platform {platform!r}; expected one of {', '.join(sorted(KNOWN_PLATFORMS))}")
    text = _str(record, "text")
    if len(text) > MAX_TEXT:
        raise PayloadError(f"text is longer than {MAX_TEXT} characters")
    author = record.get("author")
    if not isinstance(author, dict):
        raise PayloadError("author must be an object with at least a handle")
    handle = _str(author, "handle").strip().lstrip("@")
    if not handle:
        raise PayloadError("author.handle is empty")
    given = record.get("engagement")
    engagement: dict[str, Any] = given if isinstance(given, dict) else {}
    return RawMention(
        platform=platform,
        external_id=_str(record, "id"),
        text=text,
        url=_str(record, "url"),
        created_at=parse_timestamp(record.get("created_at")),
        author=Author(
            handle=handle,
            display_name=_str(author, "display_name", required=False) or _str(author, "name", required=False),
            external_id=_str(author, "id", required=False) or None,
            followers=_int(author.get("followers"), "author.followers"),
            following=_int(author.get("following"), "author.following"),
            posts_count=_int(author.get("posts"), "author.posts"),
            verified=bool(author.get("verified", False)),
            dm_open=bool(author.get("dm_open", False)),
            bio=_str(author, "bio", required=False),
            profile_url=_str(author, "url", required=False),
        ),
        language=_str(record, "language", required=False) or None,
        likes=_int(engagement.get("likes", record.get("likes")), "likes") or 0,
        reposts=_int(engagement.get("reposts", record.get("reposts")), "reposts") or 0,
        replies=_int(engagement.get("replies", record.get("replies")), "replies") or 0,
        quotes=_int(engagement.get("quotes", record.get("quotes")), "quotes") or 0,
        in_reply_to=_str(record, "in_reply_to", required=False) or None,
        quote_of=_str(record, "quote_of", required=False) or None,
        raw=record,
    )


def read_jsonl(stream: io.TextIOBase | Iterable[str | bytes]) -> Iterator[tuple[int, RawMention | Rejected]]:
    """Yields (line number, mention or rejection); a bad line never stops the file, a nesting bomb does.

    Lines may be bytes, decoded one by one: a line that is not UTF-8 is quarantined and the others kept.
    """
    for number, raw in enumerate(stream, start=1):
        if isinstance(raw, bytes):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                body = raw.decode("utf-8", "backslashreplace").rstrip("\r\n")
                yield number, Rejected(number, f"not valid UTF-8 (byte {exc.start})", body)
                continue
        else:
            line = raw
        if not line.strip():
            continue
        try:
            yield number, mention_from_record(load_payload(line, f"line {number}"))
        except PayloadError as exc:
            yield number, Rejected(number, str(exc), line.rstrip("\r\n"))


def read_csv(stream: io.TextIOBase) -> Iterator[tuple[int, RawMention | Rejected]]:
    """CSV with columns platform,id,text,created_at,url,author_handle[,author_followers,...]."""
    reader = csv.DictReader(stream)
    if reader.fieldnames is None:
        return
    for number, row in enumerate(reader, start=2):
        try:
            yield number, mention_from_record(record_from_csv_row(row))
        except PayloadError as exc:
            yield number, Rejected(number, str(exc), json.dumps(row))


def record_from_csv_row(row: dict[Any, Any]) -> dict[str, Any]:
    """A flat CSV row (author_* columns) as the nested intake object; quarantine replays use it too."""
    record: dict[str, Any] = {"author": {}}
    for key, value in row.items():
        if not isinstance(key, str):
            continue
        if key.startswith("author_"):
            record["author"][key[len("author_") :]] = value
        else:
            record[key] = value
    return record


def mention_from_body(body: str) -> RawMention:
    """A quarantined body (a JSON object, nested or a flat CSV row) validated again; raises PayloadError."""
    try:
        record = load_payload(body)
    except PayloadTooDeep as exc:
        raise PayloadError(exc.detail) from None
    if isinstance(record, dict) and "author" not in record and any(str(k).startswith("author_") for k in record):
        record = record_from_csv_row(record)
    return mention_from_record(record)
