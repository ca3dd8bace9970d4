"""Who is writing: the workspace's sender profile (company, product, value proposition, website) and each user's
signature and display name, read by every draft so no message claims a product the user does not make."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm.models.base import ts_field

# The workspace has one profile; its row always has this id.
SENDER_PROFILE_ID = 1


class SenderProfile(SQLModel, table=True):
    __tablename__ = "sender_profile"
    id: int | None = Field(default=None, primary_key=True)
    company: str = Field(default="", max_length=200)
    product: str = Field(default="", max_length=200)
    value_proposition: str = Field(default="", max_length=300)
    website: str = Field(default="", max_length=500)
    updated_by_user_id: int | None = Field(default=None, foreign_key="user.id")
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    updated_at: datetime = ts_field(default_now=True)


class SenderSignature(SQLModel, table=True):
    """How one user signs their messages; keyed by the user."""

    __tablename__ = "sender_signature"
    user_id: int = Field(foreign_key="user.id", primary_key=True)
    display_name: str = Field(default="", max_length=200)
    signature: str = Field(default="", sa_type=sa.Text)
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    updated_at: datetime = ts_field(default_now=True)
