"""Opening a lead: the one place that decides how a new lead starts, for every way in (the API's create and upsert,
crm.contacts.accounts, the mention store's bulk intake, the test builders).

A new lead opens in its pipeline's first open stage (`lead_opening`), is announced as `lead.created` with the
payload crm.integrations.outbox builds, gets a change_log row, and is routed to an owner by the rules in
crm.leads.routing unless one was chosen. `open_lead` does this for one lead through the ORM (whose Session hooks
write the event and the change); the bulk store inserts its rows with driver-level statements and hands them to
`opened_in_bulk`, which applies the same rules to the whole batch at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlmodel.ext.asyncio.session import AsyncSession

from crm.integrations.changelog import record_changes
from crm.integrations.outbox import lead_created_payload
from crm.leads.routing import assign, assign_new_lead, route_new_leads
from crm.models import Lead, Watch
from crm.pipeline import default_pipeline, opening_stage


@dataclass(frozen=True)
class Opening:
    """Where new leads of one pipeline start; worked out once per request or intake call, not per lead."""

    pipeline_id: int
    stage: str


async def lead_opening(session: AsyncSession, pipeline_id: int | None = None, watch_id: int | None = None) -> Opening:
    """The pipeline (the one given, else the watch's, else the default) and its first open stage; InvalidInput when
    it has none. A lead made through the API thus starts where the same person found by the watch would."""
    if pipeline_id is None and watch_id is not None:
        watch = await session.get(Watch, watch_id)
        pipeline_id = watch.pipeline_id if watch is not None else None
    if pipeline_id is None:
        pipeline_id = (await default_pipeline(session)).id
        assert pipeline_id is not None
    return Opening(pipeline_id, await opening_stage(session, pipeline_id))


async def open_lead(
    session: AsyncSession,
    contact_id: int,
    watch_id: int | None,
    *,
    opening: Opening | None = None,
    pipeline_id: int | None = None,
    platform: str | None = None,
    first_mention_id: int | None = None,
    external_id: str | None = None,
    owner_id: int | None = None,
    actor: str = "routing",
    actor_user_id: int | None = None,
) -> Lead:
    """Insert a new lead and give it its owner: `owner_id` when chosen (audited as `actor`), else routing's.

    `opening` (from `lead_opening`) when the caller already has it, else `pipeline_id`, else the watch's pipeline. The
    caller checks that the contact has no lead in this watch yet.
    """
    opening = opening or await lead_opening(session, pipeline_id, watch_id)
    lead = Lead(
        contact_id=contact_id,
        watch_id=watch_id,
        pipeline_id=opening.pipeline_id,
        stage=opening.stage,  # later moves go through crm.pipeline.move_lead
        platform=platform,
        first_mention_id=first_mention_id,
        external_id=external_id,
    )
    session.add(lead)
    await session.flush()  # the outbox and change-log hooks see the insert here
    if owner_id is not None:
        await assign(session, lead, owner_id, actor=actor, actor_user_id=actor_user_id, reason="created")
    else:
        await assign_new_lead(session, lead)
    return lead


class NewLead(NamedTuple):
    """A lead the bulk path inserted, with the values it inserted: what its lead.created event describes."""

    id: int
    contact_id: int
    watch_id: int | None
    pipeline_id: int
    stage: str
    platform: str | None
    owner_id: int | None = None
    score: float | None = None


def created_payloads(leads: Sequence[NewLead]) -> list[dict[str, Any]]:
    """The lead.created payloads of bulk-inserted leads, as the ORM hook gives them for a flushed Lead."""
    return [lead_created_payload(lead) for lead in leads]


async def opened_in_bulk(session: AsyncSession, leads: Sequence[NewLead]) -> dict[int, int]:
    """After a Core insert of new leads (the ORM hooks did not see it): their change_log rows, then routing for
    the whole batch (rules read once); returns lead id -> owner for the routed ones.

    The lead.created rows are the bulk writer's to insert (it writes them with its other events), from
    `created_payloads`, before this routes: a lead's lead.assigned follows its lead.created.
    """
    ids = [lead.id for lead in leads]
    record_changes(session, "lead", ids, "create")
    return await route_new_leads(session, ids)
