from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

import crm.http.ratelimit
from crm.errors import RateLimited
from crm.http.ratelimit import spend
from crm.models import ApiKey
from crm.settings import Settings
from tests.conftest import Caller


async def test_responses_carry_the_keys_quota_headers(client: AsyncTestClient[Any], admin: Caller) -> None:
    first = await client.get("/api/v1/leads", headers=admin.headers)
    second = await client.get("/api/v1/leads", headers=admin.headers)
    assert first.headers["ratelimit-limit"] == "600" == first.headers["x-ratelimit-limit"]
    assert int(first.headers["ratelimit-remaining"]) - int(second.headers["ratelimit-remaining"]) == 1
    assert 1 <= int(first.headers["ratelimit-reset"]) <= 60
    missing = await client.get("/api/v1/leads/999999", headers=admin.headers)
    assert missing.status_code == 404 and "ratelimit-remaining" in missing.headers


async def test_a_key_over_its_limit_gets_429_with_retry_after(client: AsyncTestClient[Any], admin: Caller) -> None:
    created = await client.post(
        "/api/v1/api-keys", json={"name": "tight", "rate_limit_per_minute": 3}, headers=admin.headers
    )
    headers = {"Authorization": f"Bearer {created.json()['key']}"}
    statuses: list[int] = []
    while 429 not in statuses and len(statuses) < 8:  # a minute boundary mid-test resets the window once
        refused = await client.get("/api/v1/leads", headers=headers)
        statuses.append(refused.status_code)
    assert statuses[-1] == 429 and statuses[:3] == [200, 200, 200]
    assert refused.json()["type"] == "urn:warmline:problem:rate-limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["ratelimit-remaining"] == "0"
    other = await client.get("/api/v1/leads", headers=admin.headers)
    assert other.status_code == 200  # limits are per key


async def test_the_window_is_counted_in_redis_and_resets_each_minute(settings: Settings) -> None:
    redis = Redis.from_url(settings.redis_url)
    key = ApiKey(id=424242, user_id=1, name="k", prefix="p", key_hash="h", rate_limit_per_minute=2)
    try:
        start = 6_000_000.0  # the first second of a window
        assert (await spend(redis, settings.queue_name, key, now=start)).remaining == 1
        assert (await spend(redis, settings.queue_name, key, now=start + 30)).remaining == 0
        with pytest.raises(RateLimited) as refused:
            await spend(redis, settings.queue_name, key, now=start + 59)
        assert refused.value.headers["Retry-After"] == "1"
        assert (await spend(redis, settings.queue_name, key, now=start + 60)).remaining == 1
    finally:
        await redis.aclose()


async def test_a_windows_counter_expires_on_its_own(settings: Settings) -> None:
    redis = Redis.from_url(settings.redis_url)
    key = ApiKey(id=434343, user_id=1, name="k", prefix="p", key_hash="h", rate_limit_per_minute=5)
    try:
        now = 6_000_000.0
        await spend(redis, settings.queue_name, key, now=now)
        await spend(redis, settings.queue_name, key, now=now + 1)
        counter = f"{settings.queue_name}:ratelimit:{key.id}:{int(now // 60)}"
        assert int(await redis.get(counter)) == 2
        assert 60 < await redis.ttl(counter) <= 120  # set once, by the first request of the window
    finally:
        await redis.aclose()


async def test_a_busy_key_takes_its_counts_from_redis_in_leases(settings: Settings) -> None:
    redis = Redis.from_url(settings.redis_url)
    key = ApiKey(id=454545, user_id=1, name="k", prefix="p", key_hash="h", rate_limit_per_minute=500)  # lease of 5
    try:
        now = 6_000_000.0
        remaining = [(await spend(redis, settings.queue_name, key, now=now + n)).remaining for n in range(7)]
        assert remaining == [499, 498, 497, 496, 495, 494, 493]  # one count per request, as without leases
        counter = f"{settings.queue_name}:ratelimit:{key.id}:{int(now // 60)}"
        assert int(await redis.get(counter)) == 10  # two leases of five: two round trips for seven requests
    finally:
        await redis.aclose()


async def test_processes_sharing_a_key_never_pass_more_than_its_limit_together(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = Redis.from_url(settings.redis_url)
    key = ApiKey(id=464646, user_id=1, name="k", prefix="p", key_hash="h", rate_limit_per_minute=300)  # lease of 3
    processes: list[dict[Any, Any]] = [{}, {}, {}]  # each process keeps its own leases
    admitted = refused = 0
    try:
        now = 6_000_000.0
        for n in range(400):
            monkeypatch.setattr(crm.http.ratelimit, "_leases", processes[n % 7 % 3])  # uneven turns
            try:
                await spend(redis, settings.queue_name, key, now=now)
                admitted += 1
            except RateLimited:
                refused += 1
        assert admitted <= 300 and admitted + refused == 400
        assert admitted >= 300 - 3 * 2  # at most a lease's unused counts per process are lost
    finally:
        await redis.aclose()
