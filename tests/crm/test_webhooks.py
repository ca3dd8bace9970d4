from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from crm.contacts.accounts import open_lead, upsert_account
from crm.db import make_engine, make_sessionmaker, session_scope
from crm.integrations.outbox import emit
from crm.integrations.webhooks import backoff, dispatch_pending, prune_webhook_log, prune_webhooks, verify
from crm.models import (
    Lead,
    Role,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
    utcnow,
)
from crm.queue import create_queue
from crm.settings import Settings
from crm.worker import create_worker, worker_options
from tests.conftest import Caller, make_caller


@dataclass
class Receiver:
    """A real HTTP endpoint on 127.0.0.1 that records what it gets and answers with `status`."""

    status: int = 200
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append((headers, body))
                writer.write(f"HTTP/1.1 {self.status} X\r\ncontent-length: 2\r\n\r\nok".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    server = await asyncio.start_server(found.handle, "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    async with server:
        yield found
        server.close()


def fast(settings: Settings, **overrides: Any) -> Settings:
    values = {"webhook_backoff_seconds": 0.05, "webhook_backoff_max_seconds": 0.2, "webhook_timeout_seconds": 2.0}
    return settings.model_copy(update={**values, **overrides})


async def deliver_all(settings: Settings) -> int:
    """What a worker does: drain the outbox into deliveries, then run the delivery jobs (burst)."""
    queue = await create_queue(settings)
    try:
        enqueued = await dispatch_pending(make_sessionmaker_for(settings), queue, settings)
    finally:
        await queue.aclose()
    worker = create_worker(settings, burst=True, handle_signals=False, poll_delay=0.01, cron_jobs=[])
    try:
        await worker.main()
    finally:
        await worker.close()
    return enqueued


_engines: list[Any] = []


def make_sessionmaker_for(settings: Settings) -> Any:
    engine = make_engine(settings)
    _engines.append(engine)
    return make_sessionmaker(engine)


@pytest.fixture(autouse=True)
async def _dispose_engines() -> AsyncIterator[None]:
    yield
    while _engines:
        await _engines.pop().dispose()


async def subscribe(client: AsyncTestClient[Any], admin: Caller, url: str, events: list[str]) -> dict[str, Any]:
    created = await client.post("/api/v1/webhooks", json={"url": url, "events": events}, headers=admin.headers)
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def new_lead(engine: AsyncEngine, handle: str = "ana") -> int:
    async with session_scope(make_sessionmaker(engine)) as db:
        account = await upsert_account(db, "file", handle, display_name=handle)
        assert account.contact_id is not None
        lead, _ = await open_lead(db, account.contact_id, None, platform="file")
        assert lead.id is not None
        return lead.id


async def test_subscriptions_are_admin_only_crud_and_audited(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings
) -> None:
    sub = await subscribe(client, admin, "https://example.org/hook", ["lead.created"])
    assert sub["secret"].startswith("whsec_")
    h = admin.headers
    listed = (await client.get("/api/v1/webhooks", headers=h)).json()
    assert [(s["id"], s["secret"]) for s in listed] == [(sub["id"], None)]
    patched = await client.patch(f"/api/v1/webhooks/{sub['id']}", json={"events": ["*"], "active": False}, headers=h)
    assert patched.json()["events"] == ["*"] and patched.json()["active"] is False
    assert (await client.delete(f"/api/v1/webhooks/{sub['id']}", headers=h)).status_code == 204
    assert (await client.get(f"/api/v1/webhooks/{sub['id']}", headers=h)).status_code == 404
    bad = await client.post("/api/v1/webhooks", json={"url": "ftp://x.org/a", "events": ["nope"]}, headers=h)
    assert bad.status_code == 400
    rep = await make_caller(settings, "rep@example.com", Role.SALES_REP)
    assert (await client.get("/api/v1/webhooks", headers=rep.headers)).status_code == 403
    actions = [e["action"] for e in (await client.get("/api/v1/audit?action=webhook", headers=h)).json()["items"]]
    assert actions == ["webhook.deleted", "webhook.updated", "webhook.created"]


async def test_a_stage_change_is_delivered_signed_to_a_local_receiver(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings, engine: AsyncEngine, receiver: Receiver
) -> None:
    lead_id = await new_lead(engine)
    sub = await subscribe(client, admin, receiver.url, ["lead.stage_changed"])
    moved = await client.post(f"/api/v1/leads/{lead_id}/stage", json={"to_stage": "contacted"}, headers=admin.headers)
    assert moved.status_code == 200

    assert await deliver_all(fast(settings)) == 1
    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    assert verify(sub["secret"], headers["warmline-signature"], body)
    assert not verify("whsec_wrong", headers["warmline-signature"], body)
    assert not verify(sub["secret"], headers["warmline-signature"], body + b" ")
    event = json.loads(body)
    assert event["type"] == "lead.stage_changed" and headers["warmline-event"] == "lead.stage_changed"
    assert event["data"]["lead_id"] == lead_id
    assert (event["data"]["from_stage"], event["data"]["stage"]) == ("new", "contacted")

    log = (await client.get(f"/api/v1/webhooks/{sub['id']}/deliveries", headers=admin.headers)).json()
    assert [(d["status"], d["attempts"], d["log"][0]["status_code"]) for d in log] == [("delivered", 1, 200)]
    assert await deliver_all(fast(settings)) == 0  # nothing left: no second delivery


async def test_filters_pick_events_and_a_wildcard_gets_all(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings, engine: AsyncEngine, receiver: Receiver
) -> None:
    await subscribe(client, admin, receiver.url, ["*"])
    await subscribe(client, admin, receiver.url + "?only=sent", ["message.sent"])
    lead_id = await new_lead(engine)
    async with session_scope(make_sessionmaker(engine)) as db:
        lead = await db.get(Lead, lead_id)
        assert lead is not None
        lead.owner_id = admin.user.id
        db.add(lead)
    await deliver_all(fast(settings))
    types = sorted(json.loads(body)["type"] for _, body in receiver.requests)
    assert types == ["lead.assigned", "lead.created"]


async def test_a_failing_receiver_is_retried_with_growing_delays_then_redelivered_by_hand(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings, engine: AsyncEngine, receiver: Receiver
) -> None:
    receiver.status = 500
    sub = await subscribe(client, admin, receiver.url, ["lead.created"])
    await new_lead(engine)
    # Give up after ~3 s: long enough for three or more attempts even on a loaded CI machine.
    quick = fast(settings, webhook_retry_hours=3 / 3600)
    await deliver_all(quick)

    deliveries = (await client.get(f"/api/v1/webhooks/{sub['id']}/deliveries", headers=admin.headers)).json()
    assert len(deliveries) == 1
    failed = deliveries[0]
    assert failed["status"] == "failed" and failed["attempts"] >= 3 and failed["last_status_code"] == 500
    assert len(receiver.requests) == failed["attempts"]
    async with session_scope(make_sessionmaker(engine)) as db:
        attempts = list(
            await db.exec(
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id == failed["id"])
                .order_by(col(WebhookAttempt.attempt))
            )
        )
    gaps = [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(attempts)]
    assert all(gap >= backoff(quick, n + 1) * 0.9 for n, gap in enumerate(gaps)), gaps
    assert [backoff(quick, n) for n in (1, 2, 3, 4)] == [0.05, 0.1, 0.2, 0.2]

    receiver.status = 204
    again = await client.post(f"/api/v1/webhooks/deliveries/{failed['id']}/redeliver", headers=admin.headers)
    assert again.status_code == 201, again.text
    worker = create_worker(quick, burst=True, handle_signals=False, poll_delay=0.01, cron_jobs=[])
    try:
        await worker.main()
    finally:
        await worker.close()
    redelivered = (await client.get(f"/api/v1/webhooks/deliveries/{again.json()['id']}", headers=admin.headers)).json()
    assert (redelivered["status"], redelivered["redelivery_of_id"]) == ("delivered", failed["id"])
    assert receiver.requests[-1][0]["warmline-delivery"] == str(again.json()["id"])


async def test_events_exist_only_for_committed_transactions(settings: Settings, engine: AsyncEngine) -> None:
    async with make_sessionmaker(engine)() as db:
        emit(db, "mention.matched", {"mention_id": 1})
        await db.flush()
        await db.rollback()
    async with session_scope(make_sessionmaker(engine)) as db:
        assert list(await db.exec(select(WebhookEvent))) == []
    with pytest.raises(ValueError, match="unknown webhook event"):
        emit(db, "lead.exploded", {})


async def test_sending_and_replying_emit_message_and_stage_events_in_the_outbox(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine
) -> None:
    from tests.crm.test_privacy import lead_with_conversation

    async with session_scope(make_sessionmaker(engine)) as db:  # the bulk mention path writes subscribed types only
        db.add(WebhookSubscription(url="https://hooks.example.org/in", events=["*"], secret="s" * 32))
    lead = await lead_with_conversation(client, admin)
    async with session_scope(make_sessionmaker(engine)) as db:
        events = list(await db.exec(select(WebhookEvent).order_by(col(WebhookEvent.id))))
    kinds = [e.type for e in events]
    for expected in ("lead.created", "mention.matched", "message.sent", "message.replied", "lead.stage_changed"):
        assert expected in kinds, kinds
    replied = next(e for e in events if e.type == "message.replied")
    assert replied.payload["lead_id"] == lead["id"] and "body" not in replied.payload
    moves = [(e.payload["from_stage"], e.payload["stage"]) for e in events if e.type == "lead.stage_changed"]
    assert moves == [("new", "contacted"), ("contacted", "replied")]


async def test_a_webhook_to_an_internal_address_is_refused_unless_the_operator_allows_it() -> None:
    from crm.errors import InvalidInput
    from crm.integrations.egress import check_target

    for url in (
        "http://127.0.0.1:9/hook",
        "http://10.1.2.3/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest",
    ):
        with pytest.raises(InvalidInput, match="non-public address"):
            await check_target(url, allow_private=False)
        await check_target(url, allow_private=True)
    await check_target("http://93.184.215.14/hook", allow_private=False)
    with pytest.raises(InvalidInput, match="http"):
        await check_target("file:///etc/passwd", allow_private=True)


async def test_finished_deliveries_older_than_the_retention_are_pruned_with_their_attempts_and_events(
    settings: Settings, engine: AsyncEngine
) -> None:
    now = utcnow()
    kept_settings = settings.model_copy(update={"webhook_log_retention_days": 7, "webhook_retry_hours": 24})
    sessionmaker = make_sessionmaker(engine)
    ages = {  # name: (status, age in days)
        "old delivered": ("delivered", 10),
        "old failed": ("failed", 8),
        "old pending": ("pending", 10),
        "recent delivered": ("delivered", 3),
        "old, redelivered lately": ("delivered", 9),
        "the recent redelivery": ("delivered", 1),
    }
    ids: dict[str, int] = {}
    async with session_scope(sessionmaker) as db:
        sub = WebhookSubscription(url="http://127.0.0.1:9/hook", events=["*"], secret="s")
        db.add(sub)
        await db.flush()
        for name, (status, days) in ages.items():
            at = now - timedelta(days=days)
            event = WebhookEvent(type="lead.created", payload={}, created_at=at, dispatched_at=at)
            db.add(event)
            await db.flush()
            assert event.id is not None and sub.id is not None
            delivery = WebhookDelivery(event_id=event.id, subscription_id=sub.id, status=status, created_at=at)
            if name == "the recent redelivery":
                delivery.redelivery_of_id = ids["old, redelivered lately"]
            db.add(delivery)
            await db.flush()
            assert delivery.id is not None
            db.add(WebhookAttempt(delivery_id=delivery.id, attempt=1, at=at, status_code=200))
            ids[name] = delivery.id
        lonely = WebhookEvent(type="lead.created", payload={}, created_at=now - timedelta(days=10))
        lonely.dispatched_at = lonely.created_at  # fanned out when no subscription wanted it
        db.add(lonely)

    assert await prune_webhook_log(sessionmaker, kept_settings, now=now) == 3

    async with sessionmaker() as db:
        left = {d.id: d for d in await db.exec(select(WebhookDelivery))}
        attempts = {a.delivery_id for a in await db.exec(select(WebhookAttempt))}
        events = {e.id for e in await db.exec(select(WebhookEvent))}
    gone = {"old delivered", "old failed", "old, redelivered lately"}
    assert set(left) == {ids[name] for name in ages if name not in gone}
    assert attempts == set(left)
    assert events == {d.event_id for d in left.values()}
    assert left[ids["the recent redelivery"]].redelivery_of_id is None


async def test_the_prune_never_cuts_into_the_retry_window(settings: Settings, engine: AsyncEngine) -> None:
    now = utcnow()
    short = settings.model_copy(update={"webhook_log_retention_days": 0.5, "webhook_retry_hours": 36})
    sessionmaker = make_sessionmaker(engine)
    async with session_scope(sessionmaker) as db:
        sub = WebhookSubscription(url="http://127.0.0.1:9/hook", events=["*"], secret="s")
        db.add(sub)
        await db.flush()
        for days in (1, 2, 3):  # the window is 36 h of retries plus a day: 2.5 days
            at = now - timedelta(days=days)
            event = WebhookEvent(type="lead.created", payload={}, created_at=at, dispatched_at=at)
            db.add(event)
            await db.flush()
            assert event.id is not None and sub.id is not None
            db.add(WebhookDelivery(event_id=event.id, subscription_id=sub.id, status="failed", created_at=at))

    assert await prune_webhook_log(sessionmaker, short, now=now) == 1
    async with sessionmaker() as db:
        ages = sorted(round((now - d.created_at) / timedelta(days=1)) for d in await db.exec(select(WebhookDelivery)))
    assert ages == [1, 2]


async def test_workers_run_the_prune_hourly(settings: Settings) -> None:
    jobs = worker_options(settings)["cron_jobs"]
    assert [job.coroutine for job in jobs if job.coroutine is prune_webhooks] == [prune_webhooks]
