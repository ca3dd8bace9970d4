"""The OpenAPI document's error side: every operation declares the RFC 9457 problem responses it can return."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.openapi.datastructures import ResponseSpec
from litestar.routes import HTTPRoute
from pydantic import ConfigDict
from sqlmodel import SQLModel

from crm.problems import PROBLEM_JSON


class ProblemDetails(SQLModel):
    """An RFC 9457 problem document; some problems add members (`errors`, `current_etag`, ...)."""

    model_config = ConfigDict(extra="allow")  # type: ignore[assignment]

    type: str
    title: str
    status: int
    detail: str
    instance: str
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = None


COMMON = {
    400: "The request is malformed or fails validation",
    401: "No valid API key or session",
    403: "The caller may see the object but not do this",
    404: "The object does not exist or is not visible to the caller",
    405: "Method not allowed",
    422: "Invalid input",
    429: "Rate limit exceeded (see Retry-After and RateLimit-* headers)",
    500: "Unexpected error",
}
WRITES = {
    409: "Conflicts with the current state (duplicate, forbidden stage move, ...)",
    412: "If-Match names an outdated version",
    413: "Body too large",
    415: "Unsupported media type",
}


def _spec(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=ProblemDetails, description=description, media_type=PROBLEM_JSON, generate_examples=False
    )


def document_problems(app: Litestar) -> None:
    """Add the problem responses to every route handler that does not declare its own for that status."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.include_in_schema:
                continue
            wanted = dict(COMMON)
            if handler.http_methods & {"POST", "PUT", "PATCH", "DELETE"}:
                wanted.update(WRITES)
            declared = dict(handler.responses or {})
            for status, description in wanted.items():
                declared.setdefault(status, _spec(description))
            handler.responses = declared
