"""Change log for incremental sync: every committed change of a lead or contact gets the next sequence number.

Why a sequence and not `updated_at`: timestamps are taken when a row is written, but transactions commit in
another order, so a consumer paging by `updated_at` (or by an id taken early) can step past a row that commits
later with a lower value and never see it. Here the change_log rows of a transaction are inserted at commit time,
after taking one transaction-scoped lock (PostgreSQL `pg_advisory_xact_lock`; SQLite already has a single writer),
so ids are handed out in commit order and a reader that has seen id N has seen every change numbered below N. No
time lag is needed; the cost is that committing writers of leads/contacts queue for a few milliseconds.

Writers need no code: Session hooks (installed by crm.integrations.hooks) record every ORM insert/update/delete of
Lead and Contact (soft deletes become `delete`). Core bulk statements bypass the ORM, so their callers note their
rows with `record_changes`, the function the hooks note through too.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.models import ChangeLog, Contact, Lead, utcnow

TRACKED: dict[type, str] = {Lead: "lead", Contact: "contact"}
ENTITIES = tuple(TRACKED.values())
OPS = ("create", "update", "delete", "erase")
_PENDING = "warmline.changes"
# Any constant works; it only has to be the same in every process that writes the change log.
_LOCK_KEY = 0x5741524D4C494E45 & 0x7FFFFFFFFFFFFFFF


def _pending(session: Session) -> dict[tuple[str, int], str]:
    pending: dict[tuple[str, int], str] = session.info.setdefault(_PENDING, {})
    return pending


def _merge(pending: dict[tuple[str, int], str], key: tuple[str, int], op: str) -> None:
    # One transaction is one change per row: a create stays a create through later updates, an erase wins.
    previous = pending.get(key)
    if previous == "erase" or (previous == "create" and op == "update"):
        return
    pending[key] = op


def record_change(session: AsyncSession | Session, entity: str, entity_id: int, op: str) -> None:
    """Note a change to write at commit; for code that changes leads/contacts with Core statements."""
    record_changes(session, entity, (entity_id,), op)


def record_changes(session: AsyncSession | Session, entity: str, entity_ids: Iterable[int], op: str) -> None:
    """Note changes of many rows of one entity, as bulk statements make them; the Session hooks below note the
    ORM's changes through it too, so both paths give the same change_log rows."""
    if entity not in ENTITIES or op not in OPS:
        raise ValueError(f"unknown change {entity}/{op}")
    sync_session = session.sync_session if isinstance(session, AsyncSession) else session
    pending = _pending(sync_session)
    for entity_id in entity_ids:
        _merge(pending, (entity, int(entity_id)), op)


def _became_deleted(obj: Any) -> bool:
    history = sa.inspect(obj).attrs.deleted_at.history
    return bool(history.added) and history.added[0] is not None and not (history.deleted and history.deleted[0])


# Session hooks: registered by crm.integrations.hooks.install (a composition root calls it), never on import.
def collect_changes(session: Session, _flush_context: Any) -> None:
    for obj in session.new:
        entity = TRACKED.get(type(obj))
        if entity is not None:
            record_changes(session, entity, (obj.id,), "create")
    for obj in session.dirty:
        entity = TRACKED.get(type(obj))
        if entity is not None and session.is_modified(obj, include_collections=False):
            record_changes(session, entity, (obj.id,), "delete" if _became_deleted(obj) else "update")
    for obj in session.deleted:
        entity = TRACKED.get(type(obj))
        if entity is not None:
            record_changes(session, entity, (obj.id,), "delete")


def write_changes(session: Session) -> None:
    if session.info.get(_PENDING) is None and not (session.new or session.dirty or session.deleted):
        return
    session.flush()  # so the changes still waiting in the session are collected too
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # Held until commit: ids are allocated in commit order (see the module docstring).
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    _insert(connection, pending, utcnow())


def _insert(connection: Any, pending: dict[tuple[str, int], str], now: datetime) -> None:
    if connection.dialect.name == "postgresql":
        # One statement for a bulk import's thousands of rows; executemany is a round trip per row on asyncpg.
        columns: dict[str, list[Any]] = {"entity": [], "entity_id": [], "op": [], "at": [now] * len(pending)}
        for (entity, entity_id), op in pending.items():
            columns["entity"].append(entity)
            columns["entity_id"].append(entity_id)
            columns["op"].append(op)
        connection.execute(_BULK_INSERT, columns)
        return
    # SQLite: driver tuples, the timestamp converted once (Core would build and convert a row dict per change).
    at = _AT.type.bind_processor(connection.dialect)(now)
    connection.exec_driver_sql(
        "INSERT INTO change_log (entity, entity_id, op, at) VALUES (?, ?, ?, ?)",
        [(entity, entity_id, op, at) for (entity, entity_id), op in pending.items()],
    )


_AT = ChangeLog.__table__.c.at  # type: ignore[attr-defined]
_BULK_INSERT = sa.text(
    "INSERT INTO change_log (entity, entity_id, op, at) SELECT * FROM unnest("
    "CAST(:entity AS text[]), CAST(:entity_id AS bigint[]), CAST(:op AS text[]), CAST(:at AS timestamptz[]))"
)


def forget_changes(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_PENDING, None)
