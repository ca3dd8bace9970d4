import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.contacts.accounts import open_lead, upsert_account
from crm.errors import InvalidTransition
from crm.models import Stage, StageChange
from crm.pipeline import DEFAULT_STAGES, move_lead, transition_allowed

STAGES = [Stage(pipeline_id=1, key=s.key, name=s.name, position=i, kind=s.kind) for i, s in enumerate(DEFAULT_STAGES)]


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        ("new", "contacted"),
        ("new", "qualified"),
        ("contacted", "replied"),
        ("replied", "contacted"),
        ("meeting", "won"),
        ("new", "disqualified"),
        ("lost", "new"),
    ],
)
def test_allowed_moves(src: str, dst: str) -> None:
    assert transition_allowed(STAGES, src, dst)


@pytest.mark.parametrize(
    ("src", "dst"),
    [("new", "new"), ("replied", "new"), ("won", "lost"), ("won", "meeting"), ("lost", "replied"), ("new", "nowhere")],
)
def test_forbidden_moves(src: str, dst: str) -> None:
    assert not transition_allowed(STAGES, src, dst)


async def test_moving_a_lead_writes_one_audit_row_and_bumps_its_version(session: AsyncSession) -> None:
    account = await upsert_account(session, "x", "@Someone", followers=10)
    assert account.contact_id is not None
    lead, created = await open_lead(session, account.contact_id, None, platform="x")
    assert created
    await move_lead(session, lead, "contacted", actor="rep@example.com", reason="sent DM")
    await session.commit()
    changes = (await session.exec(select(StageChange).where(StageChange.lead_id == lead.id))).all()
    assert [(c.from_stage, c.to_stage, c.actor, c.reason) for c in changes] == [
        ("new", "contacted", "rep@example.com", "sent DM")
    ]
    assert lead.version == 2


async def test_a_forbidden_move_changes_nothing(session: AsyncSession) -> None:
    account = await upsert_account(session, "x", "someone")
    assert account.contact_id is not None
    lead, _ = await open_lead(session, account.contact_id, None)
    with pytest.raises(InvalidTransition):
        await move_lead(session, lead, "nowhere", actor="rep")
    assert lead.stage == "new"
    assert (await session.exec(select(StageChange))).all() == []
