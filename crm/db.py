"""Engine and sessions; jobs and the CLI use `session_scope`.

Importing it changes nothing about what a flush or a commit does: the change log and outbox hooks are installed by
the composition roots (crm.integrations.hooks.install).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.settings import Settings

SessionMaker = async_sessionmaker[AsyncSession]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the web and the worker read while one of them writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()


def make_engine(settings: Settings, **overrides: Any) -> AsyncEngine:
    """One engine per process; SQLite files get their folder created and sane pragmas."""
    url = settings.resolved_database_url
    # No pool_pre_ping: it costs a round trip on every checkout. Connections are recycled before server or proxy
    # idle timeouts, and a connection the server dropped anyway is invalidated on first use (the whole pool with
    # it); that request gets a 503 with Retry-After (crm.http.problems), or is retried where the read is safe to repeat.
    kwargs: dict[str, Any] = {"pool_recycle": 1800}
    if settings.is_sqlite:
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs = {"connect_args": {"timeout": 15}}
    else:
        kwargs.update(pool_size=settings.db_pool_size, max_overflow=settings.db_pool_size)
    kwargs.update(overrides)
    engine = create_async_engine(url, **kwargs)
    if settings.is_sqlite:
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> SessionMaker:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def session_scope(sessionmaker: SessionMaker) -> AsyncIterator[AsyncSession]:
    """A unit of work for jobs and the CLI: commit on success, roll back on error."""
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException as exc:
            await roll_back(session, exc)
            raise


async def roll_back(session: AsyncSession, error: BaseException | None = None) -> None:
    """Undo the unit of work; then write what a refusal must leave behind (`WarmlineError.kept`, e.g. its audit
    row) in a transaction of its own. After the rollback, so on SQLite it never waits on the refused write's lock."""
    await session.rollback()
    kept = getattr(error, "kept", None)
    if kept is None:
        return
    try:
        kept(session)
        await session.commit()
    except Exception:  # the refusal still reaches the caller; its record failing must not replace it
        await session.rollback()
        structlog.get_logger(__name__).exception("refusal_record_failed")


async def begin_writing(conn: AsyncConnection) -> None:
    """On SQLite, open the write transaction now if none is open; elsewhere a no-op.

    Python's sqlite3 driver sends BEGIN only before its first INSERT, UPDATE or DELETE. A SAVEPOINT issued before
    that starts the transaction itself, and SQLite commits when that outermost savepoint is released: a rollback
    of the surrounding unit of work would then keep the savepoint's rows. Code that writes inside `begin_nested`
    calls this first. BEGIN IMMEDIATE takes the write lock up front (waiting out busy_timeout), so the transaction
    never has to upgrade a read snapshot another writer has moved past.
    """
    if conn.dialect.name != "sqlite":
        return
    raw = await conn.get_raw_connection()
    if not raw.driver_connection.in_transaction:  # type: ignore[union-attr]
        await conn.exec_driver_sql("BEGIN IMMEDIATE")
