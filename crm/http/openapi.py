"""What the OpenAPI document says beyond the handlers' signatures, added once for every route.

Every operation declares the RFC 9457 problem responses it can return; every POST the idempotency middleware
serves declares `Idempotency-Key` and `Idempotent-Replayed`; every response header has a schema; and handlers
that read their body themselves (CSV and JSONL imports, the signed mention webhook) name it through
`opt={"raw_body": (media type, description)}`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Litestar, Request
from litestar.enums import ParamType
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import (
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    RequestBody,
    Schema,
)
from litestar.routes import HTTPRoute
from pydantic import ConfigDict
from sqlmodel import SQLModel

from crm.http.problems import PROBLEM_JSON

DOCS_ASSETS = "/static/swagger-ui"  # crm/static/swagger-ui: swagger-ui-dist from npm, with its LICENSE and NOTICE


class OfflineSwaggerUI(SwaggerRenderPlugin):
    """The API docs viewer from files shipped in the package, so /schema works with no internet (and no CDN sees
    who reads the docs). Swagger UI's online validator badge is off: it would send the document to swagger.io."""

    def __init__(self, path: str = "/swagger") -> None:
        super().__init__(
            js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            standalone_preset_js_url=f"{DOCS_ASSETS}/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{DOCS_ASSETS}/favicon-32x32.png'>",
            path=path,
        )

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        page = super().render(request, openapi_schema)
        return page.replace(b"deepLinking: true,", b"validatorUrl: null,\n                  deepLinking: true,", 1)


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


def idempotency_key(max_length: int) -> Parameter:
    return Parameter(
        name="Idempotency-Key",
        param_in=ParamType.HEADER,
        required=False,
        schema=Schema(type=OpenAPIType.STRING, min_length=1, max_length=max_length),
        description=(
            "Any unique string (a UUID): a retry with the same key and body replays the first response instead of "
            "running the request again; the same key with another body is 422, while the first is running 409."
        ),
    )


REPLAYED = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.STRING, enum=["true"]),
    description="Present when this response is a replay of an earlier request with the same Idempotency-Key",
)


def _string_headers(response: Any) -> None:
    # Litestar leaves a documentation-only header (our ETag) without a schema, which OpenAPI requires.
    if isinstance(response, OpenAPIResponse):
        for header in (response.headers or {}).values():
            if isinstance(header, OpenAPIHeader) and header.schema is None and header.content is None:
                header.schema = Schema(type=OpenAPIType.STRING)


def operation_class(idempotency_key: Parameter | None, raw_body: tuple[str, str] | None) -> type[Operation]:
    """An Operation that completes itself as it is built: the handler's signature cannot say these things."""

    class Documented(Operation):
        def __init__(self, **fields: Any) -> None:
            super().__init__(**fields)
            for status, response in (self.responses or {}).items():
                _string_headers(response)
                if idempotency_key is not None and isinstance(response, OpenAPIResponse) and not status.startswith("5"):
                    response.headers = {**(response.headers or {}), "Idempotent-Replayed": REPLAYED}
            if idempotency_key is not None:
                self.parameters = [*(self.parameters or []), idempotency_key]
            for parameter in self.parameters or []:
                # A query alias kept for old consumers says so on its schema; the parameter itself must say it too.
                if isinstance(parameter, Parameter) and getattr(parameter.schema, "deprecated", False):
                    parameter.deprecated = True
            if raw_body is not None and self.request_body is None:
                media_type, description = raw_body
                self.request_body = RequestBody(
                    content={media_type: OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))},
                    description=description,
                    required=True,
                )

    return Documented


def _unauthenticated(handler: HTTPRouteHandler) -> bool:
    return all(not requirement for requirement in handler.resolve_security() or [{"default": []}])


def document_problems(app: Litestar, *, idempotent: Callable[[str, str], bool], idempotency_key_length: int) -> None:
    """Add the problem responses to every route handler that does not declare its own for that status, and the
    idempotency headers, header schemas and raw request bodies (see the module docstring).

    `idempotent(method, path)` and the key length come from the idempotency middleware (crm.access.idempotency),
    passed in by the app so that this plumbing does not depend on access.
    """
    key = idempotency_key(idempotency_key_length)
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.include_in_schema:
                continue
            # The middleware needs a caller to scope keys to: an operation without security (the signed webhook)
            # never reaches it, one that serves POST and other methods gets the header on all (none do today).
            documented = "POST" in handler.http_methods and idempotent("POST", route.path)
            serves_key = documented and not _unauthenticated(handler)
            handler.operation_class = operation_class(key if serves_key else None, handler.opt.get("raw_body"))
            wanted = dict(COMMON)
            if handler.http_methods & {"POST", "PUT", "PATCH", "DELETE"}:
                wanted.update(WRITES)
            declared = dict(handler.responses or {})
            for status, description in wanted.items():
                declared.setdefault(status, _spec(description))
            handler.responses = declared
