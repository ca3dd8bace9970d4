"""Idempotency-Key for every POST under /api/v1: the same key from the same caller replays the first response.

ASGI middleware, so no handler needs to know. The key is claimed in its own committed transaction before the
handler runs (a concurrent duplicate then gets 409), and the response is stored when the handler finishes; a
different body under a used key is 422. Keys are scoped to the API key that sent them and live
`idempotency_ttl_hours`; a claim left unfinished by a crashed process is taken over after STALE_AFTER.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

import structlog
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access.auth import authenticate_key, hash_api_key
from crm.db import SessionMaker
from crm.errors import NotAuthenticated
from crm.models import IdempotencyRecord, utcnow
from crm.settings import Settings

HEADER = b"idempotency-key"
MAX_KEY_LENGTH = 200
STALE_AFTER = timedelta(minutes=15)
PURGE_EVERY = 500  # claims
# Not stored: authentication and rate-limit answers say nothing about the request, and 409 is our own "busy".
NOT_REMEMBERED = frozenset({401, 403, 409, 429})
REPLAYED_HEADERS = frozenset({"content-type", "etag", "location", "last-modified"})
log = structlog.get_logger("crm.access.idempotency")


def serves(method: str, path: str) -> bool:
    """Whether a request may carry an Idempotency-Key (the OpenAPI document declares it on the same operations)."""
    return method == "POST" and path.startswith("/api/v1/")


def _header(scope: Scope, name: bytes) -> str:
    return next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == name), "")


def credential(scope: Scope) -> str:
    auth = _header(scope, b"authorization")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return _header(scope, b"x-api-key").strip()


def fingerprint(scope: Scope, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (scope["path"].encode(), scope.get("query_string", b""), body):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


async def purge_expired(db: AsyncSession, before: datetime) -> None:
    """Drop records past their TTL; run now and then from `claim`, so the table stays about a day's worth."""
    await db.exec(delete(IdempotencyRecord).where(col(IdempotencyRecord.created_at) < before))  # type: ignore[call-overload]
    await db.commit()


async def claim(
    sessionmaker: SessionMaker, owner: str, key: str, print_: str, ttl: timedelta
) -> tuple[str, IdempotencyRecord | None]:
    """('new', row) when this request owns the key; else ('replay', row), ('mismatch', None) or ('busy', None)."""
    for _ in range(3):
        async with sessionmaker() as db:
            now = utcnow()
            row = IdempotencyRecord(owner=owner, key=key, fingerprint=print_, created_at=now)
            db.add(row)
            try:
                await db.commit()
                if row.id is not None and row.id % PURGE_EVERY == 0:
                    await purge_expired(db, now - ttl)
                return "new", row
            except IntegrityError:
                await db.rollback()
            found = (
                await db.exec(
                    select(IdempotencyRecord).where(IdempotencyRecord.owner == owner, IdempotencyRecord.key == key)
                )
            ).first()
            if found is None:
                continue  # expired and removed meanwhile: claim again
            expired = found.created_at < now - ttl
            abandoned = found.status_code is None and found.created_at < now - STALE_AFTER
            if expired or abandoned:
                await db.exec(delete(IdempotencyRecord).where(col(IdempotencyRecord.id) == found.id))  # type: ignore[call-overload]
                await db.commit()
                continue
            if found.fingerprint != print_:
                return "mismatch", None
            if found.status_code is None:
                return "busy", None
            return "replay", found
    return "busy", None


async def caller_is_valid(engine: AsyncEngine, settings: Settings, presented: str) -> bool:
    try:
        await authenticate_key(engine, settings, presented)
    except NotAuthenticated:
        return False
    return True


async def finish(sessionmaker: SessionMaker, row_id: int, status: int, headers: dict[str, str], body: bytes) -> None:
    async with sessionmaker() as db:
        row = await db.get(IdempotencyRecord, row_id)
        if row is None:
            return
        text = None
        if status < 500 and status not in NOT_REMEMBERED:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if text is None:
            await db.delete(row)  # forget the key: a retry runs the request again
        else:
            row.status_code, row.response_headers, row.response_body = status, headers, text
            row.completed_at = utcnow()
            db.add(row)
        await db.commit()


async def send_problem(scope: Scope, send: Send, status: int, title: str, detail: str) -> None:
    body: dict[str, Any] = {
        "type": "urn:warmline:problem:" + ("idempotency-key-in-use" if status == 409 else "idempotency-key-reused"),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": scope["path"],
    }
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if request_id:
        body["request_id"] = request_id
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})  # type: ignore[arg-type,typeddict-item]
    await send({"type": "http.response.body", "body": payload})  # type: ignore[arg-type,typeddict-item]


def idempotency_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not serves(str(scope.get("method", "")), scope["path"]):  # type: ignore[comparison-overlap]
            await app(scope, receive, send)
            return
        key, presented = _header(scope, HEADER).strip(), credential(scope)
        if not key or not presented:
            await app(scope, receive, send)  # no key, or no caller to scope it to (the handler answers 401)
            return
        if len(key) > MAX_KEY_LENGTH:
            await send_problem(scope, send, 422, "Invalid input", f"Idempotency-Key is limited to {MAX_KEY_LENGTH}")
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        state = scope["litestar_app"].state  # type: ignore[typeddict-item]
        settings: Settings = state.settings
        delivered = False

        async def replay_body() -> ReceiveMessage:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        if not await caller_is_valid(state.engine, settings, presented):
            await app(scope, replay_body, send)  # a revoked key must not replay old answers: the handler says 401
            return
        owner = hash_api_key(settings, presented)
        outcome, row = await claim(
            state.sessionmaker, owner, key, fingerprint(scope, body), timedelta(hours=settings.idempotency_ttl_hours)
        )
        if outcome == "mismatch":
            await send_problem(scope, send, 422, "Invalid input", "this Idempotency-Key was used for another request")
            return
        if outcome == "busy":
            await send_problem(scope, send, 409, "Conflict", "a request with this Idempotency-Key is in progress")
            return
        assert row is not None and row.id is not None
        if outcome == "replay":
            assert row.status_code is not None
            payload = row.response_body.encode()
            headers = [(k.encode(), v.encode()) for k, v in row.response_headers.items()]
            headers += [(b"content-length", str(len(payload)).encode()), (b"idempotent-replayed", b"true")]
            await send({"type": "http.response.start", "status": row.status_code, "headers": headers})  # type: ignore[arg-type,typeddict-item]
            await send({"type": "http.response.body", "body": payload})  # type: ignore[arg-type,typeddict-item]
            return

        status, kept_headers, out = 500, {}, bytearray()

        async def capture(message: Message) -> None:
            nonlocal status, kept_headers
            if message["type"] == "http.response.start":
                status = message["status"]
                kept_headers = {
                    k.decode("latin-1").lower(): v.decode("latin-1")
                    for k, v in message.get("headers", [])
                    if k.decode("latin-1").lower() in REPLAYED_HEADERS
                }
            elif message["type"] == "http.response.body":
                out.extend(message.get("body", b""))
            await send(message)

        try:
            await app(scope, replay_body, capture)
        finally:
            try:
                await finish(state.sessionmaker, row.id, status, kept_headers, bytes(out))
            except Exception:  # the response is already out; a stale claim is taken over later
                log.exception("idempotency_finish_failed", key=key)

    return middleware
