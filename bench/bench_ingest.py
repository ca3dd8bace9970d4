"""Mention ingestion: match -> normalise -> dedup -> store (`listeners.ingest.ingest`, batches of 1000, a commit per
batch, accounts, contacts, matches and leads included) against a raw bulk insert of the same mention rows
(prebuilt tuples through the driver's executemany, a commit per 1000), on SQLite and PostgreSQL, in the same run;
and against a ceiling: the very statements the path sent, captured from an untimed run and replayed verbatim.
Then memory: RSS growth while ingesting N and 10 N mentions streamed from a generator (SQLite).

BENCH_SCALE (default 1) scales every count: 1 means 10k mentions per throughput run and 5k vs 50k for memory
(about 3 minutes here); BENCH_SCALE=20 gives 100k vs 1M for memory.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.report import table

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
N_THROUGHPUT = int(10_000 * SCALE)
N_MEMORY = int(5_000 * SCALE)
PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
BATCH = 1000

NEEDS = ["a CRM", "an alternative to Salesforce", "a sales pipeline tool", "lead tracking", "an outreach tool"]
GRIPES = ["pricing is killing us", "support never answers", "the API keeps breaking", "it is too slow for our team"]
FILLER = ["what do you use", "any ideas", "asking for a friend", "we are a small team", "thanks in advance"]
OTHER = ["Lovely weather in Lisbon today", "Just shipped our new landing page", "Coffee first, then code"]


def mentions(n: int, seed: int = 7) -> Iterator[Any]:
    """A stream like a connector's: ~75% match the watch, 5% repost an earlier text, a third of authors repeat."""
    from listeners.base import Author, RawMention

    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    recent: list[str] = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.05 and recent:
            text = rng.choice(recent)
        elif roll < 0.8:
            text = (
                f"Looking for {rng.choice(NEEDS)}, {rng.choice(GRIPES)}. {rng.choice(FILLER)} #{rng.randint(1, 999)}"
                f" post {i}"
            )
        else:
            text = f"{rng.choice(OTHER)} ({i})"
        if len(recent) < 500:
            recent.append(text)
        handle = f"user{rng.randint(0, n // 3)}"
        yield RawMention(
            platform=rng.choice(("reddit", "bluesky", "mastodon")),
            external_id=f"post-{i}",
            text=text,
            url=f"https://example.org/p/{i}",
            created_at=start + timedelta(seconds=i),
            author=Author(handle=handle, display_name=handle.title(), followers=rng.randint(0, 50_000)),
            language="en" if rng.random() < 0.5 else None,
            likes=rng.randint(0, 40),
            raw={"id": f"post-{i}", "text": text, "author": {"handle": handle}},
        )


def _settings(url: str, data_dir: Path) -> Any:
    from crm.settings import Settings

    return Settings(_env_file=None, database_url=url, data_dir=data_dir, log_level="WARNING")  # type: ignore[call-arg]


def _pg_database() -> tuple[str, Any]:
    import psycopg

    name = f"bench_ingest_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return PG_URL.rsplit("/", 1)[0] + f"/{name}", drop


async def _watch(sessionmaker: Any) -> Any:
    from crm.db import session_scope
    from crm.models import Watch

    async with session_scope(sessionmaker) as session:
        watch = Watch(
            name=f"bench-{uuid.uuid4().hex[:6]}",
            keywords=["crm", "sales pipeline", "lead tracking", "outreach tool"],
            query="",
            competitors=[{"name": "Salesforce", "aliases": ["sfdc"], "handles": ["@salesforce"]}],
            excluded_terms=["hiring"],
        )
        session.add(watch)
        await session.flush()
        return watch


def _rows(n: int) -> list[tuple[Any, ...]]:
    """The mention rows the pipeline writes, as prebuilt driver tuples (JSON already encoded)."""
    import json

    from listeners.normalise import content_hash

    now = datetime.now(UTC)
    return [
        (
            m.platform,
            m.external_id,
            m.text,
            m.url,
            m.language or "en",
            m.created_at,
            now,
            m.likes,
            0,
            0,
            0,
            content_hash(m.text),
            json.dumps(["crm"]),
            "[]",
            "[]",
            json.dumps(m.raw),
        )
        for m in mentions(n, seed=11)
    ]


async def _raw_insert(engine: Any, rows: list[tuple[Any, ...]]) -> float:
    cols = "platform, external_id, text, url, language, posted_at, fetched_at, likes, reposts, replies, quotes, "
    cols += "content_hash, matched_terms, matched_competitors, score_reasons, raw"
    if engine.dialect.name == "sqlite":
        marks = ", ".join("?" for _ in range(16))
        stamp = "%Y-%m-%d %H:%M:%S.%f"
        rows = [(*r[:5], r[5].strftime(stamp), r[6].strftime(stamp), *r[7:]) for r in rows]
    else:
        marks = ", ".join(f"${i}" for i in range(1, 17))
    sql = f"INSERT INTO mention ({cols}) VALUES ({marks}) ON CONFLICT (platform, external_id) DO NOTHING"
    started = time.perf_counter()
    async with engine.begin() as conn:
        await conn.exec_driver_sql(sql, rows)
    return time.perf_counter() - started


# One transaction as the ingest path ran it: whether it committed, and its statements with their driver parameters.
Transaction = tuple[bool, list[tuple[str, Any]]]
COUNTED = ("mention", "lead", "contact", "platform_account", "mention_match", "change_log")


def _driver_params(parameters: Any, executemany: bool) -> Any:
    """The parameters as `exec_driver_sql` takes them again: a tuple (or dict) for one row, a list of them for
    executemany. Copied, so nothing the path does later can change them; only containers change, never values."""

    def one(row: Any) -> Any:
        return dict(row) if isinstance(row, Mapping) else tuple(row)

    if executemany:
        return [one(row) for row in list(parameters)]
    return one(parameters if parameters is not None else ())


async def _capture(engine: Any, sessionmaker: Any, watch: Any, items: list[Any]) -> list[list[Transaction]]:
    """Run the ingest path (untimed) batch by batch as the timed new-authors pass does, recording every statement
    it sends to the driver, cut into transactions at each commit or rollback."""
    from sqlalchemy import event

    from listeners.ingest import ingest

    statements: list[tuple[str, Any]] = []
    transactions: list[Transaction] = []

    def on_execute(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        statements.append((statement, _driver_params(parameters, executemany)))

    def end(committed: bool) -> None:
        if statements:
            transactions.append((committed, list(statements)))
            statements.clear()

    def on_commit(conn: Any) -> None:
        end(True)

    def on_rollback(conn: Any) -> None:
        end(False)

    hooks = (("before_cursor_execute", on_execute), ("commit", on_commit), ("rollback", on_rollback))
    for name, hook in hooks:
        event.listen(engine.sync_engine, name, hook)
    batches: list[list[Transaction]] = []
    try:
        for start in range(0, len(items), BATCH):
            await ingest(sessionmaker, None, watch, items[start : start + BATCH], source="bench")
            if statements:
                raise RuntimeError(f"capture: {len(statements)} statements ran outside a commit or rollback")
            batches.append(list(transactions))
            transactions.clear()
    finally:
        for name, hook in hooks:
            event.remove(engine.sync_engine, name, hook)
    return batches


async def _replay(engine: Any, transactions: list[Transaction]) -> float:
    """The captured statements again, verbatim, through the same driver: one engine transaction each."""
    started = time.perf_counter()
    for committed, statements in transactions:
        if committed:
            async with engine.begin() as conn:
                for statement, parameters in statements:
                    await conn.exec_driver_sql(statement, parameters)
        else:  # rolled back when captured: rolled back here too
            async with engine.connect() as conn:
                trans = await conn.begin()
                for statement, parameters in statements:
                    await conn.exec_driver_sql(statement, parameters)
                await trans.rollback()
    return time.perf_counter() - started


async def _counts(engine: Any) -> dict[str, int]:
    async with engine.connect() as conn:
        return {name: (await conn.exec_driver_sql(f"SELECT count(*) FROM {name}")).scalar_one() for name in COUNTED}


async def _throughput(url: str, label: str, work: Path) -> list[Any]:
    """The paths take turns batch by batch, so load from other work on the machine hits them alike.

    The ceiling: before the timed loop, the new-authors ingest runs once untimed on a database of its own
    ("capture") with every driver statement recorded; in the loop each batch's statements are replayed verbatim on
    another fresh database ("replay") that starts with the same rows, so the ids they draw and use line up.
    """
    from dataclasses import replace

    from crm.db import make_engine, make_sessionmaker
    from crm.ops.migrate import upgrade
    from listeners.ingest import IngestReport, ingest

    engines, drops = {}, []
    try:
        for kind in ("raw", "new", "known", "capture", "replay"):
            # Each path gets a fresh, migrated database so none inserts into another's indexes.
            if "postgresql" in url:
                fresh, drop = _pg_database()
                drops.append(drop)
                settings = _settings(fresh, work)
            else:
                settings = _settings(f"sqlite:///{work / f'{label}-{kind}.db'}", work)
            await asyncio.to_thread(upgrade, settings)
            engines[kind] = make_engine(settings)
        makers = {kind: make_sessionmaker(engine) for kind, engine in engines.items()}
        new_watch, known_watch = await _watch(makers["new"]), await _watch(makers["known"])
        capture_watch = await _watch(makers["capture"])
        await _watch(makers["replay"])  # the same rows as the capture database had before it ingested
        items = list(mentions(N_THROUGHPUT))
        captured = await _capture(engines["capture"], makers["capture"], capture_watch, items)
        # Known authors: a first, untimed pass stores every author; the timed pass brings new posts by them.
        await ingest(makers["known"], None, known_watch, items, source="bench", batch_size=BATCH)
        again = [replace(m, external_id=f"again-{m.external_id}", text=f"{m.text} (again)") for m in items]
        prepared = _rows(N_THROUGHPUT)
        seconds = {"raw": 0.0, "new": 0.0, "known": 0.0, "replay": 0.0}
        reports = {"new": IngestReport(), "known": IngestReport()}
        for start in range(0, N_THROUGHPUT, BATCH):
            seconds["raw"] += await _raw_insert(engines["raw"], prepared[start : start + BATCH])
            for kind, watch, source in (("new", new_watch, items), ("known", known_watch, again)):
                began = time.perf_counter()
                part = await ingest(makers[kind], None, watch, source[start : start + BATCH], source="bench")
                seconds[kind] += time.perf_counter() - began
                for name in ("stored", "duplicates", "matched", "new_leads", "quarantined", "reposts", "batches"):
                    setattr(reports[kind], name, getattr(reports[kind], name) + getattr(part, name))
            seconds["replay"] += await _replay(engines["replay"], captured[start // BATCH])
        expected, replayed = await _counts(engines["new"]), await _counts(engines["replay"])
        if replayed != expected:
            raise RuntimeError(
                f"{label}: the replayed statements left other rows than the ingest path ({replayed} against "
                f"{expected}), so the ceiling row would not measure the same writes"
            )
    finally:
        for engine in engines.values():
            await engine.dispose()
        for drop in drops:
            drop()
    return [
        (label, "raw bulk insert (driver executemany)", N_THROUGHPUT, N_THROUGHPUT / seconds["raw"]),
        (label, "Warmline ingest, new authors", N_THROUGHPUT, N_THROUGHPUT / seconds["new"], reports["new"]),
        (
            label,
            "the same statements replayed, no Python work (ceiling)",
            N_THROUGHPUT,
            N_THROUGHPUT / seconds["replay"],
        ),
        (
            label,
            "Warmline ingest, authors already known",
            N_THROUGHPUT,
            N_THROUGHPUT / seconds["known"],
            reports["known"],
        ),
    ]


FK_ROWS = 10_000
FK_SQL = (
    "CREATE TABLE fk_parent (id INTEGER PRIMARY KEY, name TEXT)",
    "CREATE TABLE fk_plain (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER, t TEXT)",
    "CREATE TABLE fk_child (id INTEGER PRIMARY KEY, a INTEGER REFERENCES fk_parent (id), "
    "b INTEGER REFERENCES fk_parent (id), t TEXT)",
    "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 5000) "
    "INSERT INTO fk_parent (id, name) SELECT x, 'parent' FROM g",
)


def _fk_insert(table: str, start: int) -> str:
    # Rows made by the database itself (no driver, no Python per row), parents spread over the whole parent table.
    return (
        f"WITH RECURSIVE g(x) AS (SELECT {start} UNION ALL SELECT x + 1 FROM g WHERE x < {start + FK_ROWS - 1}) "
        f"INSERT INTO {table} (id, a, b, t) SELECT x, x * 7919 % 5000 + 1, x * 104729 % 5000 + 1, "
        "'a mention-sized text, about as long as a short post on a social network' FROM g"
    )


async def _foreign_key_cost(url: str, label: str, work: Path) -> tuple[str, float, float, float]:
    """What a foreign-key check costs this database: the same rows inserted into a table without and with two
    foreign keys, twice each in turns, by plain SQL. Returns (label, us per row without, with, us per check)."""
    from crm.db import make_engine

    drop = None
    if "postgresql" in url:
        url, drop = _pg_database()
    else:
        url = f"sqlite:///{work / 'foreign-keys.db'}"
    engine = make_engine(_settings(url, work))
    seconds = {"fk_plain": 0.0, "fk_child": 0.0}
    try:
        async with engine.begin() as conn:
            for sql in FK_SQL:
                await conn.exec_driver_sql(sql)
        for turn in range(2):
            for table in seconds:
                started = time.perf_counter()
                async with engine.begin() as conn:
                    await conn.exec_driver_sql(_fk_insert(table, 1 + turn * FK_ROWS))
                seconds[table] += time.perf_counter() - started
    finally:
        await engine.dispose()
        if drop is not None:
            drop()
    plain, checked = (seconds[t] / (2 * FK_ROWS) * 1e6 for t in ("fk_plain", "fk_child"))
    return label, plain, checked, (checked - plain) / 2


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def _memory(n: int, work: Path) -> tuple[float, float, float]:
    from crm.db import make_engine, make_sessionmaker
    from crm.ops.migrate import upgrade
    from listeners.ingest import ingest

    settings = _settings(f"sqlite:///{work / f'memory-{n}.db'}", work)
    await asyncio.to_thread(upgrade, settings)
    engine = make_engine(settings)
    try:
        sessionmaker = make_sessionmaker(engine)
        watch = await _watch(sessionmaker)
        gc.collect()
        before = _rss_mb()
        peak = before

        def sampled() -> Iterator[Any]:
            nonlocal peak
            for i, item in enumerate(mentions(n, seed=3)):
                if i % BATCH == 0:
                    peak = max(peak, _rss_mb())
                yield item

        started = time.perf_counter()
        await ingest(sessionmaker, None, watch, sampled(), source="bench", batch_size=BATCH)
        seconds = time.perf_counter() - started
        return before, max(peak, _rss_mb()) - before, n / seconds
    finally:
        await engine.dispose()


def run() -> str:
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        results = asyncio.run(_throughput("sqlite", "SQLite", work))
        try:
            results += asyncio.run(_throughput(PG_URL, "PostgreSQL", work))
        except Exception as exc:  # no PostgreSQL here: say so in the table instead of failing the run
            results.append(("PostgreSQL", f"skipped: {type(exc).__name__}: {str(exc)[:80]}", 0, 0.0))
        keys = [asyncio.run(_foreign_key_cost("sqlite", "SQLite", work))]
        try:
            keys.append(asyncio.run(_foreign_key_cost(PG_URL, "PostgreSQL", work)))
        except Exception as exc:  # no PostgreSQL here
            keys.append(("PostgreSQL", float("nan"), float("nan"), float("nan")))
            print(f"foreign-key cost on PostgreSQL skipped: {type(exc).__name__}")
        small = asyncio.run(_memory(N_MEMORY, work))
        large = asyncio.run(_memory(N_MEMORY * 10, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows: list[list[Any]] = []
    raw_rate: dict[str, float] = {}
    for entry in results:
        label, what, n, rate = entry[:4]
        if what.startswith("raw"):
            raw_rate[label] = rate
        ratio = f"{rate / raw_rate[label]:.0%}" if label in raw_rate and rate and not what.startswith("raw") else "-"
        detail = ""
        if len(entry) > 4:
            r = entry[4]
            detail = f"{r.stored:,} stored, {r.reposts:,} reposts linked, {r.matched:,} matched, {r.new_leads:,} leads"
        rows.append([label, what, n, rate, ratio, detail])
    out = table(["database", "path", "mentions", "mentions/s", "vs raw insert", "what was written"], rows)
    memory = table(
        ["mentions streamed (SQLite)", "RSS before (MB)", "RSS growth (MB)", "mentions/s"],
        [[N_MEMORY, small[0], small[1], small[2]], [N_MEMORY * 10, large[0], large[1], large[2]]],
    )
    notes = (
        "Absolute rates move with whatever else the 2-core machine runs (the load average is under the table); "
        "the ratio to the raw insert measured in the same run is the figure to read. Sentiment (VADER) "
        "and lingua language detection are not on this path: the cheap stopword vote places most texts, lingua runs "
        "only for language-restricted watches on texts the vote cannot place, and `analyse_mentions` fills sentiment "
        "after commit. The ceiling row "
        "replays, transaction by transaction on a fresh database holding the same starting rows, exactly the "
        "statements and parameters the new-authors path sent (captured from an untimed run), through the same driver "
        "call as the raw row and with none of the path's Python: the database's own cost of exactly what the path "
        "writes, so it bounds what the path can reach with its current writes. Besides the mention row, those writes "
        "are: per new author an account, a contact and a first reach snapshot; per matched mention a match row; per "
        "new author who matched a lead (with the lead list's indexes); their change-log rows for sync consumers; a "
        "refresh of known authors' reach figures; and indexed lookups for deduplication and repost linking. Webhook "
        "events are written only for types some subscription receives (none here). The gap between the ceiling and "
        "the path is the path's Python: matching, normalising, hashing, row tuples and driver calls."
    )
    foreign_keys = table(
        [
            f"database ({FK_ROWS:,} rows by plain SQL)",
            "us per row, no foreign key",
            "us per row, two foreign keys",
            "us per foreign-key check",
        ],
        [list(k) for k in keys],
    )
    notes += (
        " The second table prices one foreign-key check on each database, in plain SQL with no driver or Python per"
        " row."
        " With new authors a mention brings about seven checks (mention: account and contact; match: mention and"
        " watch; lead, for about every second mention: contact, watch, pipeline and first mention; account: contact;"
        " snapshot: account); the raw insert of the mention row has none. The memory table here is a quick check at"
        " small counts, where warm-up (page cache, statement caches) still shows; flatness over 1M mentions is"
        " measured by `python -m bench bench_ingest_memory`."
    )
    return f"{out}\n\n{foreign_keys}\n\n{memory}\n\n{notes}"


if __name__ == "__main__":
    print(run())
