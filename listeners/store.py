"""Mention store: the bulk path from validated mentions to rows, a batch at a time.

Per batch: match and normalise in Python, then about a dozen set-wise statements (a few indexed SELECTs and
driver-level executemany INSERTs, see `bulk_insert`): find or create authors and their contacts, insert mentions
ON CONFLICT DO NOTHING (once per platform + external id; reposts linked to the first copy by content hash), record
the watch matches, open leads. Bad payloads go to quarantine with the reason; a batch the database refuses is
retried row by row, so one bad row never costs the others. Flushes, never commits: the caller commits, then
enqueues scoring for `new_leads`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import InterfaceError, OperationalError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.changelog import record_change
from crm.models import (
    Contact,
    Lead,
    Mention,
    MentionMatch,
    PlatformAccount,
    QuarantinedPayload,
    RoutingRule,
    Suppression,
    Watch,
    WebhookEvent,
    utcnow,
)
from crm.pipeline import default_pipeline
from crm.privacy import suppression_hash
from crm.routing import assign_new_lead
from crm.settings import Settings
from listeners.base import RawMention
from listeners.bulk_insert import BulkInsert, update_by_id
from listeners.intake import Rejected
from listeners.matching import NO_MATCH, Match, WatchMatcher
from listeners.normalise import (
    MIN_LINK_TOKENS,
    aware,
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
MAX_COUNT = 2**31 - 1
LIMITS = {"platform": 20, "external_id": 200, "url": 1000, "handle": 200}

# What a bad row can raise (bad data, a broken constraint, a value no processor takes), unlike a lost connection.
REFUSED = (StatementError, TypeError, ValueError)
UNAVAILABLE = (OperationalError, InterfaceError)
MENTION = Mention.__table__  # type: ignore[attr-defined]
ACCOUNT = PlatformAccount.__table__  # type: ignore[attr-defined]
CONTACT = Contact.__table__  # type: ignore[attr-defined]
LEAD = Lead.__table__  # type: ignore[attr-defined]
MATCH = MentionMatch.__table__  # type: ignore[attr-defined]
QUARANTINE = QuarantinedPayload.__table__  # type: ignore[attr-defined]


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
    lead_payloads: list[dict[str, Any]] = field(default_factory=list, repr=False)
    match_payloads: list[dict[str, Any]] = field(default_factory=list, repr=False)


@dataclass(slots=True)
class _Row:
    item: RawMention
    handle: str
    values: dict[str, Any]
    match: Match
    digest: str | None  # None: too short to link reposts by


def batched(items: Iterable[Any], size: int = BATCH_SIZE) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _raw_body(item: RawMention) -> str:
    try:
        return json.dumps(item.raw, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(item.raw)


def _problem(item: RawMention) -> str | None:
    """Why a mention cannot be stored as it is, checked before the database gets to refuse it."""
    for name, limit in LIMITS.items():
        value = item.author.handle if name == "handle" else getattr(item, name)
        if not isinstance(value, str):
            return f"{name} must be a string"
        if len(value) > limit:
            return f"{name} is longer than {limit} characters"
    if not item.external_id.strip() or not item.platform or not item.author.handle.strip():
        return "platform, id and author handle are required"
    for name in ("likes", "reposts", "replies", "quotes"):
        value = getattr(item, name)
        if not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
            return f"{name} must be a whole number between 0 and {MAX_COUNT}"
    return None


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
    pipeline_id = watch.pipeline_id or (await default_pipeline(session)).id
    assert pipeline_id is not None
    await session.flush()
    conn = await session.connection()
    result = SaveResult()
    if settings is not None:
        items = await _without_suppressed(session, settings, items, result)
    for chunk in batched(items, batch_size):
        try:
            async with conn.begin_nested():
                _merge(result, await _save_batch(conn, watch.id, pipeline_id, matcher, chunk, source))
        except REFUSED as refused:
            if isinstance(refused, UNAVAILABLE):
                raise
            # The database refused something the checks let through: keep every row it accepts.
            for item in chunk:
                try:
                    async with conn.begin_nested():
                        _merge(result, await _save_batch(conn, watch.id, pipeline_id, matcher, [item], source))
                except REFUSED as exc:
                    if isinstance(exc, UNAVAILABLE):
                        raise
                    body = _raw_body(item) if isinstance(item, RawMention) else item.body
                    cause = getattr(exc, "orig", None) or exc
                    reason = (
                        f"database refused it: {(str(cause).strip().splitlines() or [type(cause).__name__])[0][:500]}"
                    )
                    await conn.execute(sa.insert(QUARANTINE), [_quarantine_row(source, reason, body, watch.id)])
                    result.quarantined += 1
    # Core statements bypass the ORM's change tracking: tell the sync log, and route the new leads.
    for contact_id in result.new_contacts:
        record_change(session, "contact", contact_id, "create")
    for lead_id in result.new_leads:
        record_change(session, "lead", lead_id, "create")
    # The webhook outbox too: its ORM-level lead.created hook does not see Core inserts (same rows `emit` writes).
    now = utcnow()
    await EVENT_INSERT.run(
        conn,
        [{"type": "lead.created", "payload": payload, "created_at": now} for payload in result.lead_payloads]
        + [{"type": "mention.matched", "payload": payload, "created_at": now} for payload in result.match_payloads],
    )
    if result.new_leads and await _routing_rules_exist(session):
        for lead_id in result.new_leads:
            lead = await session.get(Lead, lead_id)
            if lead is not None:
                await assign_new_lead(session, lead)
    return result


async def _without_suppressed(
    session: AsyncSession, settings: Settings, items: Iterable[RawMention | Rejected], result: SaveResult
) -> Iterable[RawMention | Rejected]:
    """Drop mentions by people who were erased or opted out: storing them again would undo the erasure."""
    hashes = set(
        (await session.exec(select(Suppression.value_hash).where(col(Suppression.kind).in_(SUPPRESSED_KINDS)))).all()
    )
    if not hashes:
        return items

    def kept() -> Iterator[RawMention | Rejected]:
        for item in items:
            if isinstance(item, RawMention):
                author = item.author
                keys = [suppression_hash(settings, "handle", f"{item.platform}:{author.handle}")]
                if author.external_id:
                    keys.append(suppression_hash(settings, "account_id", f"{item.platform}:{author.external_id}"))
                if any(key in hashes for key in keys):
                    result.suppressed += 1
                    continue
            yield item

    return kept()


SUPPRESSED_KINDS = ("handle", "account_id")


async def _routing_rules_exist(session: AsyncSession) -> bool:
    found = await session.exec(select(col(RoutingRule.id)).where(col(RoutingRule.active).is_(True)).limit(1))
    return found.first() is not None


def _merge(total: SaveResult, part: SaveResult) -> None:
    total.new_mentions.extend(part.new_mentions)
    total.new_leads.extend(part.new_leads)
    total.duplicates += part.duplicates
    total.matched += part.matched
    total.quarantined += part.quarantined
    total.reposts += part.reposts
    total.new_contacts.extend(part.new_contacts)
    total.lead_payloads.extend(part.lead_payloads)
    total.match_payloads.extend(part.match_payloads)


def _quarantine_row(source: str, reason: str, body: str, watch_id: int) -> dict[str, Any]:
    return {
        "source": source[:40],
        "watch_id": watch_id,
        "reason": reason,
        "body": body,
        "status": "open",
        "created_at": utcnow(),
        "replayed_at": None,
    }


def _prepare(
    items: Sequence[RawMention | Rejected], matcher: WatchMatcher, source: str, watch_id: int, result: SaveResult
) -> tuple[list[_Row], list[dict[str, Any]]]:
    rows: list[_Row] = []
    bad: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    now = utcnow()
    for item in items:
        if isinstance(item, Rejected):
            bad.append(_quarantine_row(source, f"line {item.line}: {item.reason}", item.body, watch_id))
            continue
        problem = _problem(item)
        if problem is not None:
            bad.append(_quarantine_row(source, problem, _raw_body(item), watch_id))
            continue
        key = (item.platform, item.external_id)
        if key in seen:
            result.duplicates += 1
            continue
        seen.add(key)
        text = clean_text(item.text)
        tokens = tokenize(text)
        language = item.language.lower()[:10] if item.language else guess_language(tokens)
        handle = item.author.handle.strip().lstrip("@").lower()
        match: Match = NO_MATCH
        if not matcher.excludes(author=handle, language=language, platform=item.platform):
            match = matcher.match_tokens(tokens)
            if match and language is None and matcher.languages:
                # Only a language-restricted watch pays for lingua, and only for texts it would keep.
                language = detect_language(text)
                if matcher.excludes(language=language):
                    match = NO_MATCH
        linked = hash_tokens(text, tokens)
        digest = content_hash_of(linked)
        rows.append(
            _Row(
                item=item,
                handle=handle,
                match=match,
                digest=digest if len(linked) >= MIN_LINK_TOKENS else None,
                values={
                    "platform": item.platform,
                    "external_id": item.external_id,
                    "account_id": None,
                    "contact_id": None,
                    "text": text,
                    "url": item.url,
                    "language": language,
                    "posted_at": aware(item.created_at),
                    "fetched_at": now,
                    "likes": item.likes,
                    "reposts": item.reposts,
                    "replies": item.replies,
                    "quotes": item.quotes,
                    "in_reply_to": item.in_reply_to,
                    "quote_of": item.quote_of,
                    "sentiment": None,
                    "content_hash": digest,
                    "duplicate_of_id": None,
                    "matched_terms": list(match.terms),
                    "matched_competitors": list(match.competitors),
                    "score": None,
                    "score_reasons": [],
                    "raw": item.raw,
                },
            )
        )
    return rows, bad


REFRESHED = ("display_name", "bio", "profile_url", "external_id", "followers", "following", "posts_count")
FLAGS = ("verified", "dm_open")
ACCOUNT_INSERT = BulkInsert(ACCOUNT, ["platform", "handle"])
MENTION_INSERT = BulkInsert(MENTION, ["platform", "external_id"])
MATCH_INSERT = BulkInsert(MATCH, ["mention_id", "watch_id"])
LEAD_INSERT = BulkInsert(LEAD, ["contact_id", "watch_id"])
CONTACT_INSERT = BulkInsert(CONTACT)
EVENT_INSERT = BulkInsert(WebhookEvent.__table__)  # type: ignore[attr-defined]


def _by_platform(keys: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for platform, value in keys:
        grouped.setdefault(platform, []).append(value)
    return grouped


async def _accounts(
    conn: AsyncConnection, rows: list[_Row], result: SaveResult
) -> dict[tuple[str, str], tuple[int, int]]:
    """(platform, handle) -> (account id, contact id); new authors get an account and a contact, known ones have
    their reach figures refreshed when they changed."""
    now = utcnow()
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        a = row.item.author
        latest[(row.item.platform, row.handle)] = {
            "platform": row.item.platform,
            "handle": row.handle,
            "external_id": a.external_id,
            "contact_id": None,
            "display_name": (a.display_name or "")[:200],
            "bio": a.bio or "",
            "profile_url": (a.profile_url or "")[:500],
            "followers": a.followers,
            "following": a.following,
            "posts_count": a.posts_count,
            "verified": a.verified,
            "dm_open": a.dm_open,
            "account_created_at": a.account_created_at,
            "created_at": now,
            "updated_at": now,
        }
    table = ACCOUNT.c
    fields = [table[name] for name in (*REFRESHED, *FLAGS)]
    accounts: dict[tuple[str, str], tuple[int, int]] = {}
    changes: list[dict[str, Any]] = []
    unlinked: list[tuple[str, str]] = []
    for platform, handles in _by_platform(latest).items():
        found = await conn.execute(
            sa.select(table.id, table.handle, table.contact_id, *fields).where(
                table.platform == platform, table.handle.in_(handles)
            )
        )
        for account_id, handle, contact_id, *current in found:
            key = (platform, handle)
            if contact_id is None:
                unlinked.append(key)
            else:
                accounts[key] = (account_id, contact_id)
            given = latest[key]
            wanted = {
                name: given[name] if given[name] not in (None, "") else old
                for name, old in zip(REFRESHED, current, strict=False)
            }
            wanted.update({name: given[name] for name in FLAGS})
            if list(wanted.values()) != current:
                changes.append({"id": account_id, **wanted, "updated_at": now})
    await update_by_id(conn, ACCOUNT, [*REFRESHED, *FLAGS, "updated_at"], changes)
    fresh = [key for key in latest if key not in accounts and key not in unlinked]
    if not fresh and not unlinked:
        return accounts
    needing = [*fresh, *unlinked]
    contact_rows = [
        {"display_name": latest[key]["display_name"] or key[1][:200], "created_at": now, "updated_at": now}
        for key in needing
    ]
    created = await CONTACT_INSERT.run_returning_ids(conn, contact_rows)
    contact_of = dict(zip(needing, created, strict=True))
    await ACCOUNT_INSERT.run(conn, [{**latest[key], "contact_id": contact_of[key]} for key in fresh])
    if unlinked:
        await conn.execute(
            sa.update(ACCOUNT)
            .where(table.platform == sa.bindparam("p"), table.handle == sa.bindparam("h"), table.contact_id.is_(None))
            .values(contact_id=sa.bindparam("c")),
            [{"p": p, "h": h, "c": contact_of[(p, h)]} for p, h in unlinked],
        )
    orphans = set(contact_of.values())
    for platform, handles in _by_platform(needing).items():
        found = await conn.execute(
            sa.select(table.id, table.handle, table.contact_id).where(
                table.platform == platform, table.handle.in_(handles)
            )
        )
        for account_id, handle, contact_id in found:
            accounts[(platform, handle)] = (account_id, contact_id)
            if contact_of.get((platform, handle)) == contact_id:
                orphans.discard(contact_id)
                result.new_contacts.append(contact_id)
    if orphans:  # another writer created the same author first: its contact stands, ours goes
        await conn.execute(sa.delete(CONTACT).where(CONTACT.c.id.in_(orphans)))
    return accounts


async def _ids(
    conn: AsyncConnection, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, int | None, str, int | None]]:
    """(platform, external id) -> (mention id, duplicate_of_id, content hash, contact id) for the stored ones."""
    table = MENTION.c
    stored: dict[tuple[str, str], tuple[int, int | None, str, int | None]] = {}
    for platform, external_ids in _by_platform(keys).items():
        found = await conn.execute(
            sa.select(table.external_id, table.id, table.duplicate_of_id, table.content_hash, table.contact_id).where(
                table.platform == platform, table.external_id.in_(external_ids)
            )
        )
        for external_id, mention_id, duplicate_of, digest, contact_id in found:
            stored[(platform, external_id)] = (mention_id, duplicate_of, digest, contact_id)
    return stored


async def _save_batch(
    conn: AsyncConnection,
    watch_id: int,
    pipeline_id: int,
    matcher: WatchMatcher,
    items: Sequence[RawMention | Rejected],
    source: str,
) -> SaveResult:
    result = SaveResult()
    rows, bad = _prepare(items, matcher, source, watch_id, result)
    if bad:
        await conn.execute(sa.insert(QUARANTINE), bad)
        result.quarantined += len(bad)
    if not rows:
        return result
    known = await _ids(conn, ((r.item.platform, r.item.external_id) for r in rows))
    pending: list[tuple[_Row, int]] = []  # matched rows whose mention exists, with its id
    new_rows: list[_Row] = []
    for row in rows:
        stored = known.get((row.item.platform, row.item.external_id))
        if stored is None:
            new_rows.append(row)
            continue
        result.duplicates += 1
        if row.match:  # stored before (by another watch or an earlier run): this watch still records its match
            row.values["duplicate_of_id"], row.values["contact_id"] = stored[1], stored[3]
            pending.append((row, stored[0]))
    if new_rows:
        accounts = await _accounts(conn, new_rows, result)
        for row in new_rows:
            row.values["account_id"], row.values["contact_id"] = accounts[(row.item.platform, row.handle)]
        await _insert_mentions(conn, new_rows, pending, result)

    if not pending:
        return result
    already: set[int] = set()
    if known:
        found = await conn.execute(
            sa.select(MATCH.c.mention_id).where(
                MATCH.c.watch_id == watch_id, MATCH.c.mention_id.in_([i for _, i in pending])
            )
        )
        already = {mention_id for (mention_id,) in found}
    now = utcnow()
    fresh = [(row, mention_id) for row, mention_id in pending if mention_id not in already]
    await MATCH_INSERT.run(
        conn,
        [
            {
                "mention_id": mention_id,
                "watch_id": watch_id,
                "matched_terms": list(row.match.terms),
                "matched_competitors": list(row.match.competitors),
                "created_at": now,
            }
            for row, mention_id in fresh
        ],
    )
    result.matched += len(fresh)
    result.match_payloads.extend(
        {
            "mention_id": mention_id,
            "watch_id": watch_id,
            "platform": row.item.platform,
            "matched_terms": list(row.match.terms),
            "matched_competitors": list(row.match.competitors),
        }
        for row, mention_id in fresh
    )

    # One lead per contact and watch, opened by an original post; a repost is linked, not a new lead.
    lead_rows: dict[int, dict[str, Any]] = {}
    for row, mention_id in fresh:
        contact_id = row.values["contact_id"]
        if contact_id is not None and row.values["duplicate_of_id"] is None and contact_id not in lead_rows:
            lead_rows[contact_id] = {
                "contact_id": contact_id,
                "watch_id": watch_id,
                "pipeline_id": pipeline_id,
                "platform": row.item.platform,
                "first_mention_id": mention_id,
                "stage": "new",
                "created_at": now,
                "updated_at": now,
                "last_activity_at": now,
            }
    if not lead_rows:
        return result
    lead = LEAD.c
    found = await conn.execute(
        sa.select(lead.contact_id).where(lead.watch_id == watch_id, lead.contact_id.in_(list(lead_rows)))
    )
    for (contact_id,) in found:
        lead_rows.pop(contact_id, None)
    if lead_rows:
        await LEAD_INSERT.run(conn, list(lead_rows.values()))
        opened = await conn.execute(
            sa.select(lead.id, lead.contact_id).where(
                lead.watch_id == watch_id,
                lead.contact_id.in_(list(lead_rows)),
                lead.first_mention_id.in_([r["first_mention_id"] for r in lead_rows.values()]),
            )
        )
        for lead_id, contact_id in sorted(opened):
            given = lead_rows[contact_id]
            result.new_leads.append(lead_id)
            result.lead_payloads.append(
                {
                    "lead_id": lead_id,
                    "contact_id": contact_id,
                    "watch_id": watch_id,
                    "pipeline_id": pipeline_id,
                    "stage": given["stage"],
                    "owner_id": None,
                    "platform": given["platform"],
                    "score": None,
                }
            )
    return result


async def _insert_mentions(
    conn: AsyncConnection, rows: list[_Row], pending: list[tuple[_Row, int]], result: SaveResult
) -> None:
    """Insert new mentions; the first copy of a text (already stored, or first in this batch) is the original."""
    digests = list({row.digest for row in rows if row.digest is not None})
    originals: dict[str, int] = {}
    if digests:
        found = await conn.execute(
            sa.select(MENTION.c.content_hash, sa.func.min(MENTION.c.id))
            .where(MENTION.c.content_hash.in_(digests))
            .group_by(MENTION.c.content_hash)
        )
        originals = {digest: mention_id for digest, mention_id in found}
    first: list[_Row] = []
    later: list[_Row] = []
    claimed: set[str] = set()
    for row in rows:
        digest = row.digest
        if digest is None or digest in originals:
            row.values["duplicate_of_id"] = originals.get(digest) if digest else None
            first.append(row)
        elif digest in claimed:
            later.append(row)
        else:
            claimed.add(digest)
            first.append(row)
    for group in (first, later):
        if not group:
            continue
        if group is later:
            for row in group:
                row.values["duplicate_of_id"] = originals.get(row.values["content_hash"])
        await MENTION_INSERT.run(conn, [row.values for row in group])
        stored = await _ids(conn, ((r.item.platform, r.item.external_id) for r in group))
        for row in group:
            mention_id, _, digest, _ = stored[(row.item.platform, row.item.external_id)]
            originals.setdefault(digest, mention_id)
            result.new_mentions.append(mention_id)
            if row.values["duplicate_of_id"] is not None:
                result.reposts += 1
            if row.match:
                pending.append((row, mention_id))
