"""Webhook outbox: `emit` writes an event row in the caller's transaction, so an event exists iff its change commits.

lead.created and lead.assigned are noticed on every Lead flush (whatever code made the change) by the Session hooks
below, which crm.integrations.hooks installs; bulk writers that bypass the ORM build the same payloads here;
the other events are emitted by the code that knows the details (move_lead, mark_sent, record_reply, the mention
store). Payloads carry ids and states, not personal data: receivers fetch details through the API, and erasure
has nothing to chase in delivered payloads. crm.integrations.webhooks fans the rows out to subscriptions after commit.
"""

from __future__ import annotations

from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.models import Lead, WebhookEvent, WebhookSubscription, utcnow

EVENT_TYPES = (
    "lead.created",
    "lead.stage_changed",
    "lead.assigned",
    "message.sent",
    "message.replied",
    "mention.matched",
)
_NOTICED = "warmline.webhook_events"
_EVENT = WebhookEvent.__table__  # type: ignore[attr-defined]


def emit(session: AsyncSession | Session, event_type: str, payload: dict[str, Any]) -> None:
    """Queue a webhook event in this transaction; it is delivered only if the transaction commits."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event {event_type!r}")
    session.add(WebhookEvent(type=event_type, payload=payload, created_at=utcnow()))


async def subscribed_event_types(session: AsyncSession) -> set[str]:
    """The event types at least one active subscription receives, for bulk writers that skip the rest."""
    found = await session.exec(
        select(WebhookSubscription.events).where(
            col(WebhookSubscription.active).is_(True), col(WebhookSubscription.deleted_at).is_(None)
        )
    )
    wanted: set[str] = set()
    for events in found:
        wanted.update(EVENT_TYPES if "*" in events else events)
    return wanted


class LeadFields(Protocol):
    """What a lead event describes: a Lead, or the values the bulk path inserted one with (crm.leads.opening)."""

    @property
    def id(self) -> int | None: ...
    @property
    def contact_id(self) -> int: ...
    @property
    def watch_id(self) -> int | None: ...
    @property
    def pipeline_id(self) -> int: ...
    @property
    def stage(self) -> str: ...
    @property
    def owner_id(self) -> int | None: ...
    @property
    def platform(self) -> str | None: ...
    @property
    def score(self) -> float | None: ...


def lead_payload(lead: LeadFields) -> dict[str, Any]:
    """The lead part of every lead.* event: the ORM hooks below, move_lead and the bulk intake all build it here."""
    return {
        "lead_id": lead.id,
        "contact_id": lead.contact_id,
        "watch_id": lead.watch_id,
        "pipeline_id": lead.pipeline_id,
        "stage": lead.stage,
        "owner_id": lead.owner_id,
        "platform": lead.platform,
        "score": lead.score,
    }


def lead_created_payload(lead: LeadFields) -> dict[str, Any]:
    return lead_payload(lead)


def lead_assigned_payload(lead: LeadFields, previous_owner_id: int | None) -> dict[str, Any]:
    return {**lead_payload(lead), "previous_owner_id": previous_owner_id}


# Session hooks: registered by crm.integrations.hooks.install (a composition root calls it), never on import.
def notice_lead_events(session: Session, _flush_context: Any) -> None:
    # Objects cannot be added during a flush, so what is noticed here is written at commit (below).
    noticed: list[tuple[str, dict[str, Any]]] | None = None
    for obj in session.new:
        if type(obj) is Lead:
            noticed = session.info.setdefault(_NOTICED, [])
            noticed.append(("lead.created", lead_created_payload(obj)))
    for obj in session.dirty:
        if type(obj) is Lead:
            history = sa.inspect(obj).attrs.owner_id.history
            previous = history.deleted[0] if history.deleted else None  # a None original is not in `deleted`
            if history.added and history.added[0] != previous:
                noticed = session.info.setdefault(_NOTICED, [])
                noticed.append(("lead.assigned", lead_assigned_payload(obj, previous)))


def write_lead_events(session: Session) -> None:
    if session.new or session.dirty or session.deleted:
        session.flush()
    noticed = session.info.pop(_NOTICED, [])
    if noticed:
        # One statement for them all: the ORM would insert them one by one on SQLite to read each id back, so a
        # batch of routed leads would cost a statement per lead. Nothing reads these rows in this transaction.
        now = utcnow()
        session.connection().execute(
            sa.insert(_EVENT), [{"type": kind, "payload": payload, "created_at": now} for kind, payload in noticed]
        )


def forget_lead_events(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_NOTICED, None)
