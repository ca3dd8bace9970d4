"""Keyset (cursor) pagination for list endpoints: a stable order on (sort column, id), never a deep OFFSET."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import and_, or_
from sqlmodel import col

from crm.errors import InvalidInput

Kind = Literal["float", "int", "str", "datetime"]
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


def keyset(query: Any, model: Any, sort: SortKey, cursor: str | None, limit: int) -> Any:
    """Order `query` by the sort key then id (same direction; NULLs last) and start after `cursor`."""
    column, ident = col(getattr(model, sort.field)), col(model.id)

    def beyond(a: Any, b: Any) -> Any:
        return a < b if sort.descending else a > b

    if cursor:
        after = decode_cursor(cursor)
        last_id = after.get("id")
        if after.get("s") != sort.token or not isinstance(last_id, int) or isinstance(last_id, bool):
            raise InvalidInput("cursor is not one this API issued for this sort order")
        if after.get("v") is None:
            if not sort.nullable:
                raise InvalidInput("cursor is not one this API issued")
            query = query.where(and_(column.is_(None), beyond(ident, last_id)))
        else:
            value = _cursor_value(sort.kind, after["v"])
            parts = [beyond(column, value), and_(column == value, beyond(ident, last_id))]
            if sort.nullable:
                parts.append(column.is_(None))
            query = query.where(or_(*parts))
    order: list[Any] = [column.is_(None)] if sort.nullable else []
    order += [column.desc(), ident.desc()] if sort.descending else [column.asc(), ident.asc()]
    return query.order_by(*order).limit(limit + 1)


def page_of(rows: list[Row], sort: SortKey, limit: int) -> tuple[list[Row], str | None]:
    """Trim the extra row fetched by `keyset` and build the cursor for the next page, if there is one."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor({"s": sort.token, "v": _json_value(getattr(last, sort.field)), "id": last.id})  # type: ignore[attr-defined]
