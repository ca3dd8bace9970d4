"""Who owns a lead: rule-based routing of new leads (by campaign, platform, score; a fixed user or a team's
round-robin) and audited (re)assignment. Every new lead is routed here, one (`assign_new_lead`) or a batch at a
time (`route_new_leads`), by crm.leads.opening."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access import audit
from crm.http.etags import touch
from crm.models import AuditEvent, Lead, Role, RoutingRule, User

_AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]


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
    changed = _set_owner(session, lead, owner_id, actor=actor, actor_user_id=actor_user_id, reason=reason)
    if changed is not None:
        await session.flush()
    return changed is not None


def _set_owner(
    session: AsyncSession, lead: Lead, owner_id: int | None, *, actor: str, actor_user_id: int | None, reason: str
) -> AuditEvent | None:
    previous = lead.owner_id
    if previous == owner_id:
        return None
    lead.owner_id = owner_id
    touch(lead)
    session.add(lead)
    return audit.record(
        session,
        "lead.assigned",
        actor=actor,
        actor_user_id=actor_user_id,
        object_type="lead",
        object_id=lead.id,
        detail={"from": previous, "to": owner_id, "reason": reason},
    )


async def _write_together(session: AsyncSession, rows: list[AuditEvent]) -> None:
    """Insert audit rows (as audit.record built them) in one statement: the ORM would insert them one by one on
    SQLite to read each id back, and nothing here needs the ids."""
    for row in rows:
        session.expunge(row)
    connection = await session.connection()
    await connection.execute(sa.insert(_AUDIT), [row.model_dump(exclude={"id"}) for row in rows])


def _matches(rule: RoutingRule, lead: Lead) -> bool:
    if rule.watch_id is not None and rule.watch_id != lead.watch_id:
        return False
    if rule.platform is not None and rule.platform != lead.platform:
        return False
    return rule.min_score is None or (lead.score is not None and lead.score >= rule.min_score)


class _Rotation:
    """Round-robin turns for one routing pass: each team's active reps are read once, however many leads pass."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.reps: dict[int | None, list[int]] = {}

    async def next(self, rule: RoutingRule) -> int | None:
        reps = self.reps.get(rule.team_id)
        if reps is None:
            query = select(User.id).where(User.role == Role.SALES_REP.value, col(User.is_active).is_(True))
            if rule.team_id is not None:
                query = query.where(User.team_id == rule.team_id)
            found = await self.session.exec(query.order_by(col(User.id)))
            reps = self.reps[rule.team_id] = [rep for rep in found if rep is not None]
        if not reps:
            return None
        after = [rep for rep in reps if rule.last_user_id is not None and rep > rule.last_user_id]
        chosen = after[0] if after else reps[0]
        rule.last_user_id = chosen
        self.session.add(rule)
        return chosen


async def _active_rules(session: AsyncSession) -> list[RoutingRule]:
    # Locked on PostgreSQL so two workers routing at once do not hand out the same turn of a round-robin.
    rules = await session.exec(
        select(RoutingRule)
        .where(col(RoutingRule.active).is_(True))
        .order_by(col(RoutingRule.position), col(RoutingRule.id))
        .with_for_update()
    )
    return list(rules)


async def route(session: AsyncSession, leads: Sequence[Lead], *, actor: str = "routing") -> dict[int, int]:
    """Give each unowned lead to the first active rule that matches it; returns lead id -> new owner.

    The rules and each team's reps are read once for the whole set, and the assignments flushed together, so
    routing a batch costs the same few statements as routing one lead.
    """
    unowned = [lead for lead in leads if lead.owner_id is None]
    if not unowned:
        return {}
    rules = await _active_rules(session)
    return await _route_with(session, rules, unowned, actor)


async def _route_with(
    session: AsyncSession, rules: list[RoutingRule], leads: Sequence[Lead], actor: str
) -> dict[int, int]:
    routed: dict[int, int] = {}
    audited: list[AuditEvent] = []
    rotation = _Rotation(session)
    for lead in leads:
        for rule in rules:
            if not _matches(rule, lead):
                continue
            owner_id = rule.user_id if rule.user_id is not None else await rotation.next(rule)
            if owner_id is None:
                continue
            row = _set_owner(
                session, lead, owner_id, actor=actor, actor_user_id=None, reason=f"routing rule {rule.name!r}"
            )
            if row is not None:
                audited.append(row)
            if lead.id is not None:
                routed[lead.id] = owner_id
            break
    if audited:
        await _write_together(session, audited)
    if routed:
        await session.flush()
    return routed


async def assign_new_lead(session: AsyncSession, lead: Lead, *, actor: str = "routing") -> int | None:
    """Give an unowned lead to the first active rule that matches it; returns the owner (None: stays unassigned)."""
    if lead.owner_id is not None:
        return lead.owner_id
    await route(session, [lead], actor=actor)
    return lead.owner_id


async def route_new_leads(session: AsyncSession, lead_ids: Sequence[int]) -> dict[int, int]:
    """Route a batch of unowned leads by id (e.g. those one intake created); returns lead id -> new owner.

    Without an active rule nothing is read but the rules, so intake pays one query per batch.
    """
    if not lead_ids:
        return {}
    rules = await _active_rules(session)
    if not rules:
        return {}
    # In id order, so a round-robin hands out its turns in the order the leads were opened.
    leads = await session.exec(
        select(Lead).where(col(Lead.id).in_(lead_ids), col(Lead.owner_id).is_(None)).order_by(col(Lead.id))
    )
    return await _route_with(session, rules, list(leads), "routing")
