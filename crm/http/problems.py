"""RFC 9457 problem details: every error leaves the API as application/problem+json, never a traceback."""

from __future__ import annotations

from typing import Any

import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from crm.errors import WarmlineError

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger("crm.http.problems")


def problem(
    request: Request[Any, Any, Any],
    status: int,
    title: str,
    detail: str,
    *,
    slug: str | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": f"urn:warmline:problem:{slug}" if slug else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if request_id:
        body["request_id"] = request_id
    if extra:
        body.update({k: v for k, v in extra.items() if k not in body})
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def warmline_error(request: Request[Any, Any, Any], exc: WarmlineError) -> Response[dict[str, Any]]:
    return problem(request, exc.status, exc.title, exc.detail, slug=exc.slug, extra=exc.extra, headers=exc.headers)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    if exc.status_code >= 500:
        log.error("http_error", status=exc.status_code, detail=exc.detail)
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationException) and exc.extra:
        extra["errors"] = exc.extra
    elif isinstance(exc.extra, dict):
        extra.update(exc.extra)
    title = {
        400: "Bad request",
        401: "Authentication required",
        403: "Permission denied",
        404: "Not found",
        405: "Method not allowed",
        413: "Payload too large",
        415: "Unsupported media type",
        429: "Too many requests",
    }.get(exc.status_code, "Error")
    slug = "invalid-input" if isinstance(exc, ValidationException) else None
    return problem(request, exc.status_code, title, exc.detail, slug=slug, extra=extra, headers=exc.headers)


def integrity_error(request: Request[Any, Any, Any], exc: IntegrityError) -> Response[dict[str, Any]]:
    log.info("integrity_error", error=str(exc.orig)[:200])
    return problem(request, 409, "Conflict", "the change conflicts with an existing record", slug="conflict")


def unstorable_value(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    # A value the database cannot hold (an id past its integer range, a NUL character in text) is the caller's error.
    log.info("unstorable_value", error=str(getattr(exc, "orig", exc))[:200])
    return problem(
        request,
        422,
        "Invalid input",
        "a value is out of range or contains characters that cannot be stored",
        slug="invalid-input",
    )


def database_error(request: Request[Any, Any, Any], exc: DBAPIError) -> Response[dict[str, Any]]:
    if exc.connection_invalidated:
        # The database dropped the connection (restart, failover); the pool reconnects, so a retry will do.
        log.warning("database_connection_lost", path=request.url.path)
        return problem(
            request,
            503,
            "Database unavailable",
            "the database connection was lost; retry",
            headers={"Retry-After": "1"},
        )
    # asyncpg reports bad parameter values as a plain DBAPIError: out of range before PostgreSQL sees them, or a
    # "data exception" (SQLSTATE class 22, e.g. a NUL character) from the server. Both are the caller's input.
    sqlstate = str(getattr(exc.orig, "sqlstate", "") or "")
    if sqlstate.startswith("22") or "invalid input for query argument" in str(exc.orig):
        return unstorable_value(request, exc)
    return unexpected_error(request, exc)


def statement_error(request: Request[Any, Any, Any], exc: StatementError) -> Response[dict[str, Any]]:
    # A bind parameter that fails on its way to SQL, e.g. a far-past instant in a body that overflows into UTC.
    if isinstance(exc.orig, OverflowError):
        return unstorable_value(request, exc)
    return unexpected_error(request, exc)


def unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled_error", path=request.url.path)
    return problem(request, 500, "Internal error", "an unexpected error occurred; it has been logged", slug="internal")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    WarmlineError: warmline_error,
    HTTPException: http_error,
    IntegrityError: integrity_error,
    DataError: unstorable_value,
    DBAPIError: database_error,
    StatementError: statement_error,
    OverflowError: unstorable_value,
    Exception: unexpected_error,
}


def middleware_refusals(app: ASGIApp) -> ASGIApp:
    """Answer refusals raised by Litestar's own middleware (CSRF) here, inside the request log and the request id.

    Litestar runs its CSRF check inside our middleware, and its refusal is an exception that would travel out
    through them: the request line said 500 and the response had no request id. Innermost in the app's list, this
    turns it into the problem response before any of ours sees it, logged as a warning without a traceback.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await app(scope, receive, tracked)
        except HTTPException as exc:
            if started or scope["type"] != "http" or exc.status_code >= 500:  # type: ignore[comparison-overlap]
                raise
            log.warning("request_refused", status=exc.status_code, detail=exc.detail, path=scope["path"])
            request: Request[Any, Any, Any] = scope["litestar_app"].request_class(scope, receive, send)  # type: ignore[typeddict-item]
            await http_error(request, exc).to_asgi_response(app=None, request=request)(scope, receive, send)

    return middleware


__all__ = ["EXCEPTION_HANDLERS", "PROBLEM_JSON", "MediaType", "problem"]
