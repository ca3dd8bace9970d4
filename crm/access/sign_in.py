"""Password sign-in, the one way in for both doors: the JSON `POST /auth/login` and the board's form `POST /login`.

Throttled per email (crm.http.ratelimit), argon2-checked at the same cost whether or not the email exists, audited on
every outcome, and it starts the signed browser session both doors share.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from litestar import Request
from redis.asyncio import Redis
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access import audit
from crm.access.auth import hash_password, verify_password
from crm.errors import NotAuthenticated, RateLimited
from crm.http.ratelimit import check_sign_in, sign_in_failed
from crm.models import User
from crm.settings import Settings


@cache
def _decoy_hash() -> str:
    return hash_password("decoy password, never anyone's")


async def sign_in(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    queue: Redis,
    settings: Settings,
    email: str,
    password: str,
) -> User:
    """The user for these credentials, now signed in on this browser session.

    Raises RateLimited (429, Retry-After) once an email has too many recent failures, even for the right password,
    and NotAuthenticated for a wrong email or password (without saying which). Refusals are audited and committed
    here, so they stay recorded although the request then ends in an error.
    """
    email = email.strip().lower()
    try:
        await check_sign_in(queue, settings.queue_name, email)
    except RateLimited:
        audit.record(session, "auth.sign_in_throttled", actor=email or "unknown", object_type="user")
        await session.commit()
        raise
    user = (await session.exec(select(User).where(User.email == email))).first()
    # An unknown email costs the same argon2 check as a wrong password, so timing does not reveal accounts.
    password_hash = user.password_hash if user is not None else _decoy_hash()
    if not verify_password(password_hash, password) or user is None or not user.is_active:
        await sign_in_failed(queue, settings.queue_name, email)
        audit.record(session, "auth.sign_in_failed", actor=email or "unknown", object_type="user")
        await session.commit()
        raise NotAuthenticated("wrong email or password")
    request.set_session({"user_id": user.id})
    audit.record(
        session, "auth.signed_in", actor=user.email, actor_user_id=user.id, object_type="user", object_id=user.id
    )
    return user
