"""Test harness: every database test runs on SQLite + embedded Valkey and, when CRM_TEST_DATABASE_URL and
CRM_TEST_REDIS_URL are set, on PostgreSQL + Redis too. Each run makes its own throwaway database and its own
queue namespace, and removes them afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from redis import Redis
from sqlalchemy import delete
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access.auth import create_api_key, create_user
from crm.db import make_engine, make_sessionmaker, session_scope
from crm.integrations.hooks import install as install_session_hooks
from crm.models import Role, User
from crm.ops.embedded import embedded_valkey
from crm.ops.migrate import upgrade
from crm.pipeline import DEFAULT_PIPELINE, DEFAULT_STAGES, create_pipeline
from crm.settings import Settings

if TYPE_CHECKING:
    from litestar.testing import AsyncTestClient

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass(frozen=True)
class Backend:
    name: str
    database_url: str
    redis_url: str


def _backend_params() -> list[Any]:
    params = [pytest.param("sqlite", id="sqlite")]
    if os.environ.get("CRM_TEST_DATABASE_URL"):
        params.append(pytest.param("postgresql", id="postgresql"))
    return params


@pytest.fixture(scope="session", autouse=True)
def session_hooks() -> None:
    """The change log and outbox hooks, as every composition root installs them (crm.integrations.hooks)."""
    install_session_hooks()


@pytest.fixture(scope="session")
def valkey_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with embedded_valkey(tmp_path_factory.mktemp("valkey")) as url:
        yield url


def _create_pg_database(base_url: str) -> tuple[str, Callable[[], None]]:
    import psycopg

    url = make_url(base_url)
    name = f"warmline_test_{uuid.uuid4().hex[:12]}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url.set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture(scope="session", params=_backend_params())
def backend(
    request: pytest.FixtureRequest, valkey_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "warmline.db"
        chosen = Backend("sqlite", f"sqlite:///{path}", valkey_url)
        upgrade(Settings(database_url=chosen.database_url, _env_file=None))  # type: ignore[call-arg]
        yield chosen
        return
    database_url, drop = _create_pg_database(os.environ["CRM_TEST_DATABASE_URL"])
    try:
        chosen = Backend("postgresql", database_url, os.environ.get("CRM_TEST_REDIS_URL") or valkey_url)
        upgrade(Settings(database_url=chosen.database_url, _env_file=None))  # type: ignore[call-arg]
        yield chosen
    finally:
        drop()


async def reset_database(engine: AsyncEngine) -> None:
    """Empty every table and put the seeded default pipeline back, so each test starts from a migrated DB."""
    async with engine.begin() as connection:
        for table in reversed(SQLModel.metadata.sorted_tables):
            await connection.execute(delete(table))
    async with session_scope(make_sessionmaker(engine)) as session:
        await create_pipeline(session, DEFAULT_PIPELINE, list(DEFAULT_STAGES), is_default=True)


def _forget_queue(redis_url: str, queue_name: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"*{queue_name}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
async def settings(backend: Backend, tmp_path: Path) -> AsyncIterator[Settings]:
    queue_name = f"wltest-{uuid.uuid4().hex[:10]}"
    configured = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=backend.database_url,
        redis_url=backend.redis_url,
        queue_name=queue_name,
        data_dir=tmp_path,
        secret_key="test-secret-key-0123456789abcdef",
        webhook_secret="test-webhook-secret",
        webhook_allow_private_targets=True,  # the tests' receivers listen on 127.0.0.1
        log_level="WARNING",
        worker_poll_delay=0.01,
        listener_polling=False,  # no per-minute poll scheduler in test workers; polling tests enable it
    )
    yield configured
    engine = make_engine(configured)
    try:
        await reset_database(engine)
    finally:
        await engine.dispose()
    _forget_queue(backend.redis_url, queue_name)


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    created = make_engine(settings)
    yield created
    await created.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with make_sessionmaker(engine)() as opened:
        yield opened


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    # Imported here: the app loads litestar, every controller and scikit-learn (seconds), which a test that never
    # asks for a client should not pay for at collection.
    from litestar.testing import AsyncTestClient

    from crm.app import create_app

    async with AsyncTestClient(app=create_app(settings)) as test_client:
        yield test_client


@dataclass
class Caller:
    user: User
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def make_caller(settings: Settings, email: str, role: Role = Role.ADMIN, team_id: int | None = None) -> Caller:
    engine = make_engine(settings)
    try:
        async with session_scope(make_sessionmaker(engine)) as db:
            created = await create_user(db, email, role=role, name=email.split("@")[0], team_id=team_id)
            key = await create_api_key(db, settings, created, "test")
        return Caller(created, key.plaintext)
    finally:
        await engine.dispose()


@pytest.fixture
async def admin(settings: Settings) -> Caller:
    return await make_caller(settings, "admin@example.com", Role.ADMIN)


@pytest.fixture
def run_jobs(settings: Settings) -> Callable[[], Awaitable[int]]:
    """Drain the queue with a real arq worker in burst mode; returns how many jobs completed."""

    # Imported here: the worker loads every job module and scikit-learn (seconds); only tests that drain pay.
    from crm.worker import create_worker

    async def drain() -> int:
        # No cron jobs: a drain counts the jobs a test enqueued, and a cron due on the wall clock (the hourly webhook
        # prune at minute 41, say) would otherwise run in the middle of whichever test happens to be draining.
        worker = create_worker(settings, burst=True, handle_signals=False, poll_delay=0.01, cron_jobs=[])
        try:
            await worker.main()
            return int(worker.jobs_complete)
        finally:
            await worker.close()

    return drain
