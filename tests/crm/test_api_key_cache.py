"""API keys are verified against the database at most every AUTH_CACHE_SECONDS per process; what that may delay."""

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

import crm.access.auth
from crm.access.auth import authenticate_key, forget_verified_keys
from crm.db import make_sessionmaker
from crm.models import ApiKey, User, utcnow
from crm.settings import Settings
from tests.conftest import Caller


async def change_elsewhere(engine: AsyncEngine, statement: Any) -> None:
    """A change made by another process (a second web process, the CLI): a plain UPDATE this process never sees."""
    async with engine.begin() as connection:
        await connection.execute(statement)


async def test_a_key_revoked_in_another_process_stops_working_within_the_cache_bound(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(crm.access.auth, "AUTH_CACHE_SECONDS", 0.5)
    assert (await client.get("/api/v1/leads", headers=admin.headers)).status_code == 200
    await change_elsewhere(
        engine, update(ApiKey).where(col(ApiKey.user_id) == admin.user.id).values(revoked_at=utcnow())
    )
    still = await client.get("/api/v1/leads", headers=admin.headers)
    assert still.status_code == 200  # remembered: this is the documented delay
    await asyncio.sleep(0.6)
    assert (await client.get("/api/v1/leads", headers=admin.headers)).status_code == 401


async def test_the_cache_bound_is_five_seconds_at_most() -> None:
    assert 0 < crm.access.auth.AUTH_CACHE_SECONDS <= 5


async def test_a_user_disabled_in_another_process_is_refused_once_the_bound_has_passed(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(crm.access.auth, "AUTH_CACHE_SECONDS", 0.5)
    assert (await client.get("/api/v1/users/me", headers=admin.headers)).status_code == 200
    await change_elsewhere(engine, update(User).where(col(User.id) == admin.user.id).values(is_active=False))
    await asyncio.sleep(0.6)
    assert (await client.get("/api/v1/users/me", headers=admin.headers)).status_code == 401


async def test_a_key_revoked_through_the_api_is_refused_on_the_next_request(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    minted = await client.post("/api/v1/api-keys", json={"name": "short-lived"}, headers=admin.headers)
    headers = {"Authorization": f"Bearer {minted.json()['key']}"}
    assert (await client.get("/api/v1/leads", headers=headers)).status_code == 200
    revoked = await client.delete(f"/api/v1/api-keys/{minted.json()['id']}", headers=admin.headers)
    assert revoked.status_code == 204
    assert (await client.get("/api/v1/leads", headers=headers)).status_code == 401


async def test_a_remembered_read_only_key_still_cannot_write(client: AsyncTestClient[Any], admin: Caller) -> None:
    minted = await client.post("/api/v1/api-keys", json={"name": "ro", "scopes": ["read"]}, headers=admin.headers)
    headers = {"Authorization": f"Bearer {minted.json()['key']}"}
    assert (await client.get("/api/v1/leads", headers=headers)).status_code == 200
    refused = await client.post("/api/v1/contacts", json={"display_name": "x"}, headers=headers)
    assert refused.status_code == 403


async def test_last_used_is_recorded_at_most_once_a_minute(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine
) -> None:
    async def last_used() -> Any:
        async with make_sessionmaker(engine)() as db:
            return (await db.exec(select(ApiKey.last_used_at).where(ApiKey.user_id == admin.user.id))).one()

    async def call_afresh() -> None:
        forget_verified_keys()  # as when the cache entry has expired
        assert (await client.get("/api/v1/leads", headers=admin.headers)).status_code == 200

    await call_afresh()
    first = await last_used()
    assert first is not None and utcnow() - first < timedelta(minutes=1)

    recent = utcnow() - timedelta(seconds=30)
    await change_elsewhere(
        engine, update(ApiKey).where(col(ApiKey.user_id) == admin.user.id).values(last_used_at=recent)
    )
    await call_afresh()
    assert await last_used() == recent

    stale = utcnow() - timedelta(minutes=2)
    await change_elsewhere(
        engine, update(ApiKey).where(col(ApiKey.user_id) == admin.user.id).values(last_used_at=stale)
    )
    await call_afresh()
    assert await last_used() > stale


async def test_requests_that_find_their_key_expired_together_share_one_lookup(
    settings: Settings, engine: AsyncEngine, admin: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups = 0
    verify = crm.access.auth._verify

    async def counted(*args: Any) -> Any:
        nonlocal lookups
        lookups += 1
        await asyncio.sleep(0.05)  # the lookup is still under way when the other requests arrive
        return await verify(*args)

    monkeypatch.setattr(crm.access.auth, "_verify", counted)
    forget_verified_keys()
    callers = await asyncio.gather(*(authenticate_key(engine, settings, admin.key) for _ in range(8)))
    assert {user.id for user, _ in callers} == {admin.user.id}
    assert len({id(user) for user, _ in callers}) == 8  # still one snapshot per request
    assert lookups == 1


async def test_a_lookup_that_overlaps_a_revocation_is_not_remembered(
    client: AsyncTestClient[Any], admin: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    verify = crm.access.auth._verify

    async def revoked_meanwhile(*args: Any) -> Any:
        found = await verify(*args)
        forget_verified_keys()  # what a revocation committed in this process does while the lookup runs
        return found

    monkeypatch.setattr(crm.access.auth, "_verify", revoked_meanwhile)
    forget_verified_keys()
    assert (await client.get("/api/v1/leads", headers=admin.headers)).status_code == 200
    assert crm.access.auth._verified == {}  # the next request looks the key up again
