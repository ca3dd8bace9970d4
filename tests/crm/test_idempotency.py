from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from crm.access.auth import hash_api_key
from crm.access.idempotency import claim, fingerprint, purge_expired
from crm.db import make_sessionmaker, session_scope
from crm.models import ApiKey, IdempotencyRecord, Watch, utcnow
from crm.settings import Settings
from tests.conftest import Caller, make_caller

WATCH = {"name": "Idempotent watch", "keywords": ["crm"]}


def keyed(caller: Caller, key: str) -> dict[str, str]:
    return {**caller.headers, "Idempotency-Key": key}


async def watch_count(engine: AsyncEngine) -> int:
    async with session_scope(make_sessionmaker(engine)) as db:
        return len(list(await db.exec(select(Watch.id))))


async def test_the_same_key_and_body_replays_the_first_response_without_running_twice(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine
) -> None:
    first = await client.post("/api/v1/watches", json=WATCH, headers=keyed(admin, "k-1"))
    assert first.status_code == 201, first.text
    second = await client.post("/api/v1/watches", json=WATCH, headers=keyed(admin, "k-1"))
    assert second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["content-type"].startswith("application/json")
    assert await watch_count(engine) == 1


async def test_without_a_key_each_post_runs(client: AsyncTestClient[Any], admin: Caller) -> None:
    assert (await client.post("/api/v1/watches", json=WATCH, headers=admin.headers)).status_code == 201
    again = await client.post("/api/v1/watches", json=WATCH, headers=admin.headers)
    assert again.status_code == 422  # the handler ran again and refused the duplicate name


async def test_the_same_key_with_another_body_is_refused_with_422(client: AsyncTestClient[Any], admin: Caller) -> None:
    assert (await client.post("/api/v1/watches", json=WATCH, headers=keyed(admin, "k-2"))).status_code == 201
    other = await client.post("/api/v1/watches", json={**WATCH, "name": "Other"}, headers=keyed(admin, "k-2"))
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    assert "another request" in other.json()["detail"]


async def test_a_duplicate_arriving_while_the_first_runs_gets_409(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings, engine: AsyncEngine
) -> None:
    owner = hash_api_key(settings, admin.key)
    scope: Any = {"path": "/api/v1/watches", "query_string": b""}
    body = b'{"name":"Busy","keywords":["crm"]}'
    outcome, _ = await claim(make_sessionmaker(engine), owner, "k-3", fingerprint(scope, body), timedelta(hours=24))
    assert outcome == "new"  # an in-flight request holds the key
    busy = await client.post(
        "/api/v1/watches",
        content=body,
        headers={**keyed(admin, "k-3"), "content-type": "application/json"},
    )
    assert busy.status_code == 409
    assert busy.json()["status"] == 409


async def test_keys_belong_to_the_caller_and_expire_after_the_ttl(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings, engine: AsyncEngine
) -> None:
    other = await make_caller(settings, "other@example.com")
    assert (await client.post("/api/v1/watches", json=WATCH, headers=keyed(admin, "k-4"))).status_code == 201
    theirs = await client.post("/api/v1/watches", json={**WATCH, "name": "Theirs"}, headers=keyed(other, "k-4"))
    assert theirs.status_code == 201 and theirs.json()["name"] == "Theirs"

    async with session_scope(make_sessionmaker(engine)) as db:
        for row in await db.exec(select(IdempotencyRecord).where(col(IdempotencyRecord.key) == "k-4")):
            row.created_at = utcnow() - timedelta(hours=settings.idempotency_ttl_hours, minutes=1)
            db.add(row)
    rerun = await client.post("/api/v1/watches", json=WATCH, headers=keyed(admin, "k-4"))
    assert rerun.status_code == 422  # forgotten: the request ran again and hit the duplicate name
    assert "idempotent-replayed" not in rerun.headers


async def test_unauthenticated_posts_are_not_remembered(client: AsyncTestClient[Any], engine: AsyncEngine) -> None:
    response = await client.post(
        "/api/v1/watches", json=WATCH, headers={"Authorization": "Bearer wl_bad_key", "Idempotency-Key": "k-5"}
    )
    assert response.status_code == 401
    async with session_scope(make_sessionmaker(engine)) as db:
        assert list(await db.exec(select(IdempotencyRecord))) == []


async def test_a_revoked_key_cannot_replay_its_stored_answers(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine
) -> None:
    assert (await client.post("/api/v1/watches", json=WATCH, headers=keyed(admin, "k-6"))).status_code == 201
    async with session_scope(make_sessionmaker(engine)) as db:
        for key in await db.exec(select(ApiKey).where(ApiKey.user_id == admin.user.id)):
            key.revoked_at = utcnow()
            db.add(key)
    replay = await client.post("/api/v1/watches", json=WATCH, headers=keyed(admin, "k-6"))
    assert replay.status_code == 401


async def test_expired_records_are_purged(client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine) -> None:
    for n in range(2):
        assert (
            await client.post("/api/v1/watches", json={**WATCH, "name": f"w{n}"}, headers=keyed(admin, f"p-{n}"))
        ).status_code == 201
    async with session_scope(make_sessionmaker(engine)) as db:
        old = (await db.exec(select(IdempotencyRecord).where(IdempotencyRecord.key == "p-0"))).one()
        old.created_at = utcnow() - timedelta(days=2)
        db.add(old)
    async with make_sessionmaker(engine)() as db:
        await purge_expired(db, utcnow() - timedelta(hours=24))
        assert [r.key for r in await db.exec(select(IdempotencyRecord))] == ["p-1"]
