"""People and their platform accounts: contacts, organisations, account snapshots, consent, the suppression
list and merge history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm.models.base import json_field, ts_field


class Organisation(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    domain: str | None = Field(default=None, max_length=253, index=True)
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    created_at: datetime = ts_field(default_now=True)
    updated_at: datetime = ts_field(default_now=True)
    deleted_at: datetime | None = ts_field()


class Contact(SQLModel, table=True):
    """One person across platforms; platform accounts point here."""

    id: int | None = Field(default=None, primary_key=True)
    display_name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=320, index=True)
    organisation_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    external_id: str | None = Field(default=None, max_length=200, unique=True)
    consent_basis: str | None = Field(default=None, max_length=40)
    consent_at: datetime | None = ts_field()
    contact_initiated: bool = False
    do_not_contact: bool = False
    merged_into_id: int | None = Field(default=None, foreign_key="contact.id", index=True)
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    created_at: datetime = ts_field(default_now=True)
    updated_at: datetime = ts_field(default_now=True, index=True)
    deleted_at: datetime | None = ts_field()


class PlatformAccount(SQLModel, table=True):
    """The person behind a handle on one platform, with reach figures and whether their DMs are open."""

    __tablename__ = "platform_account"
    __table_args__ = (sa.UniqueConstraint("platform", "handle"),)
    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=20)
    handle: str = Field(max_length=200)
    external_id: str | None = Field(default=None, max_length=200)
    contact_id: int | None = Field(default=None, foreign_key="contact.id", index=True)
    display_name: str = Field(default="", max_length=200)
    bio: str = Field(default="", sa_type=sa.Text)
    profile_url: str = Field(default="", max_length=500)
    followers: int | None = None
    following: int | None = None
    posts_count: int | None = None
    verified: bool = False
    dm_open: bool = False
    account_created_at: datetime | None = ts_field()
    # When the figures were last kept as an AccountSnapshot: ingestion keeps at most one a day (scoring.growth).
    snapshot_at: datetime | None = ts_field()
    influencer_score: float | None = None
    influencer_tier: str | None = Field(default=None, max_length=10)
    influencer_reasons: list[str] = json_field(list)
    authenticity_flag: bool | None = None
    profile: dict[str, Any] = json_field()
    created_at: datetime = ts_field(default_now=True)
    updated_at: datetime = ts_field(default_now=True)


class AccountSnapshot(SQLModel, table=True):
    """An account's follower/following/post counts when ingestion saw them change: the history growth is read from."""

    __tablename__ = "account_snapshot"
    __table_args__ = (sa.Index("ix_account_snapshot_account_at", "account_id", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="platform_account.id")
    at: datetime = ts_field(default_now=True)
    followers: int | None = None
    following: int | None = None
    posts_count: int | None = None


class ConsentRecord(SQLModel, table=True):
    """Lawful basis or consent for contacting a person, with its source and any withdrawal."""

    __tablename__ = "consent_record"
    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    basis: str = Field(max_length=40)
    channel: str = Field(default="any", max_length=20)
    source: str = Field(default="", max_length=200)
    granted_at: datetime = ts_field(default_now=True)
    withdrawn_at: datetime | None = ts_field()
    recorded_by_user_id: int | None = Field(default=None, foreign_key="user.id")


class Suppression(SQLModel, table=True):
    """Do-not-contact list; erased people stay here only as a salted hash of their identifiers."""

    id: int | None = Field(default=None, primary_key=True)
    value_hash: str = Field(max_length=128, unique=True)
    kind: str = Field(max_length=20)
    reason: str = Field(default="", max_length=200)
    created_at: datetime = ts_field(default_now=True)


class ContactMerge(SQLModel, table=True):
    """History of a merge: which contact was folded into which, by whom, and what moved."""

    __tablename__ = "contact_merge"
    id: int | None = Field(default=None, primary_key=True)
    source_contact_id: int = Field(foreign_key="contact.id", index=True)
    target_contact_id: int = Field(foreign_key="contact.id", index=True)
    actor_user_id: int | None = Field(default=None, foreign_key="user.id")
    at: datetime = ts_field(default_now=True)
    detail: dict[str, Any] = json_field()
