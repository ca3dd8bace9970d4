"""Keyset (cursor) pagination for list endpoints: a stable order on (sort column, id), never a deep OFFSET."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import and_, or_, true
from sqlmodel import col

from crm.errors import InvalidInput

Kind = Literal["float", "int", "str", "datetime"]
# Where a cursor points: no cursor (the first page), on a NULL sort value, or on a value.
StretchKind = Literal["start", "null", "value"]
Row = TypeVar("Row")


def encode_cursor(values: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not one this API issued") from exc
    if not isinstance(value, dict):
        raise InvalidInput("cursor is not one this API issued")
    return value


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool
    kind: Kind
    nullable: bool = False

    @property
    def token(self) -> str:
        return f"-{self.field}" if self.descending else self.field


def parse_sort(sort: str, allowed: dict[str, tuple[Kind, bool]]) -> SortKey:
    """`field` ascending or `-field` descending, for a field in `allowed` (name -> (kind, nullable))."""
    name = sort.removeprefix("-")
    if name not in allowed:
        raise InvalidInput(f"cannot sort by {sort!r}; use one of {sorted(allowed)} (prefix - for descending)")
    kind, nullable = allowed[name]
    return SortKey(name, sort.startswith("-"), kind, nullable)


def _cursor_value(kind: Kind, value: Any) -> Any:
    # A tampered cursor must give a 422, never reach the database with a value of the wrong type.
    if kind == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "str" and isinstance(value, str) and "\x00" not in value:
        return value
    if kind == "datetime" and isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed
    raise InvalidInput("cursor is not one this API issued")


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def order_by(column: Any, ident: Any, sort: SortKey) -> list[Any]:
    """The list order: the sort column then id, in the same direction, NULLs last either way."""
    if sort.descending:
        first, then = column.desc(), ident.desc()
    else:
        first, then = column.asc(), ident.asc()
    # Spelt as NULLS LAST (not `column IS NULL` first) so that an index on (..., column DESC NULLS LAST, id DESC)
    # serves it; PostgreSQL and SQLite >= 3.30 both understand it.
    return [first.nulls_last() if sort.nullable else first, then]


@dataclass(frozen=True)
class After:
    """Where a cursor points: after the row with this sort value (None: a NULL) and this id."""

    value: Any
    last_id: int

    @property
    def stretch_kind(self) -> StretchKind:
        return "null" if self.value is None else "value"


def parse_cursor(sort: SortKey, cursor: str | None) -> After | None:
    """The cursor's position, checked against the sort order and the sort column's type (None: the first page)."""
    if not cursor:
        return None
    after = decode_cursor(cursor)
    last_id = after.get("id")
    if after.get("s") != sort.token or not isinstance(last_id, int) or isinstance(last_id, bool):
        raise InvalidInput("cursor is not one this API issued for this sort order")
    if after.get("v") is None:
        if not sort.nullable:
            raise InvalidInput("cursor is not one this API issued")
        return After(None, last_id)
    return After(_cursor_value(sort.kind, after["v"]), last_id)


def stretches(column: Any, ident: Any, sort: SortKey, kind: StretchKind, value: Any, last_id: Any) -> list[Any]:
    """The rows after a position in the list order, as conditions each covering one contiguous stretch of that order.

    `kind` is where the position is: "start" (no cursor), "null" (on a NULL sort value) or "value"; `value` and
    `last_id` may be plain values or bind parameters (a statement compiled once per shape binds them per request).

    Each condition starts with a plain range on the sort column (`column <= v`), so an index on (filters..., column,
    id) seeks to the cursor instead of reading every earlier row again (deep keyset pages stay as cheap as the first).
    A nullable column has two stretches after a non-NULL cursor: the rest of the values, then the NULLs. Reading them
    one after the other in that order gives the list order.
    """

    def beyond(a: Any, b: Any) -> Any:
        return a < b if sort.descending else a > b

    if kind == "start":
        return [true()]
    if kind == "null":
        return [and_(column.is_(None), beyond(ident, last_id))]
    reached = column <= value if sort.descending else column >= value
    conditions = [and_(reached, or_(beyond(column, value), beyond(ident, last_id)))]
    if sort.nullable:
        conditions.append(column.is_(None))
    return conditions


def after_cursor(column: Any, ident: Any, sort: SortKey, cursor: str | None) -> list[Any]:
    """The stretches (see `stretches`) after `cursor`, with its values in the conditions."""
    after = parse_cursor(sort, cursor)
    if after is None:
        return stretches(column, ident, sort, "start", None, None)
    return stretches(column, ident, sort, after.stretch_kind, after.value, after.last_id)


def keyset(query: Any, model: Any, sort: SortKey, cursor: str | None, limit: int) -> Any:
    """Order `query` by the sort key then id (same direction; NULLs last) and start after `cursor`."""
    column, ident = col(getattr(model, sort.field)), col(model.id)
    stretches = after_cursor(column, ident, sort, cursor)
    if cursor:
        query = query.where(or_(*stretches))
    return query.order_by(*order_by(column, ident, sort)).limit(limit + 1)


def page_of(rows: list[Row], sort: SortKey, limit: int) -> tuple[list[Row], str | None]:
    """Trim the extra row fetched by `keyset` and build the cursor for the next page, if there is one."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, cursor_after(sort, getattr(last, sort.field), last.id)  # type: ignore[attr-defined]


def cursor_after(sort: SortKey, value: Any, last_id: int) -> str:
    """The cursor for the page after a row with this sort value and id."""
    return encode_cursor({"s": sort.token, "v": _json_value(value), "id": last_id})
