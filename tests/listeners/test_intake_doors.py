"""Every door mentions come in by (CLI import, API import, webhook, polling) commits the batch before it enqueues
the analysis job: at the commit that stores the mentions no analysis job is queued yet, afterwards one is, and a
real worker then finds every row it names."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from redis import Redis
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.contacts.privacy import suppression_hash
from crm.db import make_sessionmaker
from crm.models import Mention, QuarantinedPayload, Suppression, Watch
from crm.queue import create_queue
from crm.settings import Settings
from listeners.jobs import poll_watch
from listeners.webhook import sign
from tests.conftest import Caller
from tests.listeners.builders import jsonl_record
from tests.listeners.test_listen_cli import crm_listen, write_jsonl
from tests.listeners.test_polling import FakeAlgolia, hn_settings, make_watch, recorded_hits

RECORDS = [jsonl_record("d-1", "Which crm do you use?"), jsonl_record("d-2", "any crm that isn't Salesforce?")]
Commit = tuple[int, int]  # mentions the committing transaction sees, analysis jobs queued at that moment


@pytest.fixture
def commits(settings: Settings) -> Iterator[list[Commit]]:
    """Every commit on any engine in this process (the CLI's and the app's too), as it happens."""
    redis = Redis.from_url(settings.redis_url)
    pattern = f"arq:job:{settings.queue_name}:analyse:mentions:*"
    seen: list[Commit] = []

    def on_commit(conn: Connection) -> None:
        mentions = conn.exec_driver_sql("SELECT count(*) FROM mention").scalar_one()
        seen.append((int(mentions), len(list(redis.scan_iter(match=pattern)))))

    event.listen(Engine, "commit", on_commit)
    try:
        yield seen
    finally:
        event.remove(Engine, "commit", on_commit)
        redis.close()


async def through_the_cli(settings: Settings, tmp_path: Path, **_: Any) -> None:
    assert (await crm_listen(settings, "watch", "create", "doors", "-k", "crm")).exit_code == 0
    imported = await crm_listen(settings, "import", str(write_jsonl(tmp_path / "m.jsonl", RECORDS)), "--watch", "doors")
    assert imported.exit_code == 0, imported.output


async def api_watch(client: AsyncTestClient[Any], admin: Caller) -> int:
    created = await client.post("/api/v1/watches", json={"name": "doors", "keywords": ["crm"]}, headers=admin.headers)
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


async def through_the_api(client: AsyncTestClient[Any], admin: Caller, **_: Any) -> None:
    watch_id = await api_watch(client, admin)
    body = "\n".join(json.dumps(r) for r in RECORDS)
    url = f"/api/v1/watches/{watch_id}/mentions/import"
    imported = await client.post(url, content=body, headers=admin.headers)
    assert imported.status_code == 200 and imported.json()["stored"] == 2, imported.text


async def through_the_webhook(client: AsyncTestClient[Any], admin: Caller, settings: Settings, **_: Any) -> None:
    watch_id = await api_watch(client, admin)
    body = json.dumps(RECORDS).encode()
    stamp = str(int(time.time()))
    secret = settings.webhook_secret.get_secret_value()
    headers = {"X-Warmline-Timestamp": stamp, "X-Warmline-Signature": sign(secret, stamp, watch_id, body)}
    pushed = await client.post(f"/api/v1/webhooks/mentions/{watch_id}", content=body, headers=headers)
    assert pushed.status_code == 200 and pushed.json()["stored"] == 2, pushed.text


async def through_polling(settings: Settings, engine: AsyncEngine, **_: Any) -> None:
    watch_id = await make_watch(engine)
    queue = await create_queue(settings)
    http = httpx.AsyncClient(transport=httpx.MockTransport(FakeAlgolia(recorded_hits())))
    ctx = {"settings": hn_settings(settings), "sessionmaker": make_sessionmaker(engine), "redis": queue, "http": http}
    try:
        report = await poll_watch(ctx, watch_id, "hackernews")
    finally:
        await http.aclose()
        await queue.aclose()
    assert report["errors"] == [] and report["stored"] == len(recorded_hits())


Door = Callable[..., Awaitable[None]]


@pytest.mark.parametrize("door", [through_the_cli, through_the_api, through_the_webhook, through_polling])
async def test_every_door_commits_the_batch_before_it_enqueues_the_analysis_job(
    door: Door,
    commits: list[Commit],
    settings: Settings,
    engine: AsyncEngine,
    client: AsyncTestClient[Any],
    admin: Caller,
    session: AsyncSession,
    tmp_path: Path,
    run_jobs: Callable[[], Awaitable[int]],
) -> None:
    await door(settings=settings, engine=engine, client=client, admin=admin, tmp_path=tmp_path)

    stored = list(await session.exec(select(Mention).order_by(col(Mention.id))))
    assert stored and all(m.sentiment is None for m in stored)
    batch_commit = next(seen for seen in commits if seen[0] > 0)
    assert batch_commit == (len(stored), 0)  # the rows went in with no analysis job queued yet
    redis = Redis.from_url(settings.redis_url)
    try:
        queued = [key.decode() for key in redis.scan_iter(match=f"arq:job:{settings.queue_name}:analyse:mentions:*")]
    finally:
        redis.close()
    ids = [m.id for m in stored]
    assert queued == [f"arq:job:{settings.queue_name}:analyse:mentions:{ids[0]}:{ids[-1]}:{len(ids)}"]

    await run_jobs()
    session.expire_all()
    analysed = list(await session.exec(select(Mention)))
    assert all(m.sentiment is not None for m in analysed)


async def test_a_replayed_quarantined_payload_goes_through_the_same_intake_suppression_and_analysis_included(
    commits: list[Commit],
    settings: Settings,
    session: AsyncSession,
    run_jobs: Callable[[], Awaitable[int]],
) -> None:
    assert (await crm_listen(settings, "watch", "create", "doors", "-k", "crm")).exit_code == 0
    watch = (await session.exec(select(Watch))).one()
    suppressed = jsonl_record("d-3", "which crm should we pick?", handle="gone")
    session.add(Suppression(kind="handle", value_hash=suppression_hash(settings, "handle", "file:gone")))
    session.add_all(
        QuarantinedPayload(source="file", watch_id=watch.id, reason="unknown platform", body=json.dumps(record))
        for record in [*RECORDS, suppressed]
    )
    await session.commit()
    commits.clear()

    replayed = await crm_listen(settings, "quarantine", "replay", "--all")
    assert replayed.exit_code == 0, replayed.output

    stored = list(await session.exec(select(Mention).order_by(col(Mention.id))))
    assert [m.external_id for m in stored] == ["d-1", "d-2"]  # the suppressed author's payload is not stored
    assert next(seen for seen in commits if seen[0] > 0) == (1, 0)  # one payload a batch, committed before its job
    await run_jobs()
    session.expire_all()
    assert all(m.sentiment is not None for m in await session.exec(select(Mention)))
    rows = list(await session.exec(select(QuarantinedPayload).order_by(col(QuarantinedPayload.id))))
    assert [row.status for row in rows] == ["replayed", "replayed", "replayed"]
