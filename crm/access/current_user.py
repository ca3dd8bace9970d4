"""Who is calling: the `user` dependency every guarded route asks for, from an API key or a web session."""

from __future__ import annotations

from typing import Any

from litestar import Request
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access.auth import authenticate_key, presented_key
from crm.errors import NotAuthenticated, PermissionDenied
from crm.http.deps import Engine
from crm.http.ratelimit import STATE_KEY, spend
from crm.models import User
from crm.settings import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def provide_user(request: Request[Any, Any, Any], engine: Engine) -> User:
    """The authenticated caller, from an API key (Authorization: Bearer or X-API-Key) or a web session.

    It needs no request session (a remembered key costs no query, a lookup uses a short session of its own), so a
    route that does not ask for `session` opens none. Settings and the queue come from the app's state rather than
    as dependencies: Litestar resolves sibling dependencies in a task group, which costs more than this lookup.
    """
    state = request.app.state
    settings: Settings = state.settings
    key = presented_key(request)
    if key:
        user, api_key = await authenticate_key(engine, settings, key)
        request.state.api_key_id = api_key.id
        if request.method not in SAFE_METHODS and "write" not in api_key.scopes:
            raise PermissionDenied("this API key is read-only (it lacks the `write` scope)")
        request.state[STATE_KEY] = await spend(state.queue, settings.queue_name, api_key)
        return user
    web_session = request.scope.get("session")
    user_id = web_session.get("user_id") if isinstance(web_session, dict) else None
    if user_id:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            found = await session.get(User, int(user_id))
        if found is not None and found.is_active:
            return found
    if request.url.path.startswith("/api/"):  # sessions are not read under /api: only a key authenticates there
        raise NotAuthenticated("send an API key as `Authorization: Bearer <key>` (or `X-API-Key: <key>`)")
    raise NotAuthenticated("send an API key as `Authorization: Bearer <key>` or sign in")
