"""Request bodies as JSON, checked once for every route: too deep or not UTF-8 is the caller's 400, never a 500.

Litestar decodes `data` bodies through `Request.json()`; the app uses `JsonRequest`, so every JSON route gets the
same limits without knowing it. Intake payloads (JSONL imports, the mention webhook) apply `check_depth` to each
object they parse themselves.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import SerializationException

# Deep enough for any object the API takes (a few levels of `detail`), shallow enough that nothing after parsing
# (validation, json.dumps into a JSON column, logging) can run out of stack on it.
MAX_DEPTH = 32


class TooDeep(ValueError):
    """A JSON value nested past MAX_DEPTH."""


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """Raise TooDeep when arrays/objects nest more than `limit` levels; walks with a list, not the call stack."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        current, depth = pending.pop()
        children = current.values() if isinstance(current, dict) else current if isinstance(current, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    raise TooDeep(f"JSON is nested deeper than {limit} levels")
                pending.append((child, depth + 1))


def describe_json_failure(exc: BaseException) -> str | None:
    """What is wrong with a body the decoder refused, or None when the failure is not about the input."""
    if isinstance(exc, RecursionError | TooDeep):
        return f"the JSON body is nested deeper than {MAX_DEPTH} levels"
    if isinstance(exc, UnicodeDecodeError):
        return f"the JSON body is not valid UTF-8 (byte {exc.start})"
    return None


class JsonRequest(Request[Any, Any, Any]):
    """The app's request class: `json()` refuses hostile bodies as a SerializationException, which Litestar
    answers with a 400 problem like any other malformed body."""

    async def json(self) -> Any:
        try:
            value = await super().json()
            check_depth(value)
        except (RecursionError, UnicodeDecodeError, TooDeep) as exc:
            raise SerializationException(describe_json_failure(exc)) from None
        return value
