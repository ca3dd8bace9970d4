"""What leaves after commit: the change log behind the sync feed, webhook subscriptions, the outbox, deliveries
and attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm.models.base import json_field, ts_field


class ChangeLog(SQLModel, table=True):
    """One row per committed change of a lead or contact; `id` order is commit order (see crm.leads.sync_api)."""

    __tablename__ = "change_log"
    id: int | None = Field(default=None, primary_key=True)
    entity: str = Field(max_length=20)
    entity_id: int = Field(index=True)
    op: str = Field(max_length=10)  # create | update | delete | erase
    at: datetime = ts_field(default_now=True, index=True)


class WebhookSubscription(SQLModel, table=True):
    """Where to POST which events, and the secret that signs them."""

    __tablename__ = "webhook_subscription"
    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=1000)
    events: list[str] = json_field(list)
    secret: str = Field(max_length=128)
    description: str = Field(default="", max_length=200)
    active: bool = True
    created_by_user_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = ts_field(default_now=True)
    updated_at: datetime = ts_field(default_now=True)
    deleted_at: datetime | None = ts_field()


class WebhookEvent(SQLModel, table=True):
    """Outbox: written in the transaction that caused the event, fanned out to deliveries after commit."""

    __tablename__ = "webhook_event"
    id: int | None = Field(default=None, primary_key=True)
    type: str = Field(max_length=60, index=True)
    payload: dict[str, Any] = json_field()
    created_at: datetime = ts_field(default_now=True)
    dispatched_at: datetime | None = ts_field(index=True)


class WebhookDelivery(SQLModel, table=True):
    """One event to one subscription: status, attempts so far and the next try."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (sa.Index("ix_webhook_delivery_created_at", "created_at"),)  # the retention prune's range
    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="webhook_event.id", index=True)
    subscription_id: int = Field(foreign_key="webhook_subscription.id", index=True)
    status: str = Field(default="pending", max_length=20, index=True)  # pending | delivered | failed
    attempts: int = 0
    next_attempt_at: datetime | None = ts_field()
    last_status_code: int | None = None
    last_error: str = Field(default="", sa_type=sa.Text)
    redelivery_of_id: int | None = Field(default=None, foreign_key="webhook_delivery.id")
    created_at: datetime = ts_field(default_now=True)
    delivered_at: datetime | None = ts_field()


class WebhookAttempt(SQLModel, table=True):
    """Delivery log: each HTTP attempt with its outcome."""

    __tablename__ = "webhook_attempt"
    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="webhook_delivery.id", index=True)
    attempt: int
    at: datetime = ts_field(default_now=True)
    status_code: int | None = None
    error: str = Field(default="", sa_type=sa.Text)
    duration_ms: float = 0.0
