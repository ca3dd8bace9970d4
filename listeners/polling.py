"""Poll one watch on one platform: per source, read the cursor, fetch pages, and hand each page to
`ingest_batch`, which saves its mentions and the advanced cursor in one transaction, commits, then enqueues the
follow-up jobs (scoring, analysis).

A crash between pages loses nothing and repeats nothing: the cursor only ever describes committed pages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import structlog
from arq.connections import ArqRedis
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.db import SessionMaker, session_scope
from crm.models import ListenerCursor, Mention, PlatformAccount, QuarantinedPayload, Watch, utcnow
from crm.settings import Settings
from listeners.base import RawMention
from listeners.ingest import IngestReport, ingest_batch
from listeners.platforms import get_client
from listeners.platforms.connector import Connector, Item, Page
from listeners.platforms.http import BadResponse, NotConfigured, PlatformError, PlatformHttp, RateLimited, RetryPolicy

log = structlog.get_logger(__name__)
CURSOR = ListenerCursor.__table__  # type: ignore[attr-defined]
QUARANTINED_RESPONSE = "the platform's response could not be read"


@dataclass
class PollReport:
    watch_id: int
    platform: str
    sources: int = 0
    pages: int = 0
    erased: int = 0
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    skipped: str = ""
    intake: IngestReport = field(default_factory=IngestReport)  # the pages' batches, added up

    @property
    def stored(self) -> int:
        return self.intake.stored

    @property
    def duplicates(self) -> int:
        return self.intake.duplicates

    @property
    def quarantined(self) -> int:
        return self.intake.quarantined

    @property
    def new_leads(self) -> list[int]:
        return self.intake.lead_ids

    def as_dict(self) -> dict[str, Any]:
        return {
            "watch_id": self.watch_id,
            "platform": self.platform,
            "sources": self.sources,
            "pages": self.pages,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "erased": self.erased,
            "requests": self.requests,
            "new_leads": list(self.new_leads),
            "errors": list(self.errors),
            "skipped": self.skipped,
        }


def connector_name(platform: str, settings: Settings) -> str:
    """The connector behind a watch's platform name (Bluesky is read by search or from the firehose)."""
    return "jetstream" if platform == "bluesky" and settings.bluesky_firehose else platform


def build_connector(client: httpx.AsyncClient, settings: Settings, platform: str, **http: Any) -> Connector:
    policy = RetryPolicy(max_retries=settings.listener_max_retries, max_wait=settings.listener_max_wait_seconds)
    name = connector_name(platform, settings)
    return get_client(name, PlatformHttp(client, name, policy=policy, **http), settings)


async def read_cursor(session: AsyncSession, watch_id: int, platform: str, source: str) -> ListenerCursor | None:
    found = await session.exec(
        select(ListenerCursor).where(
            col(ListenerCursor.watch_id) == watch_id,
            col(ListenerCursor.platform) == platform,
            col(ListenerCursor.source) == source,
        )
    )
    return found.first()


async def write_cursor(
    session: AsyncSession, watch_id: int, platform: str, source: str, cursor: str, state: dict[str, Any]
) -> None:
    """Upsert, so two polls that overlap (a cron tick and a manual run) cannot fail on the unique key."""
    conn = await session.connection()
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    values = {"cursor": cursor[:500], "state": state, "updated_at": utcnow()}
    statement = (
        insert(CURSOR)
        .values(watch_id=watch_id, platform=platform, source=source, **values)
        .on_conflict_do_update(index_elements=["watch_id", "platform", "source"], set_=values)
    )
    await conn.execute(statement)


async def erase_deleted(session: AsyncSession, platform: str, external_ids: list[str]) -> int:
    """A post its author deleted keeps its row (leads point at it) but loses its words, link and payload."""
    if not external_ids:
        return 0
    rows = await session.exec(
        select(Mention).where(col(Mention.platform) == platform, col(Mention.external_id).in_(external_ids))
    )
    erased = 0
    for mention in rows:
        mention.text, mention.url, mention.raw = "", "", {"deleted": True}
        session.add(mention)
        erased += 1
    return erased


async def key_authors_by_did(session: AsyncSession, items: list[Item]) -> list[Item]:
    """Bluesky authors are one account per DID, whatever handle a page shows (accounts are stored by handle).

    A post whose handle could not be resolved (the DID stands in) joins the account already known for that DID; a
    resolved handle that differs from the stored one (a handle change, or a row created under the DID) renames it.
    """
    dids = {
        i.author.external_id
        for i in items
        if isinstance(i, RawMention) and i.platform == "bluesky" and (i.author.external_id or "").startswith("did:")
    }
    if not dids:
        return items
    found = await session.exec(
        select(PlatformAccount)
        .where(col(PlatformAccount.platform) == "bluesky", col(PlatformAccount.external_id).in_(dids))
        .order_by(col(PlatformAccount.id))
    )
    by_did: dict[str, PlatformAccount] = {}
    for account in found:
        by_did.setdefault(account.external_id or "", account)
    out: list[Item] = []
    for item in items:
        known = by_did.get(item.author.external_id or "") if isinstance(item, RawMention) else None
        if isinstance(item, RawMention) and known is not None:
            handle = item.author.handle.strip().lstrip("@").lower()
            if handle == item.author.external_id and known.handle != handle:
                # Unresolved this time: keep the stored handle (and its profile link).
                item = replace(item, author=replace(item.author, handle=known.handle, profile_url=""))
            elif handle != known.handle and not await _handle_taken(session, handle):
                known.handle = handle
                session.add(known)
                await session.flush()
        out.append(item)
    return out


async def _handle_taken(session: AsyncSession, handle: str) -> bool:
    taken = await session.exec(
        select(PlatformAccount.id).where(
            col(PlatformAccount.platform) == "bluesky", col(PlatformAccount.handle) == handle
        )
    )
    return taken.first() is not None


# SQLite allows one writer, and a transaction that reads before it writes fails at once ("database is locked")
# rather than waiting; polls running side by side in one worker take turns to write instead.
_sqlite_writes = asyncio.Lock()
SQLITE_LOCKED_RETRIES = 5


async def _save_page(
    sessionmaker: SessionMaker,
    queue: ArqRedis | None,
    watch_id: int,
    connector: Connector,
    source: str,
    page: Page,
    report: PollReport,
) -> None:
    if not connector.settings.is_sqlite:
        await _save_page_now(sessionmaker, queue, watch_id, connector, source, page, report)
        return
    async with _sqlite_writes:
        for attempt in range(SQLITE_LOCKED_RETRIES):
            try:
                await _save_page_now(sessionmaker, queue, watch_id, connector, source, page, report)
                return
            except OperationalError as exc:
                # Other jobs (scoring) write too; the page rolled back whole, so saving it again is safe.
                if "locked" not in str(exc) or attempt == SQLITE_LOCKED_RETRIES - 1:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


async def _save_page_now(
    sessionmaker: SessionMaker,
    queue: ArqRedis | None,
    watch_id: int,
    connector: Connector,
    source: str,
    page: Page,
    report: PollReport,
) -> None:
    erased = 0

    async def with_cursor(session: AsyncSession) -> None:
        nonlocal erased
        erased = await erase_deleted(session, connector.platform, page.deleted)
        # Same transaction, after the mentions: the cursor can never run ahead of what was stored.
        await write_cursor(session, watch_id, connector.name, source, page.cursor, page.state)

    async with session_scope(sessionmaker) as session:
        watch = await session.get(Watch, watch_id)
        if watch is None:
            raise NotConfigured(f"watch {watch_id} was deleted during the poll")
        items = await key_authors_by_did(session, page.items)
        batch = await ingest_batch(
            session,
            watch,
            items,
            source=connector.name,
            queue=queue,
            settings=connector.settings,
            before_commit=with_cursor,
        )
    report.pages += 1
    report.erased += erased
    report.intake.add(batch)


async def _quarantine_body(
    sessionmaker: SessionMaker, watch_id: int, source: str, exc: BadResponse, report: PollReport
) -> None:
    async with session_scope(sessionmaker) as session:
        session.add(QuarantinedPayload(source=source[:40], watch_id=watch_id, reason=str(exc), body=exc.body))
    report.intake.quarantine(QUARANTINED_RESPONSE)


async def poll(
    sessionmaker: SessionMaker,
    client: httpx.AsyncClient,
    settings: Settings,
    watch_id: int,
    platform: str,
    *,
    queue: ArqRedis | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> PollReport:
    """One poll of a watch on a platform; platform trouble is reported, never raised, so the job ends cleanly.

    Each page's follow-up jobs go to `queue` once the page is committed; with none (tests, previews), none are."""
    report = PollReport(watch_id, platform)
    async with session_scope(sessionmaker) as session:
        watch = await session.get(Watch, watch_id)
    if watch is None or not watch.active:
        report.skipped = "the watch is inactive or gone"
        return report
    try:
        connector = build_connector(client, settings, platform, sleep=sleep)
    except NotConfigured as exc:
        report.skipped = str(exc)
        return report
    try:
        sources = connector.sources(watch)
    except ValueError as exc:  # a query saved before today's parser rules: report it rather than fail the job
        report.errors.append(f"the watch's query cannot be searched: {exc}")
        return report
    for source in sources:
        report.sources += 1
        async with session_scope(sessionmaker) as session:
            row = await read_cursor(session, watch_id, connector.name, source)
        cursor, state = (row.cursor, dict(row.state)) if row else ("", {})
        pages = 0
        try:
            async with aclosing(connector.pages(watch, source, cursor, state)) as stream:
                async for page in stream:
                    await _save_page(sessionmaker, queue, watch_id, connector, source, page, report)
                    # Live pages (a stream bounded by time or events) do not count; a finished walk may go on to one.
                    pages += 0 if page.live else 1
                    if pages >= settings.listener_max_pages and not page.done and not page.live:
                        break  # the page's state lets the next poll carry on from here
        except RateLimited as exc:
            report.errors.append(str(exc))
            break  # the whole platform is throttled: leave the other sources for the next poll
        except BadResponse as exc:
            report.errors.append(str(exc))
            if exc.body:
                await _quarantine_body(sessionmaker, watch_id, connector.name, exc, report)
        except PlatformError as exc:
            report.errors.append(str(exc))
    report.requests = connector.http.requests
    log.info(
        "listener.poll", **{k: v for k, v in report.as_dict().items() if k != "new_leads"}, leads=len(report.new_leads)
    )
    return report
