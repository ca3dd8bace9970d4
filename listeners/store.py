"""Mention store: the bulk path from validated mentions to rows, a batch at a time.

Per batch: match and normalise in Python, then about a dozen set-wise statements (a few indexed SELECTs and
driver-level executemany INSERTs of tuples built once, see `bulk_insert`): find or create authors and their
contacts (`listeners.authors`), insert mentions (once per platform + external id; reposts linked to the first copy
by content hash), record the watch matches, open leads. New rows get their ids without reading them back
(`run_with_ids`). Bad payloads go to quarantine with the reason (`listeners.mention_checks`); a batch the database
refuses is retried row by row, so one bad row never costs the others. Flushes, never commits: the caller commits,
then enqueues scoring for `new_leads`.

The rules are their owners': how a lead opens, is announced and routed (crm.leads.opening), who is suppressed
(crm.contacts.privacy), when reach is snapshotted (scoring.growth), what the sync log records
(crm.integrations.changelog); this module only writes the rows they describe.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC
from itertools import islice
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.contacts.privacy import author_suppression
from crm.db import begin_writing
from crm.integrations.changelog import record_changes
from crm.integrations.outbox import subscribed_event_types
from crm.leads.opening import NewLead, Opening, created_payloads, lead_opening, opened_in_bulk
from crm.models import Lead, Mention, MentionMatch, QuarantinedPayload, Watch, WebhookEvent, utcnow
from crm.settings import Settings
from listeners import authors
from listeners.base import RawMention
from listeners.bulk_insert import BulkInsert, Codec, codec_for, json_text, select_in
from listeners.intake import Rejected
from listeners.matching import NO_MATCH, Match, WatchMatcher
from listeners.mention_checks import LANGUAGE_MAX, problem, raw_body
from listeners.normalise import (
    MIN_LINK_TOKENS,
    clean_text,
    content_hash,
    content_hash_of,
    detect_language,
    guess_language,
    hash_tokens,
)
from listeners.query import tokenize

__all__ = ["BATCH_SIZE", "SaveResult", "batched", "content_hash", "quarantine", "save_mentions"]

BATCH_SIZE = 1000

# What a bad row can raise (bad data, a broken constraint, a value no processor takes), unlike a lost connection.
REFUSED = (StatementError, TypeError, ValueError)
UNAVAILABLE = (OperationalError, InterfaceError)
MENTION = Mention.__table__  # type: ignore[attr-defined]
LEAD = Lead.__table__  # type: ignore[attr-defined]
MATCH = MentionMatch.__table__  # type: ignore[attr-defined]
QUARANTINE = QuarantinedPayload.__table__  # type: ignore[attr-defined]
EVENT = WebhookEvent.__table__  # type: ignore[attr-defined]
SOURCE_MAX: int = QUARANTINE.c.source.type.length
MENTION_INSERT = BulkInsert(
    MENTION,
    [
        "platform",
        "external_id",
        "account_id",
        "contact_id",
        "text",
        "url",
        "language",
        "posted_at",
        "fetched_at",
        "likes",
        "reposts",
        "replies",
        "quotes",
        "in_reply_to",
        "quote_of",
        "content_hash",
        "duplicate_of_id",
        "matched_terms",
        "matched_competitors",
        "score_reasons",
        "raw",
    ],
    ["platform", "external_id"],
)
MATCH_INSERT = BulkInsert(
    MATCH, ["mention_id", "watch_id", "matched_terms", "matched_competitors", "created_at"], ["mention_id", "watch_id"]
)
LEAD_INSERT = BulkInsert(
    LEAD,
    [
        "contact_id",
        "watch_id",
        "pipeline_id",
        "platform",
        "first_mention_id",
        "stage",
        "created_at",
        "updated_at",
        "last_activity_at",
    ],
    ["contact_id", "watch_id"],
)
EVENT_INSERT = BulkInsert(EVENT, ["type", "payload", "created_at"])
QUARANTINE_INSERT = BulkInsert(QUARANTINE, ["source", "watch_id", "reason", "body", "status", "created_at"])

# The lookups the bulk path runs: (columns, table, condition with $n placeholders), see `select_in`.
STORED = ("external_id, id, duplicate_of_id, contact_id", "mention", "platform = $1")
MATCHED = ("mention_id", "mention_match", "watch_id = $1")
LEADS = ("contact_id", "lead", "watch_id = $1")
ORIGINALS = ("content_hash, min(id)", "mention", "1 = 1")


@dataclass
class SaveResult:
    new_mentions: list[int] = field(default_factory=list)
    duplicates: int = 0
    matched: int = 0
    new_leads: list[int] = field(default_factory=list)
    quarantined: int = 0
    reposts: int = 0
    suppressed: int = 0
    new_contacts: list[int] = field(default_factory=list)
    # What the webhook events (mention.matched, lead.created) describe; payloads are built only for subscribed types.
    matched_rows: list[_Row] = field(default_factory=list, repr=False)
    opened: list[NewLead] = field(default_factory=list, repr=False)


class _Row:
    """One valid mention of the batch, on its way to a row; ids are filled in as the statements run."""

    __slots__ = (
        "account_id",
        "contact_id",
        "digest",
        "duplicate_of",
        "external_id",
        "handle",
        "item",
        "language",
        "linked",
        "match",
        "mention_id",
        "platform",
        "text",
    )

    def __init__(
        self,
        item: RawMention,
        handle: str,
        text: str,
        language: str | None,
        match: Match,
        digest: str,
        linked: bool,
    ) -> None:
        self.item = item
        self.platform = item.platform
        self.external_id = item.external_id
        self.handle = handle
        self.text = text
        self.language = language
        self.match = match
        self.digest = digest
        self.linked = linked  # False: too short to link reposts by
        self.mention_id: int | None = None
        self.duplicate_of: int | None = None
        self.account_id: int | None = None
        self.contact_id: int | None = None


def batched(items: Iterable[Any], size: int = BATCH_SIZE) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def quarantine(session: AsyncSession, source: str, reason: str, body: str, watch_id: int | None = None) -> None:
    session.add(QuarantinedPayload(source=source, reason=reason, body=body, watch_id=watch_id))


async def save_mentions(
    session: AsyncSession,
    watch: Watch,
    items: Iterable[RawMention | Rejected],
    *,
    source: str = "file",
    matcher: WatchMatcher | None = None,
    batch_size: int = BATCH_SIZE,
    settings: Settings | None = None,
) -> SaveResult:
    """Store new mentions for a watch; known ones are skipped, bad ones quarantined. Flushes, never commits.

    With `settings`, authors on the suppression list (erased or opted out) are skipped and only counted.
    """
    assert watch.id is not None
    matcher = matcher or WatchMatcher.from_watch(watch)
    opening = await lead_opening(session, watch.pipeline_id)  # once per call, not per lead
    await session.flush()
    conn = await session.connection()
    await begin_writing(conn)  # SQLite: so the savepoints below are nested in it, not committed on release
    codec = codec_for(conn)
    result = SaveResult()
    if settings is not None:
        items = await _without_suppressed(session, settings, items, result)
    for chunk in batched(items, batch_size):
        try:
            with _gc_paused():
                async with conn.begin_nested():
                    _merge(result, await _save_batch(conn, codec, watch.id, opening, matcher, chunk, source))
        except REFUSED as refused:
            if isinstance(refused, UNAVAILABLE):
                raise
            # The database refused something the checks let through: keep every row it accepts.
            for item in chunk:
                try:
                    async with conn.begin_nested():
                        _merge(result, await _save_batch(conn, codec, watch.id, opening, matcher, [item], source))
                except REFUSED as exc:
                    if isinstance(exc, UNAVAILABLE):
                        raise
                    body = raw_body(item) if isinstance(item, RawMention) else item.body
                    cause = getattr(exc, "orig", None) or exc
                    reason = (
                        f"database refused it: {(str(cause).strip().splitlines() or [type(cause).__name__])[0][:500]}"
                    )
                    await QUARANTINE_INSERT.run(conn, [_quarantine_row(codec, source, reason, body, watch.id)])
                    result.quarantined += 1
    # Core statements bypass the ORM's change tracking and its outbox hook: tell the sync log and the outbox, then
    # route the new leads (crm.leads.opening applies the ORM path's rules to the batch).
    record_changes(session, "contact", result.new_contacts, "create")
    # Only event types some active subscription receives: fan-out would match the others to nobody.
    wanted = await subscribed_event_types(session) if result.opened or result.matched_rows else set()
    stamp = codec.ts(utcnow())
    events = []
    if "lead.created" in wanted:
        events += [("lead.created", json_text(payload), stamp) for payload in created_payloads(result.opened)]
    if "mention.matched" in wanted:
        events += [
            ("mention.matched", json_text(_mention_matched(row, watch.id)), stamp) for row in result.matched_rows
        ]
    await EVENT_INSERT.run(conn, events)
    await opened_in_bulk(session, result.opened)
    return result


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch is built and written.

    A batch allocates tens of thousands of short-lived tuples, dicts and rows without making cycles, and each
    allocation burst set off collections that walked the whole heap: a quarter of the path's CPU. It is on again
    after every batch, so what little cyclic garbage there is goes with the next collection and memory stays flat.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def _without_suppressed(
    session: AsyncSession, settings: Settings, items: Iterable[RawMention | Rejected], result: SaveResult
) -> Iterable[RawMention | Rejected]:
    """Drop mentions by people who were erased or opted out: storing them again would undo the erasure."""
    suppressed = await author_suppression(session, settings)
    if not suppressed:
        return items

    def kept() -> Iterator[RawMention | Rejected]:
        for item in items:
            if isinstance(item, RawMention) and suppressed.covers(
                item.platform, item.author.handle, item.author.external_id
            ):
                result.suppressed += 1
                continue
            yield item

    return kept()


def _merge(total: SaveResult, part: SaveResult) -> None:
    total.new_mentions.extend(part.new_mentions)
    total.new_leads.extend(part.new_leads)
    total.duplicates += part.duplicates
    total.matched += part.matched
    total.quarantined += part.quarantined
    total.reposts += part.reposts
    total.new_contacts.extend(part.new_contacts)
    total.opened.extend(part.opened)
    total.matched_rows.extend(part.matched_rows)


def _quarantine_row(codec: Codec, source: str, reason: str, body: str, watch_id: int) -> tuple[Any, ...]:
    return (source[:SOURCE_MAX], watch_id, reason, body, "open", codec.ts(utcnow()))


def _prepare(
    items: Sequence[RawMention | Rejected],
    matcher: WatchMatcher,
    source: str,
    watch_id: int,
    result: SaveResult,
    codec: Codec,
) -> tuple[list[_Row], list[tuple[Any, ...]]]:
    rows: list[_Row] = []
    bad: list[tuple[Any, ...]] = []
    seen: set[tuple[str, str]] = set()
    screens = bool(matcher.excluded_authors or matcher.languages or matcher.platforms)
    match_tokens = matcher.match_tokens
    for item in items:
        if isinstance(item, Rejected):
            bad.append(_quarantine_row(codec, source, f"line {item.line}: {item.reason}", item.body, watch_id))
            continue
        why = problem(item)
        if why is not None:
            bad.append(_quarantine_row(codec, source, why, raw_body(item), watch_id))
            continue
        key = (item.platform, item.external_id)
        if key in seen:
            result.duplicates += 1
            continue
        seen.add(key)
        text = clean_text(item.text)
        tokens = tokenize(text)
        language = item.language.lower()[:LANGUAGE_MAX] if item.language else guess_language(tokens)
        handle = item.author.handle.strip().lstrip("@").lower()
        match: Match = NO_MATCH
        if not screens or not matcher.excludes(author=handle, language=language, platform=item.platform):
            match = match_tokens(tokens)
            if match and language is None and matcher.languages:
                # Only a language-restricted watch pays for lingua, and only for texts it would keep.
                language = detect_language(text)
                if matcher.excludes(language=language):
                    match = NO_MATCH
        linked = hash_tokens(text, tokens)
        rows.append(_Row(item, handle, text, language, match, content_hash_of(linked), len(linked) >= MIN_LINK_TOKENS))
    return rows, bad


async def _stored(conn: AsyncConnection, codec: Codec, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """(platform, external id) -> (mention id, duplicate_of_id, contact id) for the ones already stored."""
    stored: dict[tuple[str, str], Any] = {}
    for platform, external_ids in authors.by_platform(keys).items():
        for external_id, mention_id, duplicate_of, contact_id in await select_in(
            conn, *STORED, (platform,), "external_id", external_ids
        ):
            stored[(platform, external_id)] = (mention_id, duplicate_of, contact_id)
    return stored


async def _save_batch(
    conn: AsyncConnection,
    codec: Codec,
    watch_id: int,
    opening: Opening,
    matcher: WatchMatcher,
    items: Sequence[RawMention | Rejected],
    source: str,
) -> SaveResult:
    result = SaveResult()
    rows, bad = _prepare(items, matcher, source, watch_id, result, codec)
    if bad:
        await QUARANTINE_INSERT.run(conn, bad)
        result.quarantined += len(bad)
    if not rows:
        return result
    stamp = codec.ts(utcnow())
    known = await _stored(conn, codec, ((r.platform, r.external_id) for r in rows))
    pending: list[_Row] = []  # matched rows whose mention exists, with its id
    new_rows: list[_Row] = []
    for row in rows:
        stored = known.get((row.platform, row.external_id))
        if stored is None:
            new_rows.append(row)
            continue
        result.duplicates += 1
        if row.match:  # stored before (by another watch or an earlier run): this watch still records its match
            row.mention_id, row.duplicate_of, row.contact_id = stored
            pending.append(row)
    recheck = bool(pending)
    if new_rows:
        await _authors(conn, codec, stamp, new_rows, result)
        recheck = await _insert_mentions(conn, codec, stamp, new_rows, pending, result) or recheck
    if pending:
        await _matches_and_leads(conn, codec, stamp, watch_id, opening, pending, recheck, result)
    return result


async def _authors(conn: AsyncConnection, codec: Codec, stamp: Any, rows: list[_Row], result: SaveResult) -> None:
    """Fill in each row's account and contact (`listeners.authors`), an author's latest figures winning."""
    latest = {(row.platform, row.handle): row.item.author for row in rows}
    found = await authors.find_or_create(conn, codec, stamp, latest)
    result.new_contacts.extend(found.new_contacts)
    accounts = found.accounts
    for row in rows:
        row.account_id, row.contact_id = accounts[(row.platform, row.handle)]


async def _insert_mentions(
    conn: AsyncConnection, codec: Codec, stamp: Any, rows: list[_Row], pending: list[_Row], result: SaveResult
) -> bool:
    """Insert new mentions; the first copy of a text (already stored, or first in this batch) is the original.

    Returns True when another writer stored some of them first (they are then handled as known ones).
    """
    digests = list({row.digest for row in rows if row.linked})
    originals: dict[str, int] = {}
    if digests:
        originals = dict(await select_in(conn, *ORIGINALS, (), "content_hash", digests, group_by="content_hash"))
    first: list[_Row] = []
    later: list[_Row] = []
    claimed: set[str] = set()
    for row in rows:
        if not row.linked:
            first.append(row)
        elif row.digest in originals:
            row.duplicate_of = originals[row.digest]
            first.append(row)
        elif row.digest in claimed:
            later.append(row)
        else:
            claimed.add(row.digest)
            first.append(row)
    json_of: dict[tuple[str, ...], str] = {(): "[]"}
    raced: list[_Row] = []
    for group in (first, later):
        if not group:
            continue
        if group is later:
            for row in group:
                row.duplicate_of = originals.get(row.digest)
        ids = await MENTION_INSERT.run_with_ids(conn, [_mention_tuple(codec, stamp, row, json_of) for row in group])
        for row, mention_id in zip(group, ids, strict=True):
            if mention_id is None:
                raced.append(row)
                continue
            row.mention_id = mention_id
            if row.linked:
                originals.setdefault(row.digest, mention_id)
            result.new_mentions.append(mention_id)
            if row.duplicate_of is not None:
                result.reposts += 1
            if row.match:
                pending.append(row)
    if not raced:
        return False
    known = await _stored(conn, codec, ((r.platform, r.external_id) for r in raced))
    for row in raced:
        result.duplicates += 1
        if row.match:
            row.mention_id, row.duplicate_of, row.contact_id = known[(row.platform, row.external_id)]
            pending.append(row)
    return True


def _terms_json(json_of: dict[tuple[str, ...], str], terms: tuple[str, ...]) -> str:
    found = json_of.get(terms)
    if found is None:
        found = json_of[terms] = json_text(list(terms))
    return found


def _mention_tuple(codec: Codec, stamp: Any, row: _Row, json_of: dict[tuple[str, ...], str]) -> tuple[Any, ...]:
    item = row.item
    posted = item.created_at
    if posted.tzinfo is None:
        posted = posted.replace(tzinfo=UTC)
    match = row.match
    return (
        row.platform,
        row.external_id,
        row.account_id,
        row.contact_id,
        row.text,
        item.url,
        row.language,
        codec.timestamp(posted),
        stamp,
        item.likes,
        item.reposts,
        item.replies,
        item.quotes,
        item.in_reply_to,
        item.quote_of,
        row.digest,
        row.duplicate_of,
        _terms_json(json_of, match.terms),
        _terms_json(json_of, match.competitors),
        "[]",
        json_text(item.raw),
    )


async def _matches_and_leads(
    conn: AsyncConnection,
    codec: Codec,
    stamp: Any,
    watch_id: int,
    opening: Opening,
    pending: list[_Row],
    recheck: bool,
    result: SaveResult,
) -> None:
    """Record this watch's matches, then open one lead per contact and watch, by an original post (a repost is
    linked, not a new lead)."""
    fresh = pending
    if recheck:  # some were stored before: this watch may have recorded them already
        already = {
            mention_id
            for (mention_id,) in await select_in(
                conn, *MATCHED, (watch_id,), "mention_id", [r.mention_id for r in pending]
            )
        }
        fresh = [row for row in pending if row.mention_id not in already]
    json_of: dict[tuple[str, ...], str] = {(): "[]"}
    await MATCH_INSERT.run(
        conn,
        [
            (
                row.mention_id,
                watch_id,
                _terms_json(json_of, row.match.terms),
                _terms_json(json_of, row.match.competitors),
                stamp,
            )
            for row in fresh
        ],
    )
    result.matched += len(fresh)
    result.matched_rows.extend(fresh)
    openers: dict[int, _Row] = {}
    for row in fresh:
        contact_id = row.contact_id
        if contact_id is not None and row.duplicate_of is None and contact_id not in openers:
            openers[contact_id] = row
    if not openers:
        return
    for (contact_id,) in await select_in(conn, *LEADS, (watch_id,), "contact_id", list(openers)):
        openers.pop(contact_id, None)
    if not openers:
        return
    pipeline_id, stage = opening.pipeline_id, opening.stage
    ids = await LEAD_INSERT.run_with_ids(
        conn,
        [
            (contact_id, watch_id, pipeline_id, row.platform, row.mention_id, stage, stamp, stamp, stamp)
            for contact_id, row in openers.items()
        ],
    )
    for (contact_id, row), lead_id in sorted(
        ((pair, i) for pair, i in zip(openers.items(), ids, strict=True) if i is not None), key=lambda p: p[1]
    ):
        result.new_leads.append(lead_id)
        result.opened.append(NewLead(lead_id, contact_id, watch_id, pipeline_id, stage, row.platform))


def _mention_matched(row: _Row, watch_id: int) -> dict[str, Any]:
    return {
        "mention_id": row.mention_id,
        "watch_id": watch_id,
        "platform": row.platform,
        "matched_terms": row.match.terms,  # tuples: JSON arrays all the same
        "matched_competitors": row.match.competitors,
    }
