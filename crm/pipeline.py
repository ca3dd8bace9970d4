"""The stage machine: the only code that changes a lead's stage, enforcing transitions and writing StageChange."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.errors import InvalidInput, InvalidTransition, NotFound
from crm.integrations.outbox import emit, lead_payload
from crm.models import Lead, Pipeline, Stage, StageChange, utcnow

DEFAULT_PIPELINE = "Default"


@dataclass(frozen=True)
class StageSpec:
    key: str
    name: str
    kind: str = "open"


DEFAULT_STAGES: tuple[StageSpec, ...] = (
    StageSpec("new", "New"),
    StageSpec("contacted", "Contacted"),
    StageSpec("replied", "Replied"),
    StageSpec("qualified", "Qualified"),
    StageSpec("meeting", "Meeting"),
    StageSpec("won", "Won", "won"),
    StageSpec("lost", "Lost", "lost"),
    StageSpec("disqualified", "Disqualified", "lost"),
)


def transition_allowed(stages: list[Stage], from_key: str, to_key: str) -> bool:
    """Open stages move forward freely, back one step, or to any closed stage; closed stages only reopen."""
    by_key = {s.key: s for s in stages}
    src, dst = by_key.get(from_key), by_key.get(to_key)
    if src is None or dst is None or src.key == dst.key:
        return False
    open_stages = sorted((s for s in stages if s.kind == "open"), key=lambda s: s.position)
    if src.kind != "open":
        return dst.key == open_stages[0].key
    if dst.kind != "open":
        return True
    order = [s.key for s in open_stages]
    return order.index(dst.key) > order.index(src.key) or order.index(dst.key) == order.index(src.key) - 1


async def create_pipeline(
    session: AsyncSession, name: str, stages: list[StageSpec], *, is_default: bool = False
) -> Pipeline:
    pipeline = Pipeline(name=name, is_default=is_default)
    session.add(pipeline)
    await session.flush()
    assert pipeline.id is not None
    for position, spec in enumerate(stages):
        session.add(Stage(pipeline_id=pipeline.id, key=spec.key, name=spec.name, position=position, kind=spec.kind))
    await session.flush()
    return pipeline


async def default_pipeline(session: AsyncSession) -> Pipeline:
    pipeline = (await session.exec(select(Pipeline).where(col(Pipeline.is_default).is_(True)))).first()
    if pipeline is None:
        raise NotFound("no default pipeline: run `crm db upgrade`")
    return pipeline


async def stages_of(session: AsyncSession, pipeline_id: int) -> list[Stage]:
    rows = await session.exec(select(Stage).where(Stage.pipeline_id == pipeline_id).order_by(col(Stage.position)))
    return list(rows)


async def opening_stage(session: AsyncSession, pipeline_id: int) -> str:
    """The stage a new lead of this pipeline opens in: its first open stage (every way in asks this, once)."""
    for stage in await stages_of(session, pipeline_id):
        if stage.kind == "open":
            return stage.key
    raise InvalidInput(f"pipeline {pipeline_id} does not exist or has no open stage")


def closing_stage(stages: list[Stage], from_key: str, kind: str = "lost") -> Stage | None:
    """The first stage of this closed kind a lead may move to from `from_key`, if the pipeline has one."""
    return next((s for s in stages if s.kind == kind and transition_allowed(stages, from_key, s.key)), None)


async def move_lead(
    session: AsyncSession,
    lead: Lead,
    to_stage: str,
    *,
    actor: str,
    actor_user_id: int | None = None,
    reason: str = "",
    response_window: timedelta | None = None,
) -> StageChange:
    """Move a lead to another stage of its pipeline, or raise InvalidTransition; writes the audit row."""
    stages = await stages_of(session, lead.pipeline_id)
    if to_stage not in {s.key for s in stages}:
        raise InvalidTransition(f"stage {to_stage!r} is not in this lead's pipeline")
    if not transition_allowed(stages, lead.stage, to_stage):
        raise InvalidTransition(
            f"a lead cannot move from {lead.stage!r} to {to_stage!r}",
            extra={"from": lead.stage, "to": to_stage},
        )
    assert lead.id is not None
    change = StageChange(
        lead_id=lead.id,
        from_stage=lead.stage,
        to_stage=to_stage,
        actor=actor,
        actor_user_id=actor_user_id,
        reason=reason,
    )
    now = utcnow()
    lead.stage = to_stage
    lead.updated_at = now
    lead.last_activity_at = now
    lead.version += 1
    lead.response_due_at = now + response_window if response_window else None
    session.add(change)
    session.add(lead)
    await session.flush()
    emit(session, "lead.stage_changed", {**lead_payload(lead), "from_stage": change.from_stage, "actor": actor})
    return change
