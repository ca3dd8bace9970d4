"""Who is calling: API keys (HMAC-hashed at rest, shown once) and passwords (argon2) resolve to a User."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from litestar.connection import ASGIConnection
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


async def authenticate_key(session: AsyncSession, settings: Settings, plaintext: str) -> tuple[User, ApiKey]:
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        raise NotAuthenticated("malformed API key")
    # Key and user in one round trip: this runs on every API request.
    found = (
        await session.exec(
            select(ApiKey, User).join(User, col(User.id) == col(ApiKey.user_id)).where(ApiKey.prefix == parts[1])
        )
    ).first()
    key, user = found if found is not None else (None, None)
    if (
        key is None
        or key.revoked_at is not None
        or not hmac.compare_digest(key.key_hash, hash_api_key(settings, plaintext))
    ):
        raise NotAuthenticated("unknown or revoked API key")
    if user is None or not user.is_active:
        raise NotAuthenticated("the key's user is disabled")
    now = utcnow()
    # Recorded at most once a minute, so reads do not each cost a write.
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        key.last_used_at = now
        session.add(key)
    return user, key
