"""Password sign-in for the web as JSON (`/auth/login`, `/auth/logout`, `/auth/session`): throttled, checked and
audited by crm.access.sign_in, as the board's form is; the signed session cookie is the same one the board reads."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import JSONBody

from crm.access.sign_in import sign_in
from crm.http.deps import AppSettings, DbSession, Queue
from crm.models import User
from crm.schemas import LoginRequest, SessionPublic, UserPublic


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
        user = await sign_in(request, session, queue, settings, data.email, data.password)
        return UserPublic.model_validate(user)

    @post("/logout", summary="Sign out of this browser session", status_code=204)
    async def logout(self, request: Request[Any, Any, Any]) -> None:
        request.clear_session()
