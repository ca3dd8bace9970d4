"""Incremental sync (`GET /api/v1/sync`): changes to leads and contacts in change-log order, deletions as tombstones.

A door of the feature layer, like the lead list it reuses: it reads crm.integrations.changelog, whose rows the Session
hooks write at commit.

A consumer starts with `updated_since` (or from the beginning), applies each item (upsert `data`, or delete on
a tombstone), stores `next_cursor`, and asks again with it; replaying a page with the same cursor is harmless.
Each item carries the row's state at read time, so several changes to one row in a page collapse to the last.
A live lead's item also carries `lead`, the lead as the lead list returns it (display name, handle, first mention,
tags), read by the list's own statement, so a mirror built from the feed can show what the list shows.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, get
from litestar.params import FromQuery, QueryParameter
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access.policy import READ_ALL
from crm.errors import InvalidInput, PermissionDenied
from crm.http.deps import CurrentUser, DbSession
from crm.integrations.changelog import ENTITIES
from crm.leads.listing import lead_list_query, row_public
from crm.models import ChangeLog, Contact, Lead
from crm.schemas import LeadPublic

MODELS: dict[str, Any] = {"lead": Lead, "contact": Contact}


class SyncItem(SQLModel):
    seq: int
    entity: str
    id: int
    op: str  # create | update | delete | erase; delete and erase items are tombstones with data = null
    changed_at: datetime
    data: dict[str, Any] | None = None
    lead: LeadPublic | None = None  # for a live lead: the lead list's document of it


class SyncPage(SQLModel):
    items: list[SyncItem]
    next_cursor: str
    has_more: bool


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"seq": seq}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return int(value["seq"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not one this API issued") from exc


def public_row(row: Any) -> dict[str, Any]:
    data: dict[str, Any] = row.model_dump(mode="json")
    return data


async def listed_leads(session: AsyncSession, ids: list[int]) -> dict[int, LeadPublic]:
    """The lead list's document of each live lead among `ids`."""
    connection = await session.connection()
    result = await connection.execute(lead_list_query(connection.dialect.name).where(col(Lead.id).in_(ids)))
    documents = (LeadPublic.model_validate(row_public(row)) for row in result.mappings())
    return {document.id: document for document in documents}


async def read_changes(
    session: AsyncSession, *, after: int, since: datetime | None, entities: list[str], limit: int
) -> SyncPage:
    """Up to `limit` changes after sequence `after`, each with the row as it is now (or a tombstone)."""
    query = select(ChangeLog).where(col(ChangeLog.id) > after, col(ChangeLog.entity).in_(entities))
    if since is not None:
        query = query.where(col(ChangeLog.at) >= since)
    changes = list(await session.exec(query.order_by(col(ChangeLog.id)).limit(limit)))
    # The last change of a row in this page stands for the earlier ones: the state is read once, now.
    last: dict[tuple[str, int], ChangeLog] = {}
    for change in changes:
        last.pop((change.entity, change.entity_id), None)
        last[(change.entity, change.entity_id)] = change
    rows: dict[tuple[str, int], Any] = {}
    for entity, model in MODELS.items():
        ids = [i for (e, i) in last if e == entity]
        if ids:
            found = await session.exec(select(model).where(col(model.id).in_(ids)))
            rows.update({(entity, r.id): r for r in found})
    lead_ids = [i for (e, i) in rows if e == "lead"]
    listed = await listed_leads(session, lead_ids) if lead_ids else {}
    items = []
    for key, change in last.items():
        row = rows.get(key)
        alive = row is not None and row.deleted_at is None
        op = change.op
        if alive and op in ("delete", "erase"):
            op = "update"  # deleted and then restored since
        elif not alive and op not in ("delete", "erase"):
            op = "delete"  # deleted since; the delete itself comes later in the log
        assert change.id is not None
        items.append(
            SyncItem(
                seq=change.id,
                entity=change.entity,
                id=change.entity_id,
                op=op,
                changed_at=change.at,
                data=public_row(row) if alive else None,
                lead=listed.get(change.entity_id) if alive and change.entity == "lead" else None,
            )
        )
    next_seq = changes[-1].id if changes else after
    assert next_seq is not None
    return SyncPage(items=items, next_cursor=encode_cursor(next_seq), has_more=len(changes) == limit)


class SyncController(Controller):
    path = "/api/v1/sync"
    tags = ["sync"]

    @get("/", summary="Changes to leads and contacts since a cursor or a time, deletions as tombstones")
    async def changes(
        self,
        session: DbSession,
        user: CurrentUser,
        cursor: FromQuery[str | None] = None,
        updated_since: FromQuery[datetime | None] = None,
        entity: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 200,
    ) -> SyncPage:
        # A mirror must see every row, so sync is for roles that read everything (a rep's view shifts with owners).
        if user.role not in READ_ALL:
            raise PermissionDenied("sync needs a role that reads every lead (admin, marketer or read-only)")
        entities = list(ENTITIES) if entity is None else [e.strip() for e in entity.split(",") if e.strip()]
        unknown = sorted(set(entities) - set(ENTITIES))
        if unknown or not entities:
            raise InvalidInput(f"entity must be one or more of {', '.join(ENTITIES)}")
        after = decode_cursor(cursor) if cursor else 0
        # With a cursor the time filter is not needed: the cursor already says where the consumer is.
        return await read_changes(
            session, after=after, since=None if cursor else updated_since, entities=entities, limit=limit
        )
