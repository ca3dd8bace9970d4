"""What Warmline listens for and what it heard: watches, mentions, which watch each matched, connector cursors
and quarantined payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm.models.base import json_field, ts_field


class Watch(SQLModel, table=True):
    """A listening campaign: what to look for, where, in which languages, owned by whom."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    description: str = Field(default="", sa_type=sa.Text)
    keywords: list[str] = json_field(list)
    query: str = Field(default="", sa_type=sa.Text)
    competitors: list[dict[str, Any]] = json_field(list)
    excluded_terms: list[str] = json_field(list)
    excluded_authors: list[str] = json_field(list)
    languages: list[str] = json_field(list)
    platforms: list[str] = json_field(list)
    owner_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    pipeline_id: int | None = Field(default=None, foreign_key="pipeline.id")
    active: bool = True
    poll_interval_seconds: int = 300
    # An offer or resource worth sharing with this campaign's leads (a guide, a trial); drafts mention it when set.
    offer: str | None = Field(default=None, sa_type=sa.Text)
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    created_at: datetime = ts_field(default_now=True)
    updated_at: datetime = ts_field(default_now=True)
    deleted_at: datetime | None = ts_field()


class Mention(SQLModel, table=True):
    """A public post seen on a platform, stored once per (platform, external id) with its raw payload."""

    __table_args__ = (sa.UniqueConstraint("platform", "external_id"),)
    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=20)
    external_id: str = Field(max_length=200)
    account_id: int | None = Field(default=None, foreign_key="platform_account.id", index=True)
    contact_id: int | None = Field(default=None, foreign_key="contact.id", index=True)
    text: str = Field(default="", sa_type=sa.Text)
    url: str = Field(default="", max_length=1000)
    language: str | None = Field(default=None, max_length=10)
    posted_at: datetime | None = ts_field(index=True)
    fetched_at: datetime = ts_field(default_now=True)
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    quotes: int = 0
    in_reply_to: str | None = Field(default=None, max_length=200)
    quote_of: str | None = Field(default=None, max_length=200)
    sentiment: float | None = None
    content_hash: str = Field(default="", max_length=64, index=True)
    duplicate_of_id: int | None = Field(default=None, foreign_key="mention.id", index=True)
    matched_terms: list[str] = json_field(list)
    matched_competitors: list[str] = json_field(list)
    score: float | None = None
    score_reasons: list[str] = json_field(list)
    raw: dict[str, Any] = json_field()


class MentionMatch(SQLModel, table=True):
    """Which watch a mention matched, and by which terms and competitors."""

    __tablename__ = "mention_match"
    __table_args__ = (sa.UniqueConstraint("mention_id", "watch_id"),)
    id: int | None = Field(default=None, primary_key=True)
    mention_id: int = Field(foreign_key="mention.id")  # the unique (mention_id, watch_id) indexes it
    watch_id: int = Field(foreign_key="watch.id", index=True)
    matched_terms: list[str] = json_field(list)
    matched_competitors: list[str] = json_field(list)
    created_at: datetime = ts_field(default_now=True)


class ListenerCursor(SQLModel, table=True):
    """Where a connector stopped, per watch and platform, written after the batch commits."""

    __tablename__ = "listener_cursor"
    __table_args__ = (sa.UniqueConstraint("watch_id", "platform", "source"),)
    id: int | None = Field(default=None, primary_key=True)
    watch_id: int = Field(foreign_key="watch.id", index=True)
    platform: str = Field(max_length=20)
    source: str = Field(default="", max_length=200)
    cursor: str = Field(default="", max_length=500)
    state: dict[str, Any] = json_field()
    updated_at: datetime = ts_field(default_now=True)


class QuarantinedPayload(SQLModel, table=True):
    """A payload that failed validation, kept whole with the reason, so it can be fixed and replayed."""

    __tablename__ = "quarantined_payload"
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=40, index=True)
    watch_id: int | None = Field(default=None, foreign_key="watch.id")
    reason: str = Field(sa_type=sa.Text)
    body: str = Field(sa_type=sa.Text)
    status: str = Field(default="open", max_length=20, index=True)  # open | replayed | discarded
    created_at: datetime = ts_field(default_now=True)
    replayed_at: datetime | None = ts_field()
