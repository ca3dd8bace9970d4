"""Request plumbing shared by every route: the session, queue, engine and settings providers, request ids, and the
check that keeps a stored URL from becoming a script link on a page. The caller comes from crm.access.current_user."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import structlog
from arq.connections import ArqRedis
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.db import roll_back
from crm.models import User
from crm.ops.logs import logs_at
from crm.settings import Settings

log = structlog.get_logger("crm.http.deps")

# Handler parameter types: Litestar injects these by name (declared explicitly, as Litestar 3 will require).
DbSession = NamedDependency[AsyncSession]
Queue = NamedDependency[ArqRedis]
Engine = NamedDependency[AsyncEngine]
AppSettings = NamedDependency[Settings]
CurrentUser = NamedDependency[User]
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


async def provide_session(state: State) -> AsyncIterator[AsyncSession]:
    """One transaction per request: commit when the handler succeeds, roll back when it raises."""
    async with state.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException as exc:
            await roll_back(session, exc)
            raise


def provide_queue(state: State) -> ArqRedis:
    queue: ArqRedis = state.queue
    return queue


def provide_engine(state: State) -> AsyncEngine:
    engine: AsyncEngine = state.engine
    return engine


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Binds a request id (from X-Request-ID or new) to every log line and echoes it in the response."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await app(scope, receive, send)
            return
        given = next((v.decode() for k, v in scope.get("headers", []) if k == b"x-request-id"), "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            if logs_at(logging.INFO):  # at WARNING (production) the line is not even built
                log.info(
                    "request",
                    method=scope.get("method", ""),
                    path=scope["path"],
                    status=status,
                    ms=round((time.perf_counter() - started) * 1000, 2),
                )
            structlog.contextvars.unbind_contextvars("request_id")

    return middleware


WEB_SCHEMES = frozenset({"http", "https"})


def web_link(url: str | None) -> str | None:
    """The URL when it is an absolute http(s) address, fit for an href; None for anything else.

    URLs on pages come from mentions and accounts, that is from strangers on the internet: `javascript:`, `data:`,
    `vbscript:`, relative or malformed addresses are shown as text, never as a link. Whitespace and control
    characters anywhere refuse the URL, since browsers drop them inside a scheme ("java\tscript:").
    """
    if not url:
        return None
    if any(ord(char) <= 32 or ord(char) == 127 for char in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in WEB_SCHEMES or not parts.hostname:
        return None
    return url
