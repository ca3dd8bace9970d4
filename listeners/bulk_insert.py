"""Set-wise statements straight through the driver, on SQLite and PostgreSQL, for the mention store's bulk path.

SQLAlchemy's Core executemany builds a parameter dict per row and runs every type's bind processor through
generic machinery; on this machine that costs more than the database's own insert work. Here the SQL is rendered
once per dialect, rows arrive as driver-ready tuples (`Codec` turns timestamps and JSON into exactly what the
column types would bind, cheaply), columns left out get their model defaults, and statements go to
`exec_driver_sql` inside the caller's transaction.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from crm.models import UTCDateTime

# Values per IN (...) list, under SQLite's bound-parameter limit (32766 since 3.32, 999 before), so a batch of
# 1,000 keys is one statement.
SQLITE_MAX_IN = 30_000 if sqlite3.sqlite_version_info >= (3, 32) else 900
_encode = msgspec.json.Encoder().encode


def json_text(value: Any) -> str:
    """JSON text as a JSON column stores it; msgspec is ~10x faster than json.dumps, which decides when msgspec
    cannot (a value json takes that msgspec does not, such as an integer beyond 64 bits)."""
    try:
        return _encode(value).decode()
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError):
        return json.dumps(value)


def _sqlite_timestamp(value: datetime) -> str:
    # What UTCDateTime + SQLite's DATETIME bind: UTC, no zone, always six digits of microseconds.
    if value.tzinfo is None:
        raise ValueError("naive datetime given where an aware one is required")
    if value.utcoffset():
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _pg_timestamp(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime given where an aware one is required")
    return value


class Codec:
    """Driver values for one dialect, as the columns' own bind processors would produce them."""

    def __init__(self, dialect: sa.Dialect) -> None:
        self.dialect = dialect
        self.sqlite = dialect.name == "sqlite"
        if not self.sqlite and dialect.paramstyle != "numeric_dollar":  # pragma: no cover - SQLite and asyncpg only
            raise RuntimeError(f"unsupported paramstyle {dialect.paramstyle}")
        self.timestamp: Callable[[datetime], Any] = _sqlite_timestamp if self.sqlite else _pg_timestamp
        self.json = json_text
        self.quote = dialect.identifier_preparer.quote

    def ts(self, value: datetime | None) -> Any:
        return None if value is None else self.timestamp(value)

    def marks(self, count: int, start: int = 1) -> str:
        if self.sqlite:
            return ", ".join("?" * count)
        return ", ".join(f"${i}" for i in range(start, start + count))

    def value(self, column: sa.Column[Any], value: Any) -> Any:
        """One value for a column, for the odd constant; rows on the hot path are built with ts/json directly."""
        if value is None:
            return None
        if isinstance(column.type, UTCDateTime):
            return self.timestamp(value)
        if isinstance(column.type, sa.JSON):
            return json_text(value)
        processor = column.type._cached_bind_processor(self.dialect)
        return value if processor is None else processor(value)


_codecs: dict[str, Codec] = {}


def codec_for(conn: AsyncConnection) -> Codec:
    dialect = conn.dialect
    found = _codecs.get(dialect.name)
    if found is None or found.dialect is not dialect:
        found = _codecs[dialect.name] = Codec(dialect)
    return found


class BulkInsert:
    """INSERT of driver-ready tuples (in `columns` order) into `table`, skipping rows that hit the `conflict` key.

    Columns of the table not named get their model default, evaluated once per call.
    """

    def __init__(self, table: sa.Table, columns: Sequence[str], conflict: Sequence[str] = ()) -> None:
        self.table = table
        self.columns = tuple(columns)
        self.conflict = tuple(conflict)
        self._defaulted = [
            column
            for column in table.columns
            if column.name not in self.columns and not column.primary_key and column.default is not None
        ]
        self._sql: dict[tuple[str, bool, bool], str] = {}

    def _defaults(self, codec: Codec) -> tuple[Any, ...]:
        values = []
        for column in self._defaulted:
            default: Any = column.default
            values.append(codec.value(column, default.arg(None) if default.is_callable else default.arg))
        return tuple(values)

    def sql(self, codec: Codec, *, with_id: bool = False, returning: bool = False) -> str:
        """SQLite: one row's INSERT, for executemany. PostgreSQL: one INSERT ... SELECT FROM unnest(arrays) for the
        whole batch (a parameter per column, so one round trip and one statement for any row count)."""
        key = (codec.dialect.name, with_id, returning)
        found = self._sql.get(key)
        if found is None:
            quote = codec.quote
            given = (("id",) if with_id else ()) + self.columns
            names = given + tuple(c.name for c in self._defaulted)
            found = f"INSERT INTO {quote(self.table.name)} ({', '.join(quote(n) for n in names)}) "
            if codec.sqlite:
                found += f"VALUES ({codec.marks(len(names))})"
            else:
                columns = [self.table.c[name] for name in given]
                # Strings travel as text[] so the column's own assignment cast still refuses what is too long.
                arrays = ", ".join(f"${i}::{_pg_type(c)}[]" for i, c in enumerate(columns, start=1))
                picked = [f"v{i}::jsonb" if _is_json(c) else f"v{i}" for i, c in enumerate(columns, start=1)]
                picked += [
                    f"${i}::{_pg_type(c)}" + ("::jsonb" if _is_json(c) else "")
                    for i, c in enumerate(self._defaulted, start=len(columns) + 1)
                ]
                aliases = ", ".join(f"v{i}" for i in range(1, len(columns) + 1))
                found += f"SELECT {', '.join(picked)} FROM unnest({arrays}) AS u({aliases})"
            if self.conflict:
                found += f" ON CONFLICT ({', '.join(quote(c) for c in self.conflict)}) DO NOTHING"
            if returning:
                found += " RETURNING id"
            self._sql[key] = found
        return found

    async def run(self, conn: AsyncConnection, rows: Sequence[tuple[Any, ...]], *, with_id: bool = False) -> Any:
        """Insert the rows (conflicts skipped); returns the driver's result."""
        if not rows:
            return None
        codec = codec_for(conn)
        fixed = self._defaults(codec)
        sql = self.sql(codec, with_id=with_id, returning=with_id and not codec.sqlite)
        if codec.sqlite:
            return await conn.exec_driver_sql(sql, [row + fixed for row in rows] if fixed else list(rows))
        return await conn.exec_driver_sql(sql, (*(list(column) for column in zip(*rows, strict=True)), *fixed))

    async def run_with_ids(self, conn: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> list[int | None]:
        """Insert the rows and return each one's new id in row order, or None where the conflict key skipped it;
        two or three statements whatever the row count.

        PostgreSQL: the ids are drawn from the table's sequence first, then inserted explicitly; RETURNING says
        which rows went in. SQLite: the first row's RETURNING id takes the write lock, so (one writer at a time, no
        AUTOINCREMENT: a new rowid is the largest plus one) the others can take the ids that follow it.
        """
        if not rows:
            return []
        codec = codec_for(conn)
        if not codec.sqlite:
            found = await conn.exec_driver_sql(
                f"SELECT nextval(pg_get_serial_sequence('{self.table.name}', 'id')) FROM generate_series(1, $1)",
                (len(rows),),
            )
            ids: list[int | None] = [int(i) for (i,) in found]
            inserted = await self.run(conn, [(i, *row) for i, row in zip(ids, rows, strict=True)], with_id=True)
            if self.conflict:
                kept = {i for (i,) in inserted}
                ids = [i if i in kept else None for i in ids]
            return ids
        fixed = self._defaults(codec)
        returned = await conn.exec_driver_sql(self.sql(codec, returning=True), rows[0] + fixed)
        first = returned.scalar()
        if first is None:  # the first row hit the conflict key (another writer got there first): move on
            return [None, *await self.run_with_ids(conn, rows[1:])]
        first = int(first)
        ids = list(range(first, first + len(rows)))
        rest = [(first + k, *row, *fixed) for k, row in enumerate(rows[1:], start=1)]
        if rest:
            inserted = await conn.exec_driver_sql(self.sql(codec, with_id=True), rest)
            if self.conflict and inserted.rowcount != len(rest):
                present = await conn.exec_driver_sql(
                    f"SELECT id FROM {codec.quote(self.table.name)} WHERE id BETWEEN ? AND ?", (first + 1, ids[-1])
                )
                kept = {i for (i,) in present}
                ids = [first, *(i if i in kept else None for i in ids[1:])]
        return ids


def _is_json(column: sa.Column[Any]) -> bool:
    return isinstance(column.type, sa.JSON)


def _pg_type(column: sa.Column[Any]) -> str:
    """The PostgreSQL type a column's values travel as in an unnest() array (JSON as text, cast in the SELECT)."""
    kind = column.type
    if isinstance(kind, UTCDateTime | sa.DateTime):
        return "timestamptz"
    if isinstance(kind, sa.Boolean):
        return "boolean"
    if isinstance(kind, sa.Integer):
        return "bigint"
    if isinstance(kind, sa.Float):
        return "float8"
    return "text"


_SQL: dict[tuple[bool, str], str] = {}


def dialect_sql(codec: Codec, sql: str) -> str:
    """A statement written with $n placeholders, for this dialect (SQLite takes ? in the same order)."""
    key = (codec.sqlite, sql)
    found = _SQL.get(key)
    if found is None:
        found = _SQL[key] = re.sub(r"\$\d+", "?", sql) if codec.sqlite else sql
    return found


async def select_in(
    conn: AsyncConnection,
    select: str,
    table: str,
    where: str,
    fixed: Sequence[Any],
    column: str,
    values: Iterable[Any],
    group_by: str = "",
) -> list[Any]:
    """Rows of SELECT `select` FROM `table` WHERE `where` (placeholders $1.. for `fixed`) AND column IN values.

    SQLite: an IN list, in chunks under its parameter limit. PostgreSQL: one array parameter, each value probed
    through a LATERAL subquery. Not `= ANY($n)`: asyncpg's prepared statements turn generic after five runs, and
    on a young table (no statistics yet) the generic plan for ANY filters the platform's every row instead of
    probing the unique index (35 ms for 333 keys among 10k mentions here, against under 3 ms).
    """
    values = list(values)
    if not values:
        return []
    codec = codec_for(conn)
    group = f" GROUP BY {group_by}" if group_by else ""
    if not codec.sqlite:
        kind = "bigint" if isinstance(values[0], int) else "text"
        found = await conn.exec_driver_sql(
            f"SELECT x.* FROM unnest(${len(fixed) + 1}::{kind}[]) AS k(v) CROSS JOIN LATERAL "
            f"(SELECT {select} FROM {table} WHERE {where} AND {column} = k.v{group}) AS x",
            (*fixed, values),
        )
        return list(found)
    where = re.sub(r"\$\d+", "?", where)
    rows: list[Any] = []
    for start in range(0, len(values), SQLITE_MAX_IN):
        chunk = values[start : start + SQLITE_MAX_IN]
        found = await conn.exec_driver_sql(
            f"SELECT {select} FROM {table} WHERE {where} AND {column} IN ({codec.marks(len(chunk))}){group}",
            (*fixed, *chunk),
        )
        rows.extend(found)
    return rows


async def delete_ids(conn: AsyncConnection, table: sa.Table, ids: Sequence[int]) -> None:
    if ids:
        codec = codec_for(conn)
        if codec.sqlite:
            sql = f"DELETE FROM {codec.quote(table.name)} WHERE id IN ({codec.marks(len(ids))})"
            await conn.exec_driver_sql(sql, tuple(ids))
        else:
            await conn.exec_driver_sql(
                f"DELETE FROM {codec.quote(table.name)} WHERE id = ANY($1::bigint[])", (list(ids),)
            )


async def update_by_id(
    conn: AsyncConnection, table: sa.Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """UPDATE table SET columns WHERE id = last value, for each driver-ready tuple: one executemany on SQLite, one
    UPDATE ... FROM unnest(arrays) on PostgreSQL."""
    if not rows:
        return
    codec = codec_for(conn)
    quote = codec.quote
    if codec.sqlite:
        assignments = ", ".join(f"{quote(name)} = ?" for name in columns)
        await conn.exec_driver_sql(f"UPDATE {quote(table.name)} SET {assignments} WHERE id = ?", list(rows))
        return
    targets = [table.c[name] for name in (*columns, "id")]
    arrays = ", ".join(f"${i}::{_pg_type(c)}[]" for i, c in enumerate(targets, start=1))
    aliases = ", ".join(f"v{i}" for i in range(1, len(targets) + 1))
    assignments = ", ".join(
        f"{quote(c.name)} = u.v{i}" + ("::jsonb" if _is_json(c) else "") for i, c in enumerate(targets[:-1], start=1)
    )
    sql = (
        f"UPDATE {quote(table.name)} AS t SET {assignments} FROM unnest({arrays}) AS u({aliases}) "
        f"WHERE t.id = u.v{len(targets)}"
    )
    await conn.exec_driver_sql(sql, tuple(list(column) for column in zip(*rows, strict=True)))
