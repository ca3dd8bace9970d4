"""The lead list's read path (GET /api/v1/leads): one statement per page from the filters, the caller's scope, the
sort and the cursor, answered as LeadPublic documents.

On PostgreSQL the statement is compiled once per shape (which filters, which scope kind, which sort, which cursor
stretch) and sent with the request's values straight to asyncpg, on a connection from the engine's pool. Building,
compiling and running a SQLAlchemy statement and turning its rows into documents cost several times the query itself
on every request (see docs/benchmarks.md). SQLite runs the same statement through SQLAlchemy Core.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from contextlib import AbstractAsyncContextManager, nullcontext
from functools import lru_cache
from typing import Any

from msgspec import Raw
from sqlalchemy import Integer, Text, bindparam, cast, func, literal_column
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import Pool, PoolProxiedConnection, QueuePool
from sqlalchemy.util import await_, greenlet_spawn
from sqlmodel import col, select

from crm.access.policy import ScopeKind, lead_scope_condition
from crm.http.paging import After, SortKey, StretchKind, cursor_after, order_by, stretches
from crm.leads.filters import LeadFilter, lead_filter_conditions
from crm.models import Contact, Lead, LeadTag, Mention, PlatformAccount, Tag
from crm.schemas import LeadPublic

LEAD_SORTS: dict[str, tuple[Any, bool]] = {
    "score": ("float", True),
    "updated_at": ("datetime", False),
    "created_at": ("datetime", False),
    "id": ("int", False),
}
# The columns of LeadPublic read from the lead row itself (the rest come from joins).
LIST_FIELDS = tuple(name for name in LeadPublic.model_fields if name in Lead.model_fields)
JSON_FIELDS = frozenset({"score_reasons"})
# Shapes of the PostgreSQL statement kept compiled (filters x scope kinds x sorts x cursor stretches in use).
COMPILED_SHAPES = 512


def tags_column(dialect: str) -> Any:
    """A lead's tag names as one value per row (correlated subquery), so a page is read in one statement."""
    names = select(Tag.name).join(LeadTag, col(LeadTag.tag_id) == col(Tag.id)).where(LeadTag.lead_id == Lead.id)
    if dialect == "postgresql":
        # Sorted in the database, by code point like Python's sorted(); ARRAY() of no rows is '{}', not NULL.
        return func.array(names.order_by(col(Tag.name).collate("C")).scalar_subquery())
    return names.with_only_columns(func.json_group_array(col(Tag.name))).scalar_subquery()


def lead_list_query(dialect: str, *, json_as_text: bool = False) -> Any:
    """Every LeadPublic field of live leads, with the contact's name, the first mention and its author's handle.

    With `json_as_text`, JSON columns come as their JSON text, to be sent on as it is (msgspec.Raw)."""
    display_name = col(Contact.display_name)
    lead_columns: list[Any] = [
        cast(col(getattr(Lead, name)), Text).label(name)
        if json_as_text and name in JSON_FIELDS
        else getattr(Lead, name)
        for name in LIST_FIELDS
    ]
    return (
        select(  # type: ignore[call-overload]
            *lead_columns,
            (func.coalesce(display_name, literal_column("''")) if dialect == "postgresql" else display_name).label(
                "display_name"
            ),
            PlatformAccount.handle,
            col(Mention.text).label("first_mention_text"),
            col(Mention.url).label("first_mention_url"),
            tags_column(dialect).label("tags"),
        )
        .select_from(Lead)
        .join(Contact, col(Contact.id) == col(Lead.contact_id), isouter=True)
        .join(Mention, col(Mention.id) == col(Lead.first_mention_id), isouter=True)
        .join(PlatformAccount, col(PlatformAccount.id) == col(Mention.account_id), isouter=True)
        .where(col(Lead.deleted_at).is_(None))
    )


def list_statement(
    dialect: str,
    scope_condition: Any,
    filter_conditions: list[Any],
    sort: SortKey,
    stretch_kind: StretchKind,
    value: Any,
    last_id: Any,
    *,
    json_as_text: bool = False,
) -> tuple[Any, list[Any]]:
    """The ordered list statement without its stretch condition, and the stretches (crm.http.paging.stretches) to read
    in order; `value` and `last_id` are the cursor's (values, or bind parameters)."""
    column, ident = col(getattr(Lead, sort.field)), col(Lead.id)
    query = lead_list_query(dialect, json_as_text=json_as_text).where(scope_condition, *filter_conditions)
    query = query.order_by(*order_by(column, ident, sort))
    return query, stretches(column, ident, sort, stretch_kind, value, last_id)


@lru_cache(maxsize=COMPILED_SHAPES)
def compiled_stretches(
    dialect: Dialect,
    scope_kind: ScopeKind,
    filter_names: tuple[str, ...],
    unassigned: bool | None,
    sort: SortKey,
    stretch_kind: StretchKind,
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(SQL text with $n parameters, the parameter names in $n order) for each stretch of one statement shape.

    The parameters: scope_user_id, scope_team_id, after_value, after_id, row_limit and LeadFilter.values()'s names.
    """
    query, conditions = list_statement(
        dialect.name,
        lead_scope_condition(scope_kind, bindparam("scope_user_id"), bindparam("scope_team_id")),
        lead_filter_conditions({name: bindparam(name) for name in filter_names}, unassigned),
        sort,
        stretch_kind,
        bindparam("after_value"),
        bindparam("after_id"),
        json_as_text=True,
    )
    compiled: list[tuple[str, tuple[str, ...]]] = []
    for condition in conditions:
        statement = query.where(condition).limit(bindparam("row_limit", type_=Integer)).compile(dialect=dialect)
        sql = str(statement)
        if "POSTCOMPILE" in sql or statement.positiontup is None:  # expanding parameters would need values
            raise RuntimeError("the lead list statement cannot be compiled once for every request")
        compiled.append((sql, tuple(statement.positiontup)))
    return tuple(compiled)


def stretch_kind_of(after: After | None) -> StretchKind:
    return "start" if after is None else after.stretch_kind


async def read_lead_page(
    engine: AsyncEngine, filters: LeadFilter, sort: SortKey, after: After | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of LeadPublic documents and the cursor for the next page (None on the last one)."""
    read = read_rows_on_driver if engine.dialect.name == "postgresql" else read_rows_with_core
    try:
        rows = await read(engine, filters, sort, after, limit)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        # The database dropped a pooled connection (restart, failover); the pool has been marked stale, so the read
        # is simply tried once more. This replaces a ping before every checkout (pool_pre_ping).
        rows = await read(engine, filters, sort, after, limit)
    if len(rows) <= limit:
        return rows, None
    del rows[limit:]
    last = rows[-1]
    return rows, cursor_after(sort, last[sort.field], last["id"])


async def read_rows_on_driver(
    engine: AsyncEngine, filters: LeadFilter, sort: SortKey, after: After | None, limit: int
) -> list[dict[str, Any]]:
    """Up to limit + 1 documents, by a statement compiled once per shape, on asyncpg (PostgreSQL only)."""
    scope = filters.scope
    values = filters.values()
    statements = compiled_stretches(
        engine.dialect, scope.kind, tuple(values), filters.unassigned, sort, stretch_kind_of(after)
    )
    values["scope_user_id"], values["scope_team_id"] = scope.user_id, scope.team_id
    if after is not None:
        values["after_value"], values["after_id"] = after.value, after.last_id
    pool = engine.sync_engine.pool
    async with _read_slots(pool):
        return await greenlet_spawn(_read, pool, statements, values, limit)


def _read_slots(pool: Pool) -> AbstractAsyncContextManager[Any]:
    """At most pool_size list reads at a time per pool. Past that a read waits for a connection instead of making
    the pool open an overflow connection, which it closes again on return: under load that churn (connect, type
    introspection, statement preparation) cost a fifth of the process's time."""
    if not isinstance(pool, QueuePool):
        return nullcontext()
    slots = _slots_by_pool.get(pool)
    if slots is None:
        slots = _slots_by_pool[pool] = asyncio.Semaphore(max(1, pool.size()))
    return slots


_slots_by_pool: weakref.WeakKeyDictionary[Pool, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _read(
    pool: Pool, statements: tuple[tuple[str, tuple[str, ...]], ...], values: dict[str, Any], limit: int
) -> list[dict[str, Any]]:
    """Runs in SQLAlchemy's greenlet, so the pool may connect, recycle or close connections as it does for the ORM."""
    pooled = pool.connect()
    try:
        rows: list[dict[str, Any]] = []
        for sql, names in statements:
            values["row_limit"] = limit + 1 - len(rows)
            records = _fetch(pool, pooled, sql, [values[name] for name in names])
            # Records become the documents as they are: typed by asyncpg (aware datetimes, text[]), and JSON
            # columns as the database's JSON text, so nothing is validated, decoded or encoded again.
            keys = tuple(records[0].keys()) if records else ()
            for record in records:
                row = dict(zip(keys, record, strict=True))
                for name in JSON_FIELDS:
                    row[name] = Raw(row[name])
                rows.append(row)
            if len(rows) > limit:
                break
        return rows
    finally:
        pooled.close()


def _fetch(pool: Pool, pooled: PoolProxiedConnection, sql: str, args: list[Any]) -> list[Any]:
    """The statement's records; a driver error leaves as SQLAlchemy's DBAPIError, so the API answers it as for any
    other query (crm.http.problems: 422 for a value the database refuses, 503 for a lost connection)."""
    driver: Any = pooled.driver_connection
    try:
        records: list[Any] = await_(driver.fetch(sql, *args))
    except Exception as error:
        lost = bool(driver.is_closed())
        if lost:
            # What SQLAlchemy does on a disconnect: every pooled connection older than now is replaced on checkout.
            pool._invalidate(pooled, error)
        raise DBAPIError(sql, args, error, connection_invalidated=lost) from error
    return records


async def read_rows_with_core(
    engine: AsyncEngine, filters: LeadFilter, sort: SortKey, after: After | None, limit: int
) -> list[dict[str, Any]]:
    """Up to limit + 1 documents, by the same statement built and run by SQLAlchemy Core (any database)."""
    query, conditions = list_statement(
        engine.dialect.name,
        lead_scope_condition(filters.scope.kind, filters.scope.user_id, filters.scope.team_id),
        lead_filter_conditions(filters.values(), filters.unassigned),
        sort,
        stretch_kind_of(after),
        after.value if after is not None else None,
        after.last_id if after is not None else None,
    )
    rows: list[dict[str, Any]] = []
    async with engine.connect() as connection:
        for condition in conditions:
            result = await connection.execute(query.where(condition).limit(limit + 1 - len(rows)))
            rows += map(row_public, result.mappings())
            if len(rows) > limit:
                break
    return rows


def row_public(row: Any) -> dict[str, Any]:
    """One row read through SQLAlchemy as LeadPublic's JSON document (SQLite gives the tags as JSON text)."""
    values = dict(row)
    tags = values["tags"]
    values["tags"] = sorted(json.loads(tags) if isinstance(tags, str) else tags or [])
    values["display_name"] = values["display_name"] or ""
    return values
