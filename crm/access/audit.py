"""Append-only audit trail: every sign-in, export, erasure, send and permission change writes one row."""

from __future__ import annotations

from typing import Any

import structlog
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.models import AuditEvent


def record(
    session: AsyncSession,
    action: str,
    *,
    actor: str = "system",
    actor_user_id: int | None = None,
    object_type: str = "",
    object_id: object = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    request_id = structlog.contextvars.get_contextvars().get("request_id", "")
    event = AuditEvent(
        action=action,
        actor=actor,
        actor_user_id=actor_user_id,
        object_type=object_type,
        object_id=str(object_id),
        detail=detail or {},
        request_id=str(request_id),
    )
    session.add(event)
    return event
