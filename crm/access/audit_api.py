"""Read side of the audit log (`GET /api/v1/audit`, admins only): filters and keyset paging, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, get
from litestar.params import FromQuery, QueryParameter
from sqlmodel import SQLModel, col, select

from crm.access.policy import require_admin
from crm.errors import InvalidInput
from crm.http.deps import CurrentUser, DbSession
from crm.models import AuditEvent


class AuditEventPublic(SQLModel):
    id: int
    at: datetime
    actor_user_id: int | None
    actor: str
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any]
    request_id: str


class AuditPage(SQLModel):
    items: list[AuditEventPublic]
    next_cursor: str | None = None


class AuditController(Controller):
    path = "/api/v1/audit"
    tags = ["audit"]

    @get("/", summary="The audit log, newest first (admins)")
    async def list_events(
        self,
        session: DbSession,
        user: CurrentUser,
        action: FromQuery[str | None] = None,
        actor_user_id: FromQuery[int | None] = None,
        object_type: FromQuery[str | None] = None,
        object_id: FromQuery[str | None] = None,
        since: FromQuery[datetime | None] = None,
        until: FromQuery[datetime | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        cursor: FromQuery[str | None] = None,
    ) -> AuditPage:
        require_admin(user, "nothing here: reading the audit log is for admins")
        query = select(AuditEvent)
        if action:
            # `export` matches every `export.*` action, an exact name matches itself.
            query = query.where((col(AuditEvent.action) == action) | col(AuditEvent.action).startswith(action + "."))
        if actor_user_id is not None:
            query = query.where(AuditEvent.actor_user_id == actor_user_id)
        if object_type:
            query = query.where(AuditEvent.object_type == object_type)
        if object_id:
            query = query.where(AuditEvent.object_id == object_id)
        for bound in (since, until):
            if bound is not None and bound.tzinfo is None:
                raise InvalidInput("since/until need a timezone, e.g. 2026-11-20T09:00:00Z")
        if since is not None:
            query = query.where(col(AuditEvent.at) >= since)
        if until is not None:
            query = query.where(col(AuditEvent.at) < until)
        if cursor:
            if not cursor.isdigit():
                raise InvalidInput("cursor is not one this API issued")
            query = query.where(col(AuditEvent.id) < int(cursor))
        rows = list(await session.exec(query.order_by(col(AuditEvent.id).desc()).limit(limit + 1)))
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = str(rows[-1].id)
        return AuditPage(items=[AuditEventPublic.model_validate(r) for r in rows], next_cursor=next_cursor)
