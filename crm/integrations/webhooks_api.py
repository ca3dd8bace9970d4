"""Webhook subscription routes (`/api/v1/webhooks`, admins): CRUD, the delivery log, manual redelivery."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from pydantic import field_validator
from sqlmodel import Field, SQLModel, col, select

from crm.access import audit
from crm.access.policy import require_admin
from crm.errors import NotFound
from crm.http.deps import AppSettings, CurrentUser, DbSession, Queue
from crm.integrations.egress import check_target
from crm.integrations.outbox import EVENT_TYPES
from crm.integrations.webhooks import enqueue_delivery
from crm.models import User, WebhookAttempt, WebhookDelivery, WebhookSubscription, utcnow


def _check_events(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    unknown = sorted(set(value) - {*EVENT_TYPES, "*"})
    if unknown or not value:
        raise ValueError(f"events must be a non-empty list of {', '.join(EVENT_TYPES)} or '*'; unknown: {unknown}")
    return sorted(set(value))


def _check_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("https://", "http://")):
        raise ValueError("url must be an http(s) URL")
    return value


class SubscriptionCreate(SQLModel):
    url: str = Field(min_length=8, max_length=1000)
    events: list[str]
    description: str = Field(default="", max_length=200)
    active: bool = True

    _events = field_validator("events")(_check_events)
    _url = field_validator("url")(_check_url)


class SubscriptionUpdate(SQLModel):
    url: str | None = Field(default=None, min_length=8, max_length=1000)
    events: list[str] | None = None
    description: str | None = Field(default=None, max_length=200)
    active: bool | None = None

    _events = field_validator("events")(_check_events)
    _url = field_validator("url")(_check_url)


class SubscriptionPublic(SQLModel):
    id: int
    url: str
    events: list[str]
    description: str
    active: bool
    created_at: datetime
    updated_at: datetime
    secret: str | None = None  # only in the answer to the create call


class AttemptPublic(SQLModel):
    attempt: int
    at: datetime
    status_code: int | None
    error: str
    duration_ms: float


class DeliveryPublic(SQLModel):
    id: int
    event_id: int
    subscription_id: int
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str
    redelivery_of_id: int | None
    created_at: datetime
    delivered_at: datetime | None
    log: list[AttemptPublic] = []


def _audit(session: DbSession, user: User, action: str, subscription_id: Any, detail: dict[str, Any]) -> None:
    audit.record(
        session,
        action,
        actor=user.email,
        actor_user_id=user.id,
        object_type="webhook_subscription",
        object_id=subscription_id,
        detail=detail,
    )


async def _subscription(session: DbSession, subscription_id: int) -> WebhookSubscription:
    found = await session.get(WebhookSubscription, subscription_id)
    if found is None or found.deleted_at is not None:
        raise NotFound(f"webhook subscription {subscription_id} does not exist")
    return found


async def _delivery_public(session: DbSession, delivery: WebhookDelivery) -> DeliveryPublic:
    attempts = await session.exec(
        select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id).order_by(col(WebhookAttempt.id))
    )
    return DeliveryPublic.model_validate(delivery, update={"log": [AttemptPublic.model_validate(a) for a in attempts]})


class WebhookController(Controller):
    path = "/api/v1/webhooks"
    tags = ["webhooks"]

    @post("/", summary="Subscribe a URL to events; the signing secret is returned once")
    async def create(
        self, session: DbSession, user: CurrentUser, settings: AppSettings, data: JSONBody[SubscriptionCreate]
    ) -> SubscriptionPublic:
        require_admin(user, "webhooks")
        await check_target(data.url, allow_private=settings.webhook_allow_private_targets)
        now = utcnow()
        row = WebhookSubscription(
            url=data.url,
            events=data.events,
            description=data.description,
            active=data.active,
            secret="whsec_" + secrets.token_urlsafe(32),
            created_by_user_id=user.id,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        await session.flush()
        _audit(session, user, "webhook.created", row.id, {"url": data.url, "events": data.events})
        return SubscriptionPublic.model_validate(row)

    @get("/", summary="List webhook subscriptions")
    async def list_subscriptions(self, session: DbSession, user: CurrentUser) -> list[SubscriptionPublic]:
        require_admin(user, "webhooks")
        rows = await session.exec(
            select(WebhookSubscription)
            .where(col(WebhookSubscription.deleted_at).is_(None))
            .order_by(col(WebhookSubscription.id))
        )
        return [SubscriptionPublic.model_validate(r, update={"secret": None}) for r in rows]

    @get("/{subscription_id:int}", summary="One webhook subscription")
    async def get_subscription(
        self, session: DbSession, user: CurrentUser, subscription_id: FromPath[int]
    ) -> SubscriptionPublic:
        require_admin(user, "webhooks")
        return SubscriptionPublic.model_validate(await _subscription(session, subscription_id), update={"secret": None})

    @patch("/{subscription_id:int}", summary="Change a subscription's URL, events, description or active flag")
    async def update(
        self,
        session: DbSession,
        user: CurrentUser,
        settings: AppSettings,
        subscription_id: FromPath[int],
        data: JSONBody[SubscriptionUpdate],
    ) -> SubscriptionPublic:
        require_admin(user, "webhooks")
        row = await _subscription(session, subscription_id)
        if data.url is not None:
            await check_target(data.url, allow_private=settings.webhook_allow_private_targets)
        changes = data.model_dump(exclude_unset=True, exclude_none=True)
        for name, value in changes.items():
            setattr(row, name, value)
        row.updated_at = utcnow()
        session.add(row)
        _audit(session, user, "webhook.updated", row.id, changes)
        return SubscriptionPublic.model_validate(row, update={"secret": None})

    @delete("/{subscription_id:int}", summary="Remove a subscription (pending deliveries stop)")
    async def remove(self, session: DbSession, user: CurrentUser, subscription_id: FromPath[int]) -> None:
        require_admin(user, "webhooks")
        row = await _subscription(session, subscription_id)
        row.deleted_at = row.updated_at = utcnow()
        row.active = False
        session.add(row)
        _audit(session, user, "webhook.deleted", row.id, {})

    @get("/{subscription_id:int}/deliveries", summary="Delivery log of a subscription, newest first")
    async def deliveries(
        self,
        session: DbSession,
        user: CurrentUser,
        subscription_id: FromPath[int],
        status: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
        before_id: FromQuery[int | None] = None,
    ) -> list[DeliveryPublic]:
        require_admin(user, "webhooks")
        await _subscription(session, subscription_id)
        query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
        if status:
            query = query.where(WebhookDelivery.status == status)
        if before_id is not None:
            query = query.where(col(WebhookDelivery.id) < before_id)
        rows = await session.exec(query.order_by(col(WebhookDelivery.id).desc()).limit(limit))
        return [await _delivery_public(session, d) for d in rows]

    @get("/deliveries/{delivery_id:int}", summary="One delivery with every attempt")
    async def delivery(self, session: DbSession, user: CurrentUser, delivery_id: FromPath[int]) -> DeliveryPublic:
        require_admin(user, "webhooks")
        found = await session.get(WebhookDelivery, delivery_id)
        if found is None:
            raise NotFound(f"webhook delivery {delivery_id} does not exist")
        return await _delivery_public(session, found)

    @post("/deliveries/{delivery_id:int}/redeliver", summary="Send a delivery's event again, as a new delivery")
    async def redeliver(
        self, session: DbSession, settings: AppSettings, queue: Queue, user: CurrentUser, delivery_id: FromPath[int]
    ) -> DeliveryPublic:
        require_admin(user, "webhooks")
        original = await session.get(WebhookDelivery, delivery_id)
        if original is None:
            raise NotFound(f"webhook delivery {delivery_id} does not exist")
        await _subscription(session, original.subscription_id)
        now = utcnow()
        again = WebhookDelivery(
            event_id=original.event_id,
            subscription_id=original.subscription_id,
            redelivery_of_id=original.id,
            next_attempt_at=now,
            created_at=now,
        )
        session.add(again)
        await session.flush()
        _audit(session, user, "webhook.redelivered", original.subscription_id, {"delivery_id": again.id})
        # Committed before the job exists, so the worker always finds the row.
        await session.commit()
        assert again.id is not None
        await enqueue_delivery(queue, settings, again.id)
        return await _delivery_public(session, again)
