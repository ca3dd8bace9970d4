"""Who is calling: API keys (HMAC-hashed at rest, shown once) and passwords (argon2) resolve to a User."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from litestar.connection import ASGIConnection
from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.errors import NotAuthenticated
from crm.models import ApiKey, Role, User, utcnow
from crm.settings import Settings

KEY_PREFIX = "wl"
_hasher = PasswordHasher()


@dataclass(frozen=True)
class NewApiKey:
    row: ApiKey
    plaintext: str


def hash_api_key(settings: Settings, plaintext: str) -> str:
    # Keys are 256-bit random strings, so a keyed SHA-256 is enough; argon2 would only slow every request.
    return hmac.new(settings.secret_key.get_secret_value().encode(), plaintext.encode(), hashlib.sha256).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


async def create_user(
    session: AsyncSession,
    email: str,
    *,
    role: Role = Role.SALES_REP,
    name: str = "",
    password: str | None = None,
    team_id: int | None = None,
) -> User:
    user = User(
        email=email.strip().lower(),
        name=name,
        role=role.value,
        team_id=team_id,
        password_hash=hash_password(password) if password else None,
    )
    session.add(user)
    await session.flush()
    return user


async def create_api_key(
    session: AsyncSession,
    settings: Settings,
    user: User,
    name: str,
    *,
    scopes: list[str] | None = None,
    rate_limit_per_minute: int = 600,
) -> NewApiKey:
    """Mint a key; the plaintext is returned once and never stored."""
    assert user.id is not None
    prefix = secrets.token_hex(4)
    plaintext = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        user_id=user.id,
        name=name,
        prefix=prefix,
        key_hash=hash_api_key(settings, plaintext),
        scopes=scopes or ["read", "write"],
        rate_limit_per_minute=rate_limit_per_minute,
    )
    session.add(row)
    await session.flush()
    return NewApiKey(row=row, plaintext=plaintext)


def presented_key(connection: ASGIConnection) -> str | None:  # type: ignore[type-arg]
    header = connection.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return connection.headers.get("x-api-key")


# A verified key is remembered in this process for this long, so most API requests authenticate without a query.
# The price: a key revoked, or a user disabled or changed, in ANOTHER process (a second web process, the CLI) may
# still be accepted here for up to this many seconds. Changes made through this process's sessions apply at once.
AUTH_CACHE_SECONDS = 5.0
AUTH_CACHE_MAX = 10_000
# last_used_at is written at most this often per key (and process), so reads do not each cost a write.
LAST_USED_EVERY = timedelta(minutes=1)
_AUTH_CHANGED = "warmline.auth_rows_changed"


@dataclass(frozen=True)
class _Verified:
    user: dict[str, Any]
    key: dict[str, Any]
    until: float  # time.monotonic() deadline


# Keyed by the key's HMAC digest, so no plaintext key is kept in memory.
_verified: dict[str, _Verified] = {}
# Lookups under way, by digest: requests that find their key expired at the same moment share one lookup instead of
# each taking a pooled connection (under load that made the pool open and close connections every few seconds).
_in_flight: dict[str, asyncio.Task[_Verified]] = {}
# Bumped by forget_verified_keys, so a lookup that started before a change does not store what it read.
_generation = 0


def forget_verified_keys() -> None:
    """Drop every remembered key (after a revocation, a user change, or in tests)."""
    global _generation
    _generation += 1
    _verified.clear()
    _in_flight.clear()


def _columns(row: Any, model: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in model.model_fields}


async def authenticate_key(engine: AsyncEngine, settings: Settings, plaintext: str) -> tuple[User, ApiKey]:
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        raise NotAuthenticated("malformed API key")
    digest = hash_api_key(settings, plaintext)
    remembered = _verified.get(digest)
    if remembered is None or remembered.until <= time.monotonic():
        remembered = await _look_up_once(engine, parts[1], digest)
    # A fresh snapshot per request (never one shared object), built without the ORM's per-object setup
    # (~100 us each): nothing adds the caller to a session, and one that tried would fail loudly.
    return User.model_construct(**remembered.user), ApiKey.model_construct(**remembered.key)


async def _look_up_once(engine: AsyncEngine, prefix: str, digest: str) -> _Verified:
    task = _in_flight.get(digest)
    if task is None or task.get_loop() is not asyncio.get_running_loop():
        task = asyncio.ensure_future(_look_up(engine, prefix, digest))
        _in_flight[digest] = task
        task.add_done_callback(partial(_landed, digest))
    # Shielded: a caller that goes away (client disconnect) does not cancel the lookup the others wait for.
    return await asyncio.shield(task)


async def _look_up(engine: AsyncEngine, prefix: str, digest: str) -> _Verified:
    generation = _generation
    user, key = await _verify(engine, prefix, digest)
    verified = _Verified(_columns(user, User), _columns(key, ApiKey), time.monotonic() + AUTH_CACHE_SECONDS)
    if generation == _generation:
        if len(_verified) >= AUTH_CACHE_MAX:
            _verified.clear()
        _verified[digest] = verified
    return verified


def _landed(digest: str, task: asyncio.Task[_Verified]) -> None:
    if _in_flight.get(digest) is task:
        del _in_flight[digest]
    if not task.cancelled():
        task.exception()  # retrieved here too, so a refusal nobody awaited any more is not logged as lost


async def _verify(engine: AsyncEngine, prefix: str, digest: str) -> tuple[User, ApiKey]:
    """Look the key up and check it; in a short session of its own, so the request needs no session for it (a
    read-only request then needs no transaction) and the last-used write commits even if the request fails."""
    async with AsyncSession(engine, expire_on_commit=False) as own:
        # Key and user in one round trip.
        found = (
            await own.exec(
                select(ApiKey, User).join(User, col(User.id) == col(ApiKey.user_id)).where(ApiKey.prefix == prefix)
            )
        ).first()
        key, user = found if found is not None else (None, None)
        if key is None or key.revoked_at is not None or not hmac.compare_digest(key.key_hash, digest):
            raise NotAuthenticated("unknown or revoked API key")
        if user is None or not user.is_active:
            raise NotAuthenticated("the key's user is disabled")
        now = utcnow()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_EVERY:
            # A Core UPDATE, not a flush: a flushed ApiKey change means "forget verified keys" (below), which would
            # also drop the entry this lookup is about to store.
            await own.exec(update(ApiKey).where(col(ApiKey.id) == key.id).values(last_used_at=now))  # type: ignore[call-overload]
            await own.commit()
            key.last_used_at = now  # after the commit, so nothing flushes it again
        return user, key


@event.listens_for(Session, "after_flush")
def _notice_auth_changes(session: Session, _flush_context: Any) -> None:
    # Revoking a key, disabling a user or changing a role through any session of this process applies to the next
    # request: forget now, and again at commit (a request may re-read the old row between flush and commit).
    if any(isinstance(obj, ApiKey | User) for obj in (*session.dirty, *session.deleted)):
        session.info[_AUTH_CHANGED] = True
        forget_verified_keys()


@event.listens_for(Session, "after_commit")
def _forget_after_commit(session: Session) -> None:
    if session.info.pop(_AUTH_CHANGED, False):
        forget_verified_keys()
