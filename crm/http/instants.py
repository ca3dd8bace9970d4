"""Every datetime query parameter of every route, checked in one place before the handler runs.

An instant must name its time zone (a naive time means a different moment on each server) and must exist in UTC:
`0001-01-01T00:00:00+14:00` parses, but is before year 1 once converted, and every comparison in SQL is in UTC.
The app runs `check_query_instants` before each request; it finds the parameters from the handler's signature
and its dependencies' (the lead filters take `updated_since` in a dependency), once per handler.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Request
from litestar.handlers import HTTPRouteHandler
from litestar.params import ParameterKwarg
from litestar.typing import FieldDefinition

from crm.errors import InvalidInput

_PARAMETERS: dict[str, tuple[str, ...]] = {}


def _is_instant(field: FieldDefinition) -> bool:
    kinds = (field, *field.inner_types)
    return any(kind.annotation is datetime for kind in kinds)


def _query_key(field: FieldDefinition) -> str | None:
    given = field.kwarg_definition
    if given is None:
        return field.name
    if isinstance(given, ParameterKwarg) and given.header is None and given.cookie is None:
        return given.query or field.name
    return None


def instant_parameters(handler: HTTPRouteHandler) -> tuple[str, ...]:
    """The query keys that the handler (or a dependency of it) reads as a datetime."""
    found = _PARAMETERS.get(handler.handler_id)
    if found is None:
        signatures = [handler.parsed_fn_signature]
        signatures += [provider.parsed_fn_signature for provider in handler.resolve_dependencies().values()]
        keys = {
            key
            for signature in signatures
            for field in signature.parameters.values()
            if _is_instant(field) and (key := _query_key(field)) is not None
        }
        found = _PARAMETERS[handler.handler_id] = tuple(sorted(keys))
    return found


def check_instant(name: str, text: str) -> None:
    """422 when the text is a time without a zone or outside UTC's range; other text is left to the parser."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return  # not a time at all: the parameter's own validation answers 400 with the field named
    if value.tzinfo is None:
        raise InvalidInput(f"{name} needs a time zone, e.g. 2026-11-20T09:00:00Z", extra={"parameter": name})
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"{name} is outside the range of representable times", extra={"parameter": name}) from None


async def check_query_instants(request: Request[Any, Any, Any]) -> None:
    handler = request.scope.get("route_handler")
    if not isinstance(handler, HTTPRouteHandler):
        return
    names = instant_parameters(handler)
    if not names:
        return
    query = request.query_params
    for name in names:
        for text in query.getall(name, []):
            check_instant(name, text)
