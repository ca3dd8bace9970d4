"""Outbound webhook delivery: fan committed outbox events out to subscriptions, sign and POST them from arq jobs,
retry with exponential backoff for `webhook_retry_hours`, log every attempt, and prune the log past its retention.

Signature: `Warmline-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`; receivers should
recompute it and reject timestamps older than a few minutes (replays).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
import structlog
from arq import Retry
from arq.connections import ArqRedis
from arq.cron import cron
from sqlalchemy import delete, update
from sqlmodel import col, select

from crm import __version__
from crm.db import SessionMaker, session_scope
from crm.errors import InvalidInput
from crm.integrations.egress import check_target
from crm.models import WebhookAttempt, WebhookDelivery, WebhookEvent, WebhookSubscription, utcnow
from crm.queue import enqueue
from crm.settings import Settings

SIGNATURE_HEADER = "Warmline-Signature"
DELIVER_JOB = "deliver_webhook"
# A delivery still pending this long after its due time has lost its job (e.g. Redis was flushed): enqueue again.
LOST_AFTER = timedelta(minutes=2)
log = structlog.get_logger("crm.integrations.webhooks")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, *, tolerance: float = 300, now: float | None = None) -> bool:
    """What a receiver does (and what the tests use): check the HMAC and that the timestamp is recent."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), f"t={timestamp},v1={parts.get('v1', '')}")


def backoff(settings: Settings, attempt: int) -> float:
    """Seconds before retry number `attempt` (1-based): base, 2x base, 4x base, ... capped."""
    return float(min(settings.webhook_backoff_seconds * 2 ** (attempt - 1), settings.webhook_backoff_max_seconds))


def job_id(delivery_id: int) -> str:
    return f"webhook-delivery-{delivery_id}"


def event_body(event: WebhookEvent) -> bytes:
    document: dict[str, Any] = {"id": f"evt_{event.id}", "type": event.type, "created_at": event.created_at.isoformat()}
    document["data"] = event.payload
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


async def enqueue_delivery(queue: ArqRedis, settings: Settings, delivery_id: int) -> None:
    # The Redis job must outlive every retry; arq's default expiry (a day from enqueue) would cut the tail off.
    expires = timedelta(hours=settings.webhook_retry_hours) + timedelta(hours=2)
    await enqueue(queue, DELIVER_JOB, job_id=job_id(delivery_id), delivery_id=delivery_id, _expires=expires)


async def fan_out(sessionmaker: SessionMaker, batch: int = 500) -> list[int]:
    """Turn undispatched outbox events into one delivery per matching subscription; returns new delivery ids."""
    async with session_scope(sessionmaker) as db:
        waiting = list(
            await db.exec(
                select(WebhookEvent.id)
                .where(col(WebhookEvent.dispatched_at).is_(None))
                .order_by(col(WebhookEvent.id))
                .limit(batch)
            )
        )
        if not waiting:
            return []
        now = utcnow()
        # Claiming with a conditional UPDATE makes two dispatchers (two workers) never fan out the same event.
        claimed = await db.exec(
            update(WebhookEvent)
            .where(col(WebhookEvent.id).in_(waiting), col(WebhookEvent.dispatched_at).is_(None))
            .values(dispatched_at=now)
            .returning(col(WebhookEvent.id), col(WebhookEvent.type))
        )
        events = sorted(claimed.all())
        subscriptions = list(
            await db.exec(
                select(WebhookSubscription).where(
                    col(WebhookSubscription.active).is_(True), col(WebhookSubscription.deleted_at).is_(None)
                )
            )
        )
        deliveries = [
            WebhookDelivery(event_id=event_id, subscription_id=sub.id, next_attempt_at=now, created_at=now)
            for event_id, event_type in events
            for sub in subscriptions
            if sub.id is not None and (event_type in sub.events or "*" in sub.events)
        ]
        db.add_all(deliveries)
        await db.flush()
        return [d.id for d in deliveries if d.id is not None]


async def dispatch_pending(sessionmaker: SessionMaker, queue: ArqRedis, settings: Settings) -> int:
    """Fan out new events and enqueue their deliveries (plus any whose job was lost); returns how many enqueued."""
    new_ids = await fan_out(sessionmaker)
    async with sessionmaker() as db:
        lost = list(
            await db.exec(
                select(WebhookDelivery.id).where(
                    WebhookDelivery.status == "pending", col(WebhookDelivery.next_attempt_at) < utcnow() - LOST_AFTER
                )
            )
        )
    ids = sorted({*new_ids, *(i for i in lost if i is not None)})
    for delivery_id in ids:
        await enqueue_delivery(queue, settings, delivery_id)  # same job id: a no-op while the job is known
    return len(ids)


async def run_dispatcher(ctx: dict[str, Any]) -> None:
    """Background loop of every worker: drains the outbox every `webhook_dispatch_interval` seconds."""
    settings: Settings = ctx["settings"]
    while True:
        try:
            await dispatch_pending(ctx["sessionmaker"], ctx["redis"], settings)
        except asyncio.CancelledError:
            raise
        except Exception:  # a database or Redis hiccup: log, wait, try again
            log.exception("webhook_dispatch_failed")
        await asyncio.sleep(settings.webhook_dispatch_interval)


async def deliver_webhook(ctx: dict[str, Any], delivery_id: int) -> str:
    """One attempt of one delivery; raises arq Retry with backoff until delivered or the retry window ends."""
    settings: Settings = ctx["settings"]
    http: httpx.AsyncClient = ctx["http"]
    async with session_scope(ctx["sessionmaker"]) as db:
        delivery = await db.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.status != "pending":
            return delivery.status if delivery else "missing"
        subscription = await db.get(WebhookSubscription, delivery.subscription_id)
        event = await db.get(WebhookEvent, delivery.event_id)
        if subscription is None or event is None or subscription.deleted_at is not None or not subscription.active:
            delivery.status, delivery.last_error = "failed", "the subscription was removed or paused"
            db.add(delivery)
            return delivery.status
        url, secret, body = subscription.url, subscription.secret, event_body(event)
        event_type, attempt = event.type, delivery.attempts + 1

    # No database connection is held while waiting on the receiver.
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"Warmline-Webhooks/{__version__}",
        SIGNATURE_HEADER: sign(secret, int(time.time()), body),
        "Warmline-Event": event_type,
        "Warmline-Delivery": str(delivery_id),
    }
    started, status_code, error = time.perf_counter(), None, ""
    try:
        await check_target(url, allow_private=settings.webhook_allow_private_targets)
        response = await http.post(url, content=body, headers=headers, timeout=settings.webhook_timeout_seconds)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except InvalidInput as exc:
        error = f"target refused: {exc.detail}"[:1000]
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:1000]
    elapsed_ms = (time.perf_counter() - started) * 1000

    retry_in: float | None = None
    async with session_scope(ctx["sessionmaker"]) as db:
        delivery = await db.get(WebhookDelivery, delivery_id)
        assert delivery is not None
        now = utcnow()
        delivery.attempts, delivery.last_status_code, delivery.last_error = attempt, status_code, error
        db.add(
            WebhookAttempt(
                delivery_id=delivery_id,
                attempt=attempt,
                at=now,
                status_code=status_code,
                error=error,
                duration_ms=round(elapsed_ms, 2),
            )
        )
        if not error:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", now, None
        elif now - delivery.created_at >= timedelta(hours=settings.webhook_retry_hours):
            delivery.status, delivery.next_attempt_at = "failed", None
        else:
            retry_in = backoff(settings, attempt)
            delivery.next_attempt_at = now + timedelta(seconds=retry_in)
        db.add(delivery)
        final = delivery.status
    if retry_in is not None:
        raise Retry(defer=retry_in)
    log.info("webhook_delivery", delivery_id=delivery_id, status=final, attempts=attempt)
    return final


PRUNE_BATCH = 1000
DONE = ("delivered", "failed")


def prune_cutoff(settings: Settings, now: datetime) -> datetime:
    """Finished deliveries and their events older than this go; never inside the retry window (plus a margin), so a
    delivery's log stays readable, and redeliverable, for as long as it could still be retried."""
    keep = max(timedelta(days=settings.webhook_log_retention_days), timedelta(hours=settings.webhook_retry_hours + 24))
    return now - keep


async def prune_webhook_log(sessionmaker: SessionMaker, settings: Settings, *, now: datetime | None = None) -> int:
    """Delete finished (delivered or failed) deliveries older than the retention, with their attempts, and the
    outbox events left without deliveries; in batches, each its own transaction. Returns deliveries deleted."""
    cutoff = prune_cutoff(settings, now or utcnow())
    deleted = 0
    while True:
        async with session_scope(sessionmaker) as db:
            ids = list(
                await db.exec(
                    select(WebhookDelivery.id)
                    .where(col(WebhookDelivery.status).in_(DONE), col(WebhookDelivery.created_at) < cutoff)
                    .limit(PRUNE_BATCH)
                )
            )
            if not ids:
                break
            # A newer redelivery of an old delivery stays; it only loses the link to the row that goes.
            await db.exec(
                update(WebhookDelivery)  # type: ignore[call-overload]
                .where(col(WebhookDelivery.redelivery_of_id).in_(ids))
                .values(redelivery_of_id=None)
            )
            await db.exec(delete(WebhookAttempt).where(col(WebhookAttempt.delivery_id).in_(ids)))  # type: ignore[call-overload]
            await db.exec(delete(WebhookDelivery).where(col(WebhookDelivery.id).in_(ids)))  # type: ignore[call-overload]
            deleted += len(ids)
    async with session_scope(sessionmaker) as db:
        # Outbox rows: only once fanned out, past the retention, and with no delivery left (pending ones stay).
        await db.exec(
            delete(WebhookEvent).where(  # type: ignore[call-overload]
                col(WebhookEvent.dispatched_at) < cutoff,
                ~select(WebhookDelivery.id).where(WebhookDelivery.event_id == WebhookEvent.id).exists(),
            )
        )
    return deleted


async def prune_webhooks(ctx: dict[str, Any]) -> int:
    """arq cron: keep the webhook log and outbox to the retention (`webhook_log_retention_days`)."""
    deleted = await prune_webhook_log(ctx["sessionmaker"], ctx["settings"])
    if deleted:
        log.info("webhook_log_pruned", deliveries=deleted)
    return deleted


CRON_JOBS: list[Any] = [cron(prune_webhooks, minute={41}, run_at_startup=False, unique=True)]
