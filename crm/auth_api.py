"""Password sign-in for the web as JSON (`/auth/login`, `/auth/logout`, `/auth/session`): argon2-checked,
throttled per email, audited; the signed session cookie is the same one the board reads."""

from __future__ import annotations

from functools import cache
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import JSONBody
from sqlmodel import select

from crm import audit
from crm.auth import hash_password, verify_password
from crm.errors import NotAuthenticated
from crm.models import User
from crm.ratelimit import check_sign_in, sign_in_failed
from crm.schemas import LoginRequest, SessionPublic, UserPublic
from crm.web import AppSettings, DbSession, Queue


@cache
def _decoy_hash() -> str:
    return hash_password("decoy password, never anyone's")


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @get("/session", summary="Who is signed in on this browser session (also sets the CSRF cookie)")
    async def current(self, request: Request[Any, Any, Any], session: DbSession) -> SessionPublic:
        data = request.scope.get("session")
        user_id = data.get("user_id") if isinstance(data, dict) else None
        user = await session.get(User, int(user_id)) if user_id else None
        if user is None or not user.is_active:
            return SessionPublic(user=None)
        return SessionPublic(user=UserPublic.model_validate(user))

    @post("/login", summary="Sign in with email and password; sets the session cookie", status_code=200)
    async def login(
        self,
        request: Request[Any, Any, Any],
        session: DbSession,
        queue: Queue,
        settings: AppSettings,
        data: JSONBody[LoginRequest],
    ) -> UserPublic:
        email = data.email.strip().lower()
        await check_sign_in(queue, settings.queue_name, email)
        user = (await session.exec(select(User).where(User.email == email))).first()
        # An unknown email costs the same argon2 check as a wrong password, so timing does not reveal accounts.
        password_hash = user.password_hash if user is not None else _decoy_hash()
        if not verify_password(password_hash, data.password) or user is None or not user.is_active:
            await sign_in_failed(queue, settings.queue_name, email)
            audit.record(session, "auth.sign_in_failed", actor=email, object_type="user")
            await session.commit()  # the failure is recorded even though the request ends in 401
            raise NotAuthenticated("wrong email or password")
        request.set_session({"user_id": user.id})
        audit.record(
            session, "auth.signed_in", actor=user.email, actor_user_id=user.id, object_type="user", object_id=user.id
        )
        return UserPublic.model_validate(user)

    @post("/logout", summary="Sign out of this browser session", status_code=204)
    async def logout(self, request: Request[Any, Any, Any]) -> None:
        request.clear_session()
