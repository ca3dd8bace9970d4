from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from crm.db import make_sessionmaker, session_scope
from crm.errors import PreconditionFailed
from crm.models import Lead, LeadScore, ModelStatus, ModelVersion, PlatformAccount
from crm.settings import Settings
from scoring import artifacts, registry
from scoring.registry import ModelCache
from scoring.service import score_lead
from tests.scoring.conftest import make_lead

TEXT = "Can anyone recommend an alternative to Salesforce? Terrible support and the pricing is killing us."


async def register_copy(session: Any, source: Path, target: Path, version: str) -> ModelVersion:
    import json
    import shutil

    shutil.copytree(source, target)
    meta = json.loads((target / artifacts.META_FILE).read_text())
    meta["version"] = version
    (target / artifacts.META_FILE).write_text(json.dumps(meta))
    return await registry.register(session, artifacts.Saved(target, meta["sha256"], meta))


async def test_without_an_active_model_leads_are_scored_by_the_named_baseline(engine: AsyncEngine) -> None:
    async with session_scope(make_sessionmaker(engine)) as session:
        lead = await make_lead(session, TEXT, competitors=["Salesforce"])
        row = await score_lead(session, lead.id or 0, ModelCache())
    assert row is not None and row.model_version == "baseline-rules-1"


async def test_the_active_model_scores_leads_with_reasons_and_rollback_returns_to_the_baseline(
    engine: AsyncEngine, trained_dir: Path, tmp_path: Path
) -> None:
    cache = ModelCache()
    async with session_scope(make_sessionmaker(engine)) as session:
        lead = await make_lead(session, TEXT, competitors=["Salesforce"], followers=12000)
        await register_copy(session, trained_dir, tmp_path / "v1", "wl-v1")
        await registry.promote(session, "wl-v1")
        row = await score_lead(session, lead.id or 0, cache)
        assert row is not None and row.model_version == "wl-v1"
        assert row.reasons and 0 <= row.score <= 100
        refreshed = await session.get(Lead, lead.id)
        assert refreshed is not None and refreshed.model_version == "wl-v1" and refreshed.score_reasons == row.reasons

        await register_copy(session, trained_dir, tmp_path / "v2", "wl-v2")
        await registry.promote(session, "wl-v2")
        assert (await score_lead(session, lead.id or 0, cache)).model_version == "wl-v2"  # type: ignore[union-attr]
        assert cache.loads == 2

        previous = await registry.rollback(session)
        assert previous is not None and previous.version == "wl-v1"
        statuses = {r.version: r.status for r in await registry.versions(session)}
        assert statuses == {"wl-v1": ModelStatus.ACTIVE.value, "wl-v2": ModelStatus.RETIRED.value}
        assert (await registry.rollback(session)) is None
        assert (await score_lead(session, lead.id or 0, cache)).model_version == "baseline-rules-1"  # type: ignore[union-attr]
        with pytest.raises(PreconditionFailed):
            await registry.rollback(session)


async def test_a_registered_artifact_whose_file_changed_falls_back_to_the_baseline(
    engine: AsyncEngine, trained_dir: Path, tmp_path: Path
) -> None:
    async with session_scope(make_sessionmaker(engine)) as session:
        lead = await make_lead(session, TEXT)
        await register_copy(session, trained_dir, tmp_path / "v1", "wl-v1")
        await registry.promote(session, "wl-v1")
        with (tmp_path / "v1" / artifacts.MODEL_FILE).open("ab") as fh:
            fh.write(b"tampered")
        row = await score_lead(session, lead.id or 0, ModelCache())
    assert row is not None and row.model_version == "baseline-rules-1"


async def test_the_worker_scores_with_the_active_model_and_rescores_open_leads(
    settings: Settings, engine: AsyncEngine, trained_dir: Path, tmp_path: Path, run_jobs: Any
) -> None:
    from crm.queue import create_queue, enqueue

    async with session_scope(make_sessionmaker(engine)) as session:
        first = await make_lead(session, TEXT, handle="a1")
        second = await make_lead(session, "nice weather", handle="a2")
        await register_copy(session, trained_dir, tmp_path / "v1", "wl-v1")
        await registry.promote(session, "wl-v1")
    queue = await create_queue(settings)
    try:
        await enqueue(queue, "rescore_open_leads", job_id="rescore-test")
        await enqueue(queue, "score_lead", job_id="score-first", lead_id=first.id)
    finally:
        await queue.aclose()
    assert await run_jobs() == 2
    async with session_scope(make_sessionmaker(engine)) as session:
        scores = (await session.exec(select(LeadScore))).all()
        account = (await session.exec(select(PlatformAccount).where(PlatformAccount.handle == "a1"))).one()
    assert {s.lead_id for s in scores} == {first.id, second.id}
    assert {s.model_version for s in scores} == {"wl-v1"}
    assert account.influencer_tier == "nano" and account.influencer_score is not None
