"""Multi-row INSERT ... ON CONFLICT DO NOTHING straight through the driver's executemany, on SQLite and PostgreSQL.

SQLAlchemy's Core executemany builds a parameter dict per row and runs every type's processor through generic
machinery; on this machine that costs more than the database's own insert work. Here the SQL is rendered once per
dialect and column set, values go through the bind processors the columns define (so rows read back exactly like
ORM-written ones), columns left out get their model defaults, and the tuples go to `exec_driver_sql` inside the
caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

Processor = Callable[[Any], Any] | None


class BulkInsert:
    """Insert rows (dicts keyed by column name) into `table`, skipping rows that hit the `conflict` unique key."""

    def __init__(self, table: sa.Table, conflict: Sequence[str] = ()) -> None:
        self.table = table
        self.conflict = tuple(conflict)
        self._compiled: dict[tuple[str, tuple[str, ...]], tuple[str, list[Processor]]] = {}

    def _defaults(self, given: set[str]) -> dict[str, Any]:
        """Values for the columns a row leaves out that have a model default (evaluated once per call)."""
        values: dict[str, Any] = {}
        for column in self.table.columns:
            if column.name in given or column.primary_key or column.default is None:
                continue
            default: Any = column.default
            values[column.name] = default.arg(None) if default.is_callable else default.arg
        return values

    def _for(self, dialect: sa.Dialect, columns: tuple[str, ...]) -> tuple[str, list[Processor]]:
        key = (dialect.name, columns)
        found = self._compiled.get(key)
        if found is None:
            quote = dialect.identifier_preparer.quote
            if dialect.paramstyle == "qmark":
                marks = ", ".join("?" for _ in columns)
            elif dialect.paramstyle == "numeric_dollar":
                marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
            else:  # pragma: no cover - only SQLite and asyncpg are supported
                raise RuntimeError(f"unsupported paramstyle {dialect.paramstyle}")
            sql = f"INSERT INTO {quote(self.table.name)} ({', '.join(quote(c) for c in columns)}) VALUES ({marks})"
            if self.conflict:
                sql += f" ON CONFLICT ({', '.join(quote(c) for c in self.conflict)}) DO NOTHING"
            processors: list[Processor] = [self.table.c[name].type._cached_bind_processor(dialect) for name in columns]
            found = self._compiled[key] = (sql, processors)
        return found

    async def run(self, conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        given = tuple(rows[0])
        defaults = self._defaults(set(given))
        columns = given + tuple(defaults)
        sql, processors = self._for(conn.dialect, columns)
        fixed = tuple(
            v if p is None or v is None else p(v)
            for p, v in zip(processors[len(given) :], defaults.values(), strict=True)
        )
        pairs = list(zip(given, processors[: len(given)], strict=True))
        params = [(*(row[n] if p is None or row[n] is None else p(row[n]) for n, p in pairs), *fixed) for row in rows]
        await conn.exec_driver_sql(sql, params)

    async def run_returning_ids(self, conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> list[int]:
        """Insert rows (no conflict handling) and return their new ids in row order, without a statement per row.

        PostgreSQL: the ids are drawn from the table's sequence first, then inserted explicitly. SQLite: the first
        row's RETURNING id takes the write lock, so (one writer at a time, no AUTOINCREMENT) the others follow it.
        """
        if not rows:
            return []
        table = self.table
        if conn.dialect.name == "postgresql":
            found = await conn.execute(
                sa.text(f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) FROM generate_series(1, :n)"),
                {"n": len(rows)},
            )
            ids = [int(i) for (i,) in found]
            await self.run(conn, [{"id": i, **row} for i, row in zip(ids, rows, strict=True)])
            return ids
        first = int((await conn.execute(sa.insert(table).returning(table.c.id), [rows[0]])).scalar_one())
        await self.run(conn, [{"id": first + k, **row} for k, row in enumerate(rows[1:], start=1)])
        return list(range(first, first + len(rows)))


async def update_by_id(
    conn: AsyncConnection, table: sa.Table, columns: Sequence[str], rows: Sequence[dict[str, Any]]
) -> None:
    """UPDATE table SET columns WHERE id = row["id"] for each row, through the driver's executemany like BulkInsert."""
    if not rows:
        return
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    names = [*columns, "id"]
    marks = ["?"] * len(names) if dialect.paramstyle == "qmark" else [f"${i}" for i in range(1, len(names) + 1)]
    assignments = ", ".join(f"{quote(name)} = {mark}" for name, mark in zip(columns, marks, strict=False))
    sql = f"UPDATE {quote(table.name)} SET {assignments} WHERE {quote('id')} = {marks[-1]}"
    processors: list[Processor] = [table.c[name].type._cached_bind_processor(dialect) for name in names]
    pairs = list(zip(names, processors, strict=True))
    params = [tuple(row[n] if p is None or row[n] is None else p(row[n]) for n, p in pairs) for row in rows]
    await conn.exec_driver_sql(sql, params)
