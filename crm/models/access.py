"""Who works in Warmline and what they did: teams, users, API keys, the audit trail and idempotency records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm.models.base import Role, json_field, ts_field


class Team(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    created_at: datetime = ts_field(default_now=True)


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    name: str = Field(default="", max_length=200)
    role: str = Field(default=Role.SALES_REP.value, max_length=20)
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    password_hash: str | None = Field(default=None, max_length=200)
    is_active: bool = True
    created_at: datetime = ts_field(default_now=True)


class ApiKey(SQLModel, table=True):
    """A consumer's key: only the hash is stored; the prefix finds the row without scanning."""

    __tablename__ = "api_key"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    name: str = Field(max_length=120)
    prefix: str = Field(max_length=16, unique=True)
    key_hash: str = Field(max_length=128)
    scopes: list[str] = json_field(list)
    rate_limit_per_minute: int = 600
    created_at: datetime = ts_field(default_now=True)
    last_used_at: datetime | None = ts_field()
    revoked_at: datetime | None = ts_field()


class AuditEvent(SQLModel, table=True):
    """Append-only record of who did what: sign-ins, exports, erasures, sends, permission changes."""

    __tablename__ = "audit_event"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = ts_field(default_now=True, index=True)
    actor_user_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    actor: str = Field(default="system", max_length=120)
    action: str = Field(max_length=80, index=True)
    object_type: str = Field(default="", max_length=60)
    object_id: str = Field(default="", max_length=64)
    detail: dict[str, Any] = json_field()
    request_id: str = Field(default="", max_length=64)


class IdempotencyRecord(SQLModel, table=True):
    """A POST seen with an Idempotency-Key: who sent it, what it was, and the response to replay."""

    __tablename__ = "idempotency_record"
    __table_args__ = (sa.UniqueConstraint("owner", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(max_length=64)
    key: str = Field(max_length=200)
    fingerprint: str = Field(max_length=64)
    status_code: int | None = None
    response_headers: dict[str, str] = json_field()
    response_body: str = Field(default="", sa_type=sa.Text)
    created_at: datetime = ts_field(default_now=True, index=True)
    completed_at: datetime | None = ts_field()
