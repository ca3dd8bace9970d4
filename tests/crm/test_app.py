import json
from typing import Any

from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from crm.settings import Settings
from tests.conftest import Caller


async def test_liveness_answers_without_credentials(client: AsyncTestClient[Any]) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_readiness_checks_the_database_and_redis(client: AsyncTestClient[Any]) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


async def test_the_openapi_document_is_served_at_schema(client: AsyncTestClient[Any]) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    assert document["info"]["title"] == "Warmline"
    assert "/api/v1/leads" in document["paths"]
    assert "apiKey" in document["components"]["securitySchemes"]
    assert (await client.get("/schema")).status_code == 200


async def test_every_response_carries_a_request_id(client: AsyncTestClient[Any]) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert len((await client.get("/health")).headers["x-request-id"]) == 32


async def test_an_unknown_route_is_a_problem_document(client: AsyncTestClient[Any]) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 404
    assert body["instance"] == "/nope"
    assert {"type", "title", "detail"} <= body.keys()


async def test_calls_without_a_key_are_refused_with_401(client: AsyncTestClient[Any]) -> None:
    response = await client.get("/api/v1/leads")
    assert response.status_code == 401
    assert response.json()["type"] == "urn:warmline:problem:not-authenticated"
    bad = await client.get("/api/v1/leads", headers={"Authorization": "Bearer wl_deadbeef_nope"})
    assert bad.status_code == 401


async def test_invalid_json_is_a_400_problem_with_the_errors(client: AsyncTestClient[Any], admin: Caller) -> None:
    response = await client.post("/api/v1/watches", content=b"{not json", headers=admin.headers)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    wrong = await client.post("/api/v1/watches", json={"name": ""}, headers=admin.headers)
    assert wrong.status_code == 400
    assert wrong.json()["errors"]


async def test_a_forbidden_stage_move_is_a_409_problem(
    client: AsyncTestClient[Any], admin: Caller, run_jobs: Any
) -> None:
    watch = (
        await client.post("/api/v1/watches", json={"name": "w", "keywords": ["crm"]}, headers=admin.headers)
    ).json()
    line = json.dumps(
        {
            "platform": "x",
            "id": "1",
            "text": "need a crm",
            "created_at": "2026-01-01T00:00:00Z",
            "url": "https://x.com/a/status/1",
            "author": {"handle": "a"},
        }
    )
    await client.post(f"/api/v1/watches/{watch['id']}/mentions/import", content=line, headers=admin.headers)
    lead = (await client.get("/api/v1/leads", headers=admin.headers)).json()["items"][0]
    response = await client.post(f"/api/v1/leads/{lead['id']}/stage", json={"to_stage": "won"}, headers=admin.headers)
    assert response.status_code == 200  # open -> won is allowed
    again = await client.post(f"/api/v1/leads/{lead['id']}/stage", json={"to_stage": "meeting"}, headers=admin.headers)
    assert again.status_code == 409
    assert again.json()["type"] == "urn:warmline:problem:invalid-transition"


async def test_jobs_travel_through_redis_as_json(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings, run_jobs: Any
) -> None:
    watch = (
        await client.post("/api/v1/watches", json={"name": "w", "keywords": ["crm"]}, headers=admin.headers)
    ).json()
    line = json.dumps(
        {
            "platform": "x",
            "id": "9",
            "text": "any crm recommendations?",
            "created_at": "2026-01-01T00:00:00Z",
            "url": "https://x.com/a/status/9",
            "author": {"handle": "b"},
        }
    )
    await client.post(f"/api/v1/watches/{watch['id']}/mentions/import", content=line, headers=admin.headers)
    redis = Redis.from_url(settings.redis_url)
    try:
        keys = [k async for k in redis.scan_iter(match=f"arq:job:{settings.queue_name}:*")]
        payloads = {payload["f"]: payload["k"] for payload in [json.loads(await redis.get(k)) for k in keys]}
        assert payloads.keys() == {"score_lead", "analyse_mentions"}
        assert "lead_id" in payloads["score_lead"] and payloads["analyse_mentions"]["mention_ids"]
    finally:
        await redis.aclose()
    assert await run_jobs() == 2
    lead = (await client.get("/api/v1/leads", headers=admin.headers)).json()["items"][0]
    assert lead["score"] is not None
