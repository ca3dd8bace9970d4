import asyncio

from click.testing import CliRunner
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from crm.cli import cli
from crm.db import make_sessionmaker, session_scope
from crm.models import Lead, LeadScore
from crm.settings import Settings
from tests.scoring.conftest import make_lead


async def rescore(settings: Settings, *args: str) -> str:
    env = {"CRM_DATABASE_URL": settings.database_url, "CRM_DATA_DIR": str(settings.data_dir)}
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["scoring", "rescore", *args], env=env)
    assert result.exit_code == 0, result.output
    return str(result.output)


async def seed(engine: AsyncEngine) -> dict[str, int]:
    async with session_scope(make_sessionmaker(engine)) as session:
        ids = {}
        for handle in ("unscored_a", "unscored_b", "scored", "lost"):
            lead = await make_lead(session, "any crm that is not Salesforce? pricing hurts", handle=handle)
            if handle in ("scored", "lost"):
                lead.score, lead.model_version = 7.0, "by-hand"
            if handle == "lost":
                lead.stage = "lost"
            session.add(lead)
            ids[handle] = lead.id or 0
        return ids


async def scores(engine: AsyncEngine) -> dict[int, tuple[float | None, str | None, int]]:
    async with session_scope(make_sessionmaker(engine)) as session:
        rows = {}
        for lead in await session.exec(select(Lead)):
            history = (await session.exec(select(LeadScore).where(col(LeadScore.lead_id) == lead.id))).all()
            rows[lead.id or 0] = (lead.score, lead.model_version, len(history))
        return rows


async def test_rescore_unscored_scores_exactly_the_leads_without_a_score(
    settings: Settings, engine: AsyncEngine
) -> None:
    ids = await seed(engine)
    assert (
        await rescore(settings, "--unscored")
    ).strip() == "scored 2 unscored leads with the baseline (baseline-rules-1)"
    after = await scores(engine)
    for handle in ("unscored_a", "unscored_b"):
        score, version, history = after[ids[handle]]
        assert score is not None and version == "baseline-rules-1" and history == 1
    assert after[ids["scored"]] == (7.0, "by-hand", 0) and after[ids["lost"]] == (7.0, "by-hand", 0)
    assert (
        await rescore(settings, "--unscored")
    ).strip() == "scored 0 unscored leads with the baseline (baseline-rules-1)"


async def test_rescore_scores_every_open_lead_and_leaves_closed_ones(settings: Settings, engine: AsyncEngine) -> None:
    ids = await seed(engine)
    assert (await rescore(settings)).strip() == "scored 3 open leads with the baseline (baseline-rules-1)"
    after = await scores(engine)
    assert all(after[ids[h]][1] == "baseline-rules-1" for h in ("unscored_a", "unscored_b", "scored"))
    assert after[ids["lost"]] == (7.0, "by-hand", 0)
