from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from crm.db import make_sessionmaker, session_scope
from crm.models import AuditEvent, ModelVersion, Role
from crm.settings import Settings
from tests.conftest import Caller, make_caller
from tests.scoring.test_registry_and_service import register_copy

TEXT = "Can anyone recommend an alternative to Salesforce? Terrible support, we want to cancel."


async def registered(engine: AsyncEngine, trained_dir: Path, tmp_path: Path, *versions: str) -> list[int]:
    ids = []
    async with session_scope(make_sessionmaker(engine)) as session:
        for version in versions:
            row = await register_copy(session, trained_dir, tmp_path / version, version)
            assert row.id is not None
            ids.append(row.id)
    return ids


async def test_any_signed_in_user_lists_model_versions_with_metrics_hash_and_sklearn_version(
    client: AsyncTestClient[Any], settings: Settings, engine: AsyncEngine, trained_dir: Path, tmp_path: Path
) -> None:
    [model_id] = await registered(engine, trained_dir, tmp_path, "wl-a")
    reader = await make_caller(settings, "reader@example.com", Role.READ_ONLY)
    listed = await client.get("/api/v1/models", headers=reader.headers)
    assert listed.status_code == 200
    body = listed.json()
    assert body["active"] is None
    [item] = body["items"]
    assert item["version"] == "wl-a" and item["status"] == "candidate"
    assert item["metrics"]["roc_auc"] > 0.5 and len(item["data_hash"]) == 64 and item["sklearn_version"]
    assert item["threshold"] == item["metrics"]["threshold"]
    one = await client.get(f"/api/v1/models/{model_id}", headers=reader.headers)
    assert one.status_code == 200 and one.json()["sha256"] == item["sha256"]


async def test_an_unknown_model_version_is_a_404_problem(client: AsyncTestClient[Any], admin: Caller) -> None:
    response = await client.get("/api/v1/models/987654", headers=admin.headers)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_only_admins_promote_and_roll_back(
    client: AsyncTestClient[Any], settings: Settings, engine: AsyncEngine, trained_dir: Path, tmp_path: Path
) -> None:
    [model_id] = await registered(engine, trained_dir, tmp_path, "wl-a")
    for role in (Role.READ_ONLY, Role.MARKETER, Role.SALES_REP):
        caller = await make_caller(settings, f"{role.value}@example.com", role)
        promoted = await client.post(f"/api/v1/models/{model_id}/promote", headers=caller.headers)
        assert promoted.status_code == 403, role
        assert promoted.headers["content-type"].startswith("application/problem+json")
        rolled = await client.post("/api/v1/models/rollback", headers=caller.headers)
        assert rolled.status_code == 403, role
    async with session_scope(make_sessionmaker(engine)) as session:
        row = await session.get(ModelVersion, model_id)
        assert row is not None and row.status == "candidate"


async def test_an_admin_promotes_then_rolls_back_and_both_are_audited(
    client: AsyncTestClient[Any],
    admin: Caller,
    engine: AsyncEngine,
    trained_dir: Path,
    tmp_path: Path,
    run_jobs: Any,
) -> None:
    first, second = await registered(engine, trained_dir, tmp_path, "wl-a", "wl-b")
    assert (await client.post(f"/api/v1/models/{first}/promote", headers=admin.headers)).status_code == 200
    promoted = await client.post(f"/api/v1/models/{second}/promote", headers=admin.headers)
    assert promoted.status_code == 200
    assert promoted.json()["model"]["status"] == "active" and promoted.json()["previous"] == "wl-a"
    assert promoted.json()["rescore_enqueued"] is True

    rolled = await client.post("/api/v1/models/rollback", headers=admin.headers)
    assert rolled.status_code == 200
    assert rolled.json()["retired"]["version"] == "wl-b" and rolled.json()["active"]["version"] == "wl-a"
    assert (await client.get("/api/v1/models", headers=admin.headers)).json()["active"] == "wl-a"
    assert await run_jobs() >= 1  # the enqueued rescores run in the worker

    async with session_scope(make_sessionmaker(engine)) as session:
        events = (
            await session.exec(
                select(AuditEvent).where(col(AuditEvent.action).startswith("model.")).order_by(col(AuditEvent.id))
            )
        ).all()
    assert [(e.action, e.detail["version"]) for e in events] == [
        ("model.promote", "wl-a"),
        ("model.promote", "wl-b"),
        ("model.rollback", "wl-b"),
    ]
    assert all(e.actor_user_id == admin.user.id for e in events)


async def test_rolling_back_with_no_active_model_is_a_conflict_not_an_error(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    response = await client.post("/api/v1/models/rollback", headers=admin.headers)
    assert response.status_code == 409
    assert "baseline" in response.json()["detail"]


async def test_promoting_a_version_whose_artifact_was_tampered_with_is_refused(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine, trained_dir: Path, tmp_path: Path
) -> None:
    [model_id] = await registered(engine, trained_dir, tmp_path, "wl-a")
    with (tmp_path / "wl-a" / "model.skops").open("ab") as fh:
        fh.write(b"x")
    response = await client.post(f"/api/v1/models/{model_id}/promote", headers=admin.headers)
    assert response.status_code == 409 and "sha256" in response.json()["detail"]


async def test_scoring_on_demand_uses_the_baseline_until_a_model_is_active(
    client: AsyncTestClient[Any], settings: Settings, engine: AsyncEngine, trained_dir: Path, tmp_path: Path
) -> None:
    reader = await make_caller(settings, "reader@example.com", Role.READ_ONLY)
    body = {"text": TEXT, "competitors": ["Salesforce", "HubSpot"], "followers": 12000, "dm_open": True}
    before = await client.post("/api/v1/scoring/mentions", json=body, headers=reader.headers)
    assert before.status_code == 200
    assert before.json()["model_version"] == "baseline-rules-1"
    assert "mentions competitor Salesforce" in before.json()["reasons"]

    [model_id] = await registered(engine, trained_dir, tmp_path, "wl-a")
    admin = await make_caller(settings, "boss@example.com", Role.ADMIN)
    assert (await client.post(f"/api/v1/models/{model_id}/promote", headers=admin.headers)).status_code == 200
    after = await client.post("/api/v1/scoring/mentions", json=body, headers=reader.headers)
    assert after.status_code == 200
    scored = after.json()
    assert scored["model_version"] == "wl-a" and 0 <= scored["score"] <= 100
    assert scored["score"] == round(100 * scored["probability"], 1)
    assert scored["warm"] == (scored["probability"] >= scored["threshold"])
    assert scored["reasons"] and any("Salesforce" in r or "12k" in r for r in scored["reasons"])

    # The test model learned purchase intent (tests/fixtures/purchase_intent): a buyer outranks small talk.
    calm = await client.post("/api/v1/scoring/mentions", json={"text": "lovely weather"}, headers=reader.headers)
    keen = {"text": "I really want to buy the new iPhone X, where can I get one?"}
    buyer = await client.post("/api/v1/scoring/mentions", json=keen, headers=reader.headers)
    assert calm.json()["probability"] < buyer.json()["probability"]


async def test_scoring_rejects_bad_input_with_a_problem_document(client: AsyncTestClient[Any], admin: Caller) -> None:
    for body in ({}, {"text": ""}, {"text": "hi", "followers": -1}, {"text": "x" * 10_001}):
        response = await client.post("/api/v1/scoring/mentions", json=body, headers=admin.headers)
        assert response.status_code in (400, 422), body
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_scoring_needs_a_signed_in_caller(client: AsyncTestClient[Any]) -> None:
    response = await client.post("/api/v1/scoring/mentions", json={"text": "hi"})
    assert response.status_code == 401
