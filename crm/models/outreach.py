"""Conversations with leads and the messages in them, outbound and inbound."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm.models.base import Channel, ts_field


class Conversation(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    platform: str = Field(max_length=20)
    channel: str = Field(default=Channel.DM.value, max_length=20)
    external_thread_id: str | None = Field(default=None, max_length=200)
    created_at: datetime = ts_field(default_now=True)


class Message(SQLModel, table=True):
    """One message in a conversation, outbound draft to sent, or inbound reply, kept as the record."""

    __table_args__ = (sa.UniqueConstraint("platform", "external_id"),)
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    direction: str = Field(max_length=10)
    channel: str = Field(default=Channel.DM.value, max_length=20)
    platform: str = Field(max_length=20)
    status: str = Field(max_length=20, index=True)
    body: str = Field(sa_type=sa.Text)
    template: str | None = Field(default=None, max_length=120)
    # Which situation chose the built-in template ("general" when none fitted) and which of its variants was sent.
    situation: str | None = Field(default=None, max_length=40)
    variant: str | None = Field(default=None, max_length=40)
    external_id: str | None = Field(default=None, max_length=200)
    author_user_id: int | None = Field(default=None, foreign_key="user.id")
    classification: str | None = Field(default=None, max_length=40)
    error: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = ts_field(default_now=True)
    updated_at: datetime = ts_field(default_now=True)
    sent_at: datetime | None = ts_field()
    received_at: datetime | None = ts_field()
