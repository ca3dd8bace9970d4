"""API data models for drafts, messages and replies."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class DraftCreate(SQLModel):
    template: str | None = Field(
        default=None,
        max_length=20_000,
        description=(
            "Jinja template; the default first DM if omitted. Fields: name (the greeting: first name, or 'there'), "
            "platform_label, mention_excerpt, competitor, product, company. It renders sandboxed in a worker process "
            "within 1 s and a memory cap; include, extends, import, from and self are refused, and so is any error "
            "(422 naming the line or the limit)."
        ),
    )


class MarkSent(SQLModel):
    external_id: str | None = Field(default=None, max_length=200)


class ReplyCreate(SQLModel):
    body: str = Field(min_length=1, max_length=20_000)
    external_id: str | None = Field(default=None, max_length=200)


class MessagePublic(SQLModel):
    id: int
    conversation_id: int
    lead_id: int
    direction: str
    channel: str
    platform: str
    status: str
    body: str
    external_id: str | None
    classification: str | None
    created_at: datetime
    sent_at: datetime | None
    received_at: datetime | None


class MessagePage(SQLModel):
    items: list[MessagePublic]
    next_cursor: str | None = None
