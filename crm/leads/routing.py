"""Who owns a lead: rule-based routing of new leads (by campaign, platform, score; a fixed user or a team's
round-robin) and audited (re)assignment. The store, scoring and the API call `assign_new_lead`."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access import audit
from crm.http.etags import touch
from crm.models import Lead, Role, RoutingRule, User


async def assign(
    session: AsyncSession,
    lead: Lead,
    owner_id: int | None,
    *,
    actor: str,
    actor_user_id: int | None = None,
    reason: str = "",
) -> bool:
    """Set the lead's owner and write the `lead.assigned` audit row; False when nothing changed."""
    previous = lead.owner_id
    if previous == owner_id:
        return False
    lead.owner_id = owner_id
    touch(lead)
    session.add(lead)
    audit.record(
        session,
        "lead.assigned",
        actor=actor,
        actor_user_id=actor_user_id,
        object_type="lead",
        object_id=lead.id,
        detail={"from": previous, "to": owner_id, "reason": reason},
    )
    await session.flush()
    return True


def _matches(rule: RoutingRule, lead: Lead) -> bool:
    if rule.watch_id is not None and rule.watch_id != lead.watch_id:
        return False
    if rule.platform is not None and rule.platform != lead.platform:
        return False
    return rule.min_score is None or (lead.score is not None and lead.score >= rule.min_score)


async def _next_in_rotation(session: AsyncSession, rule: RoutingRule) -> int | None:
    query = select(User.id).where(User.role == Role.SALES_REP.value, col(User.is_active).is_(True))
    if rule.team_id is not None:
        query = query.where(User.team_id == rule.team_id)
    reps = [rep for rep in await session.exec(query.order_by(col(User.id))) if rep is not None]
    if not reps:
        return None
    after = [rep for rep in reps if rule.last_user_id is not None and rep > rule.last_user_id]
    chosen = after[0] if after else reps[0]
    rule.last_user_id = chosen
    session.add(rule)
    return chosen


async def assign_new_lead(session: AsyncSession, lead: Lead, *, actor: str = "routing") -> int | None:
    """Give an unowned lead to the first active rule that matches it; returns the owner (None: stays unassigned)."""
    if lead.owner_id is not None:
        return lead.owner_id
    # Locked on PostgreSQL so two workers routing at once do not hand out the same turn of a round-robin.
    rules = await session.exec(
        select(RoutingRule)
        .where(col(RoutingRule.active).is_(True))
        .order_by(col(RoutingRule.position), col(RoutingRule.id))
        .with_for_update()
    )
    for rule in list(rules):
        if not _matches(rule, lead):
            continue
        owner_id = rule.user_id if rule.user_id is not None else await _next_in_rotation(session, rule)
        if owner_id is None:
            continue
        await assign(session, lead, owner_id, actor=actor, reason=f"routing rule {rule.name!r}")
        return owner_id
    return None


async def route_new_leads(session: AsyncSession, lead_ids: list[int]) -> dict[int, int]:
    """Route a batch of unowned leads (e.g. those one intake created); returns lead id -> new owner."""
    routed: dict[int, int] = {}
    if not lead_ids:
        return routed
    leads = await session.exec(select(Lead).where(col(Lead.id).in_(lead_ids), col(Lead.owner_id).is_(None)))
    for lead in list(leads):
        owner_id = await assign_new_lead(session, lead)
        if owner_id is not None and lead.id is not None:
            routed[lead.id] = owner_id
    return routed
