"""Leads and the pipelines they move through: pipelines, stages, leads, stage changes, tags, notes, tasks and
routing rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateIndex
from sqlmodel import Field, SQLModel

from crm.models.base import json_field, ts_field


class Pipeline(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    is_default: bool = False
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    created_at: datetime = ts_field(default_now=True)
    updated_at: datetime = ts_field(default_now=True)
    deleted_at: datetime | None = ts_field()


class Stage(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("pipeline_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    pipeline_id: int = Field(foreign_key="pipeline.id", index=True)
    key: str = Field(max_length=40)
    name: str = Field(max_length=80)
    position: int
    kind: str = Field(default="open", max_length=10)  # open | won | lost


def lead_list_index(name: str, *columns: str) -> sa.Index:
    """An index behind one of the lead list's filter combinations, over live leads only (as the list reads).

    Every index ends in the list's best-first order, `score DESC NULLS LAST, id DESC`, or in (updated_at, id), which
    PostgreSQL and SQLite both scan backwards for newest first.
    """
    best_first = "score" in columns
    order: dict[str, Any] = (
        {"score": sa.desc(sa.column("score")).nulls_last(), "id": sa.desc(sa.column("id"))} if best_first else {}
    )
    keys = [order.get(c, c) for c in columns]
    live = sa.text("deleted_at IS NULL")
    return sa.Index(name, *keys, postgresql_where=live, sqlite_where=live)


@compiles(CreateIndex, "sqlite")
def _sqlite_create_index(element: CreateIndex, compiler: Any, **kw: Any) -> str:
    # SQLite refuses NULLS FIRST/LAST in an index; its DESC already puts NULLs last, so the order is the same.
    return str(compiler.visit_create_index(element, **kw)).replace(" DESC NULLS LAST", " DESC")


class Lead(SQLModel, table=True):
    """A contact in a campaign: one per contact and watch, with score, stage and owner."""

    __table_args__ = (
        sa.UniqueConstraint("contact_id", "watch_id"),
        sa.Index("ix_lead_score_id", "score", "id"),
        sa.Index("ix_lead_updated_id", "updated_at", "id"),
        # The lead list (GET /api/v1/leads, the board, CSV export): campaign + stage, stage, campaign, owner, none.
        lead_list_index("ix_lead_list_watch_stage_score", "watch_id", "stage", "score", "id"),
        lead_list_index("ix_lead_list_watch_stage_updated", "watch_id", "stage", "updated_at", "id"),
        lead_list_index("ix_lead_list_stage_score", "stage", "score", "id"),
        lead_list_index("ix_lead_list_stage_updated", "stage", "updated_at", "id"),
        lead_list_index("ix_lead_list_watch_score", "watch_id", "score", "id"),
        lead_list_index("ix_lead_list_owner_score", "owner_id", "score", "id"),
        lead_list_index("ix_lead_list_score", "score", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    # No index of its own: the unique (contact_id, watch_id) serves lookups by contact and the foreign key.
    contact_id: int = Field(foreign_key="contact.id")
    watch_id: int | None = Field(default=None, foreign_key="watch.id", index=True)
    pipeline_id: int = Field(foreign_key="pipeline.id", index=True)
    stage: str = Field(default="new", max_length=40, index=True)
    score: float | None = None
    score_reasons: list[str] = json_field(list)
    model_version: str | None = Field(default=None, max_length=80)
    owner_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    external_id: str | None = Field(default=None, max_length=200, unique=True)
    platform: str | None = Field(default=None, max_length=20)
    first_mention_id: int | None = Field(default=None, foreign_key="mention.id")
    response_due_at: datetime | None = ts_field()
    last_activity_at: datetime | None = ts_field()
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    created_at: datetime = ts_field(default_now=True)
    updated_at: datetime = ts_field(default_now=True)
    deleted_at: datetime | None = ts_field()


class StageChange(SQLModel, table=True):
    """Audit row for every stage move; also the label source for retraining."""

    __tablename__ = "stage_change"
    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    from_stage: str | None = Field(default=None, max_length=40)
    to_stage: str = Field(max_length=40)
    actor_user_id: int | None = Field(default=None, foreign_key="user.id")
    actor: str = Field(default="system", max_length=120)
    reason: str = Field(default="", max_length=500)
    at: datetime = ts_field(default_now=True, index=True)


class Tag(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=60, unique=True)
    created_at: datetime = ts_field(default_now=True)


class LeadTag(SQLModel, table=True):
    __tablename__ = "lead_tag"
    __table_args__ = (sa.UniqueConstraint("lead_id", "tag_id"),)
    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    tag_id: int = Field(foreign_key="tag.id", index=True)
    created_at: datetime = ts_field(default_now=True)


class Note(SQLModel, table=True):
    """A rep's note on a lead; part of the lead's timeline."""

    __table_args__ = (sa.Index("ix_note_updated_id", "updated_at", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    author_user_id: int | None = Field(default=None, foreign_key="user.id")
    body: str = Field(sa_type=sa.Text)
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    created_at: datetime = ts_field(default_now=True)
    updated_at: datetime = ts_field(default_now=True)
    deleted_at: datetime | None = ts_field()


class Task(SQLModel, table=True):
    """A follow-up on a lead with a due date and an assignee."""

    __table_args__ = (sa.Index("ix_task_updated_id", "updated_at", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    title: str = Field(max_length=200)
    description: str = Field(default="", sa_type=sa.Text)
    due_at: datetime | None = ts_field(index=True)
    done_at: datetime | None = ts_field()
    assignee_user_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    created_by_user_id: int | None = Field(default=None, foreign_key="user.id")
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    created_at: datetime = ts_field(default_now=True)
    updated_at: datetime = ts_field(default_now=True)
    deleted_at: datetime | None = ts_field()


class RoutingRule(SQLModel, table=True):
    """Who gets a new lead: first matching rule (by position) assigns a user or round-robins a team's reps."""

    __tablename__ = "routing_rule"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    position: int = 0
    watch_id: int | None = Field(default=None, foreign_key="watch.id")
    platform: str | None = Field(default=None, max_length=20)
    min_score: float | None = None
    user_id: int | None = Field(default=None, foreign_key="user.id")
    team_id: int | None = Field(default=None, foreign_key="team.id")
    last_user_id: int | None = Field(default=None, foreign_key="user.id")
    active: bool = True
    created_at: datetime = ts_field(default_now=True)
