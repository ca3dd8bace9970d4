"""`crm listen ...`: import mention files, create watches, preview queries, list and replay the quarantine.

Registered by the CLI composition root; like the rest of the CLI, every expected failure is one line on stderr
and exit code 1.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from arq.connections import ArqRedis
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.db import SessionMaker, make_engine, make_sessionmaker, session_scope
from crm.errors import InvalidInput, NotFound
from crm.models import QuarantinedPayload, User, Watch, utcnow
from crm.ops.cli_errors import UserError, friendly, load_settings
from crm.ops.preflight import check_database, check_redis
from crm.ops.progress import shown, task, track
from crm.queue import create_queue
from crm.settings import Settings
from listeners.base import PayloadError, RawMention
from listeners.ingest import (
    IngestReport,
    InProcess,
    enqueue_unscored,
    ingest,
    ingest_batch,
    score_unscored_here,
)
from listeners.intake import Rejected, mention_from_body, read_csv, read_jsonl
from listeners.matching import WatchMatcher
from listeners.preview import preview as run_preview
from listeners.query import QueryError

F = TypeVar("F", bound=Callable[..., Any])


_friendly = friendly(also=(QueryError, PayloadError))
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document instead of text (for scripts)."
)


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[SessionMaker]:
    await check_database(settings)
    engine = make_engine(settings)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


@asynccontextmanager
async def _queue(settings: Settings) -> AsyncIterator[ArqRedis | None]:
    if not settings.redis_url:
        yield None
        return
    await check_redis(settings.redis_url)
    queue = await create_queue(settings)
    try:
        yield queue
    finally:
        await queue.aclose()


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coroutine)


async def _watch_named(session: AsyncSession, name: str) -> Watch:
    watch = (await session.exec(select(Watch).where(Watch.name == name, col(Watch.deleted_at).is_(None)))).first()
    if watch is None:
        raise NotFound(f"no watch named {name!r} (see `crm listen watch list`)")
    return watch


def _echo_report(report: IngestReport) -> None:
    click.echo(
        f"stored {report.stored}, duplicates {report.duplicates}, reposts {report.reposts}, "
        f"matched {report.matched}, new leads {report.new_leads}, quarantined {report.quarantined}, "
        f"suppressed (erased or opted out) {report.suppressed}"
    )


@click.group()
def listen() -> None:
    """Listening: watches, mention import, query preview, quarantine."""


# ----------------------------------------------------------------------------- import


def _read(path: Path, fmt: str, stream: io.TextIOBase) -> Iterator[RawMention | Rejected]:
    chosen = fmt if fmt != "auto" else ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    reader = read_csv(stream) if chosen == "csv" else read_jsonl(stream)
    items = (item for _, item in reader)
    if not shown():
        return items
    # Lines are a close enough total for the bar (a CSV header or a quoted newline is one line off).
    with path.open("rb") as counting:
        lines = sum(1 for _ in counting) - (1 if chosen == "csv" else 0)
    return track(items, f"importing {path.name}", total=max(lines, 0))


@listen.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--watch", "watch_name", required=True, help="Name of the watch the mentions are for.")
@click.option("--format", "fmt", type=click.Choice(["auto", "jsonl", "csv"]), default="auto", show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=1000, show_default=True)
@json_option
@_friendly
def import_file(path: Path, watch_name: str, fmt: str, batch_size: int, as_json: bool) -> None:
    """Import mentions from a JSONL or CSV file; safe to re-run (known mentions are skipped).

    --json prints the report as one object: received, stored, duplicates, reposts, matched, new_leads,
    quarantined, quarantine_reasons ({reason: count}), suppressed, batches, scored (in this process) and queued
    (for the worker)."""
    settings = load_settings()

    async def run() -> tuple[IngestReport, int]:
        async with _database(settings) as sessionmaker, _queue(settings) as queue:
            async with session_scope(sessionmaker) as session:
                watch = await _watch_named(session, watch_name)
            with path.open(encoding="utf-8", newline="") as stream:
                report = await ingest(
                    sessionmaker,
                    queue,
                    watch,
                    _read(path, fmt, stream),
                    source="file",
                    batch_size=batch_size,
                    settings=settings,
                    in_process=queue is None,
                )
            assert watch.id is not None
            if queue is not None:
                async with session_scope(sessionmaker) as session:
                    return report, await enqueue_unscored(session, queue, watch.id)
            # No queue to hand the work to: leads left unscored by an earlier run are scored here too.
            with task("scoring the new leads"):
                return report, await score_unscored_here(sessionmaker, watch.id)

    report, pending = _run(run())
    if as_json:
        scored_here = report.scored + pending if not settings.redis_url else report.scored
        queued = pending if settings.redis_url else 0
        click.echo(json.dumps({**report.counts(), "scored": scored_here, "queued": queued}))
        return
    _echo_report(report)
    if not settings.redis_url:
        scored = report.scored + pending
        click.echo(f"scored {scored} lead{'s' if scored != 1 else ''} in this process (CRM_REDIS_URL is not set)")
    elif pending:
        click.echo(f"{pending} lead{'s are' if pending != 1 else ' is'} queued for scoring")


# ----------------------------------------------------------------------------- watches


@listen.group()
def watch() -> None:
    """Watches (listening campaigns)."""


def _competitor(spec: str) -> dict[str, Any]:
    """NAME[:alias,alias[:@handle,@handle]]"""
    parts = spec.split(":")
    if not parts[0].strip() or len(parts) > 3:
        raise InvalidInput(f"--competitor {spec!r}: expected NAME[:ALIAS,ALIAS[:@HANDLE,@HANDLE]]")
    listed = [[v.strip() for v in p.split(",") if v.strip()] for p in parts[1:]] + [[], []]
    return {"name": parts[0].strip(), "aliases": listed[0], "handles": listed[1]}


@watch.command("create")
@click.argument("name")
@click.option("--keyword", "-k", "keywords", multiple=True, help="A keyword or phrase (repeat).")
@click.option("--query", "-q", default="", help='Boolean query: AND OR NOT "phrases" (groups) NEAR/n.')
@click.option("--competitor", "-c", "competitors", multiple=True, help="NAME[:alias,alias[:@handle,@handle]].")
@click.option("--exclude", "excluded_terms", multiple=True, help="A term that rules a post out (repeat).")
@click.option("--exclude-author", "excluded_authors", multiple=True, help="A handle to ignore (repeat).")
@click.option("--language", "languages", multiple=True, help="ISO 639-1 code to keep (repeat; none = all).")
@click.option("--platform", "platforms", multiple=True, help="Platform to listen on (repeat; none = all).")
@click.option("--owner", default=None, help="Email of the owning user.")
@click.option("--description", default="")
@_friendly
def watch_create(
    name: str,
    keywords: tuple[str, ...],
    query: str,
    competitors: tuple[str, ...],
    excluded_terms: tuple[str, ...],
    excluded_authors: tuple[str, ...],
    languages: tuple[str, ...],
    platforms: tuple[str, ...],
    owner: str | None,
    description: str,
) -> None:
    """Create a watch; the query is checked first and a mistake is reported with its position."""
    fields: dict[str, Any] = {
        "name": name.strip(),
        "description": description,
        "keywords": [k.strip() for k in keywords if k.strip()],
        "query": query,
        "competitors": [_competitor(c) for c in competitors],
        "excluded_terms": list(excluded_terms),
        "excluded_authors": list(excluded_authors),
        "languages": [code.lower() for code in languages],
        "platforms": [p.lower() for p in platforms],
    }
    try:
        WatchMatcher(**{k: v for k, v in fields.items() if k not in ("name", "description")})
    except QueryError as exc:
        raise UserError(f"query: {exc}") from None
    if not fields["keywords"] and not query.strip() and not fields["competitors"]:
        raise InvalidInput("a watch needs at least one --keyword, --competitor or a --query")
    settings = load_settings()

    async def run() -> int:
        async with _database(settings) as sessionmaker, session_scope(sessionmaker) as session:
            if (await session.exec(select(Watch.id).where(Watch.name == fields["name"]))).first() is not None:
                raise InvalidInput(f"a watch named {fields['name']!r} already exists")
            if owner:
                user = (await session.exec(select(User).where(User.email == owner.lower()))).first()
                if user is None:
                    raise NotFound(f"no user with email {owner}")
                fields["owner_id"] = user.id
            created = Watch(**fields)
            session.add(created)
            await session.flush()
            assert created.id is not None
            return created.id

    click.echo(f"watch {_run(run())} created: {fields['name']}")


@watch.command("list")
@json_option
@_friendly
def watch_list(as_json: bool) -> None:
    """List watches (--json: a list of {id, name, active, keywords, query, platforms, competitors})."""
    settings = load_settings()

    async def run() -> list[Watch]:
        async with _database(settings) as sessionmaker, session_scope(sessionmaker) as session:
            return list(await session.exec(select(Watch).order_by(col(Watch.id))))

    found_watches = _run(run())
    if as_json:
        fields = ("id", "name", "active", "keywords", "query", "platforms", "competitors", "languages")
        click.echo(json.dumps([{k: getattr(w, k) for k in fields} for w in found_watches]))
        return
    for found in found_watches:
        terms = ", ".join(found.keywords) or "-"
        click.echo(f"{found.id}\t{found.name}\tkeywords: {terms}\tquery: {found.query or '-'}")


# ----------------------------------------------------------------------------- preview


@listen.command("preview")
@click.option("--watch", "watch_name", default=None, help="Preview this watch (its query unless --query is given).")
@click.option("--query", "-q", default=None, help="The query to try.")
@click.option("--keyword", "-k", "keywords", multiple=True, help="Keywords to try (repeat).")
@click.option(
    "--scan", type=click.IntRange(1, 100_000), default=5000, show_default=True, help="Newest mentions to scan."
)
@click.option("--limit", type=click.IntRange(0, 1000), default=20, show_default=True, help="Matches to print.")
@json_option
@_friendly
def preview_query(
    watch_name: str | None, query: str | None, keywords: tuple[str, ...], scan: int, limit: int, as_json: bool
) -> None:
    """Run a query against stored mentions and show what it would match (--json: {scanned, matched, hits})."""
    if watch_name is None and query is None and not keywords:
        raise InvalidInput("give --watch, --query or --keyword")
    settings = load_settings()

    async def run() -> Any:
        async with _database(settings) as sessionmaker, session_scope(sessionmaker) as session:
            base: dict[str, Any] = {}
            if watch_name is not None:
                found = await _watch_named(session, watch_name)
                base = {
                    "keywords": found.keywords,
                    "query": found.query,
                    "competitors": found.competitors,
                    "excluded_terms": found.excluded_terms,
                    "excluded_authors": found.excluded_authors,
                    "languages": found.languages,
                    "platforms": found.platforms,
                }
            if query is not None:
                base["query"] = query
            if keywords:
                base["keywords"] = list(keywords)
            return await run_preview(session, WatchMatcher(**base), scan=scan, limit=limit)

    result = _run(run())
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(result), default=str))
        return
    click.echo(f"{result.matched} of {result.scanned} mentions match")
    for hit in result.hits:
        why = ", ".join([*hit.terms, *hit.competitors])
        text = " ".join(hit.text.split())
        click.echo(f"#{hit.mention_id} {hit.platform} @{hit.handle} [{why}] {text[:160]}")


# ----------------------------------------------------------------------------- quarantine


@listen.group()
def quarantine() -> None:
    """Payloads that could not be stored: list, replay, discard."""


@quarantine.command("list")
@click.option(
    "--status", type=click.Choice(["open", "replayed", "discarded", "all"]), default="open", show_default=True
)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@json_option
@_friendly
def quarantine_list(status: str, limit: int, as_json: bool) -> None:
    """List quarantined payloads, newest first (--json: a list of {id, status, source, watch_id, reason,
    created_at}; an empty list when nothing is quarantined)."""
    settings = load_settings()

    async def run() -> list[QuarantinedPayload]:
        async with _database(settings) as sessionmaker, session_scope(sessionmaker) as session:
            query = select(QuarantinedPayload).order_by(col(QuarantinedPayload.id).desc()).limit(limit)
            if status != "all":
                query = query.where(QuarantinedPayload.status == status)
            return list(await session.exec(query))

    rows = _run(run())
    if as_json:
        fields = ("id", "status", "source", "watch_id", "reason", "created_at")
        click.echo(json.dumps([{k: getattr(row, k, None) for k in fields} for row in rows], default=str))
        return
    for row in rows:
        click.echo(f"{row.id}\t{row.status}\t{row.source}\twatch {row.watch_id or '-'}\t{row.reason}")
    if not rows:
        click.echo("nothing quarantined")


async def replay(
    session: AsyncSession,
    ids: list[int] | None,
    *,
    queue: ArqRedis | None,
    here: InProcess | None,
    settings: Settings,
    watch_override: Watch | None = None,
    on_done: Callable[[], None] | None = None,
) -> tuple[int, int]:
    """Validate and store quarantined payloads again, each as a batch of one through the intake every door uses
    (suppression, commit, then the scoring and analysis jobs): (replayed, still bad)."""
    query = select(QuarantinedPayload).where(QuarantinedPayload.status == "open").order_by(col(QuarantinedPayload.id))
    if ids:
        query = query.where(col(QuarantinedPayload.id).in_(ids))
    replayed, still_bad = 0, 0
    watches: dict[int, Watch] = {}
    for row in list(await session.exec(query)):
        if on_done is not None:
            on_done()
        target = watch_override
        if target is None and row.watch_id is not None:
            target = watches.get(row.watch_id) or await session.get(Watch, row.watch_id)
        if target is None or target.id is None:
            still_bad += 1
            continue
        watches[target.id] = target
        try:
            item = mention_from_body(row.body)
        except PayloadError as exc:
            row.reason = f"replay: {exc}"
            session.add(row)
            await session.commit()
            still_bad += 1
            continue

        async def done(batch: AsyncSession, row: QuarantinedPayload = row) -> None:
            # In the batch's transaction: the payload is replayed exactly when its mention is stored. One refused
            # again is quarantined afresh with the new reason, so this row is done either way.
            row.status = "replayed"
            row.replayed_at = utcnow()
            batch.add(row)

        report = await ingest_batch(
            session,
            target,
            [item],
            source=f"replay:{row.source}"[:40],
            queue=queue,
            here=here,
            settings=settings,
            before_commit=done,
        )
        if report.quarantined:
            still_bad += 1
        else:
            replayed += 1
    return replayed, still_bad


@quarantine.command("replay")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "everything", is_flag=True, help="Replay every open payload.")
@click.option("--watch", "watch_name", default=None, help="Store into this watch instead of the original one.")
@json_option
@_friendly
def quarantine_replay(ids: tuple[int, ...], everything: bool, watch_name: str | None, as_json: bool) -> None:
    """Validate quarantined payloads again (after fixing their cause) and store the ones that pass.

    --json prints {replayed, still_failing}."""
    if not ids and not everything:
        raise InvalidInput("name the payload ids to replay, or pass --all")
    settings = load_settings()

    async def run() -> tuple[int, int]:
        async with (
            _database(settings) as sessionmaker,
            _queue(settings) as queue,
            session_scope(sessionmaker) as session,
        ):
            override = await _watch_named(session, watch_name) if watch_name else None
            with task("replaying quarantined payloads") as tracker:
                return await replay(
                    session,
                    list(ids) or None,
                    queue=queue,
                    here=None if queue is not None else InProcess(sessionmaker),
                    settings=settings,
                    watch_override=override,
                    on_done=tracker.advance,
                )

    replayed, still_bad = _run(run())
    if as_json:
        click.echo(json.dumps({"replayed": replayed, "still_failing": still_bad}))
    else:
        click.echo(f"replayed {replayed}, still failing {still_bad}")


@quarantine.command("discard")
@click.argument("ids", nargs=-1, type=int, required=True)
@json_option
@_friendly
def quarantine_discard(ids: tuple[int, ...], as_json: bool) -> None:
    """Mark quarantined payloads as discarded (kept for the record, never replayed); --json: {discarded}."""
    settings = load_settings()

    async def run() -> int:
        async with _database(settings) as sessionmaker, session_scope(sessionmaker) as session:
            rows = list(await session.exec(select(QuarantinedPayload).where(col(QuarantinedPayload.id).in_(ids))))
            for row in rows:
                row.status = "discarded"
                session.add(row)
            return len(rows)

    discarded = _run(run())
    click.echo(json.dumps({"discarded": discarded}) if as_json else f"discarded {discarded}")
