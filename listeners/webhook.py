"""Inbound mention webhook: other tools push mentions, signed with the shared secret and never accepted twice.

The sender signs `<timestamp>.<watch id>.<body>` with HMAC-SHA256 under CRM_WEBHOOK_SECRET and sends
`X-Warmline-Timestamp` (unix seconds) and `X-Warmline-Signature: sha256=<hex>`. Requests older or newer than
five minutes are refused, and each signature is remembered in Redis for twice that, so a captured request cannot
be replayed. The body is a JSON array of mention objects (or one object, or `{"mentions": [...]}`); bad objects
are quarantined and the rest stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from litestar import Controller, Request, post
from litestar.params import FromPath
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, ServiceUnavailable
from crm.http.deps import AppSettings, DbSession, Queue
from crm.models import Watch
from crm.queue import job_key
from listeners.base import PayloadError, RawMention
from listeners.ingest import ingest_batch
from listeners.intake import (
    LONE_SURROGATE,
    SURROGATE_ESCAPE,
    Rejected,
    has_lone_surrogate,
    load_payload,
    mention_from_record,
)
from listeners.schemas import MentionImportReport

MAX_WEBHOOK_BYTES = 5 * 1024 * 1024
TOLERANCE_SECONDS = 300
MAX_MENTIONS = 5000


def sign(secret: str, timestamp: int | str, watch_id: int, body: bytes) -> str:
    """The signature header value a sender computes (exposed for senders' tests and our own)."""
    message = f"{timestamp}.{watch_id}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, signature: str, watch_id: int, body: bytes, *, now: float) -> None:
    if not timestamp or not signature:
        raise NotAuthenticated("X-Warmline-Timestamp and X-Warmline-Signature headers are required")
    if not timestamp.isdigit():
        raise NotAuthenticated("X-Warmline-Timestamp must be unix seconds")
    if not hmac.compare_digest(sign(secret, timestamp, watch_id, body), signature.strip()):
        raise NotAuthenticated("the signature does not match the body")
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        raise NotAuthenticated(f"the timestamp is more than {TOLERANCE_SECONDS} seconds away from ours")


def records_of(body: bytes) -> list[RawMention | Rejected]:
    """Every mention object in the body, validated; one bad object is one rejection, never the whole body."""
    try:
        text = body.decode("utf-8")
        payload = load_payload(text, "the body", whole=False)
    except UnicodeDecodeError as exc:
        return [
            Rejected(0, f"the body is not JSON: not valid UTF-8 (byte {exc.start})", body.decode("utf-8", "replace"))
        ]
    except PayloadError as exc:
        return [Rejected(0, f"the body is not JSON: {exc}", body.decode("utf-8", "replace"))]
    if isinstance(payload, dict) and isinstance(payload.get("mentions"), list):
        payload = payload["mentions"]
    records = payload if isinstance(payload, list) else [payload]
    if len(records) > MAX_MENTIONS:
        raise InvalidInput(f"at most {MAX_MENTIONS} mentions per request")
    escaped = SURROGATE_ESCAPE.search(text) is not None
    items: list[RawMention | Rejected] = []
    for number, record in enumerate(records, start=1):
        # A lone surrogate cannot be stored as text: its body is kept escaped, and only that object is refused.
        unstorable = escaped and has_lone_surrogate(record)
        try:
            if unstorable:
                raise PayloadError(LONE_SURROGATE)
            items.append(mention_from_record(record))
        except PayloadError as exc:
            items.append(Rejected(number, str(exc), json.dumps(record, ensure_ascii=unstorable, default=str)))
    return items


async def _watch(session: AsyncSession, watch_id: int) -> Watch:
    watch = await session.get(Watch, watch_id)
    if watch is None or getattr(watch, "deleted_at", None) is not None:
        raise NotFound(f"watch {watch_id} does not exist")
    return watch


class MentionWebhookController(Controller):
    path = "/api/v1/webhooks"
    tags = ["mentions"]
    security = [{}]

    @post(
        "/mentions/{watch_id:int}",
        summary="Push mentions from another tool (HMAC-signed, replay-protected)",
        status_code=200,
        opt={"raw_body": ("application/json", 'An array of mention objects, one object, or {"mentions": [...]}')},
    )
    async def receive(
        self,
        request: Request[Any, Any, Any],
        session: DbSession,
        queue: Queue,
        settings: AppSettings,
        watch_id: FromPath[int],
    ) -> MentionImportReport:
        secret = settings.webhook_secret.get_secret_value()
        if not secret:
            raise ServiceUnavailable("the mention webhook is off: set CRM_WEBHOOK_SECRET to turn it on")
        body = await request.body()
        if len(body) > MAX_WEBHOOK_BYTES:
            raise InvalidInput(f"webhook bodies are limited to {MAX_WEBHOOK_BYTES} bytes")
        signature = request.headers.get("x-warmline-signature", "")
        verify(secret, request.headers.get("x-warmline-timestamp", ""), signature, watch_id, body, now=time.time())
        # First sight of this signature wins; the key outlives the timestamp window, so a replay always finds it.
        nonce = job_key(queue, "webhook-seen:" + hashlib.sha256(signature.encode()).hexdigest())
        if not await queue.set(nonce, b"1", nx=True, ex=2 * TOLERANCE_SECONDS):
            raise Conflict("this request was already received")
        watch = await _watch(session, watch_id)
        try:
            report = await ingest_batch(
                session, watch, records_of(body), source="webhook", queue=queue, settings=settings
            )
        except BaseException:
            # Let the sender retry the same request: if the batch did commit, the retry stores nothing twice.
            await queue.delete(nonce)
            raise
        return report.public()
