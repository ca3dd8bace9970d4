"""API data models for the crm routes (SQLModel, not tables): what consumers send and receive."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class AccountPublic(SQLModel):
    id: int
    platform: str
    handle: str
    display_name: str
    followers: int | None
    dm_open: bool
    profile_url: str


class LeadPublic(SQLModel):
    id: int
    contact_id: int
    watch_id: int | None
    pipeline_id: int
    stage: str
    score: float | None
    score_reasons: list[str]
    model_version: str | None
    owner_id: int | None
    platform: str | None
    external_id: str | None
    display_name: str = ""
    handle: str | None = None
    first_mention_text: str | None = None
    first_mention_url: str | None = None
    response_due_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


class LeadPage(SQLModel):
    items: list[LeadPublic]
    next_cursor: str | None = None


class StageMove(SQLModel):
    to_stage: str = Field(min_length=1, max_length=40)
    reason: str = Field(default="", max_length=500)


class StageChangePublic(SQLModel):
    id: int
    lead_id: int
    from_stage: str | None
    to_stage: str
    actor: str
    reason: str
    at: datetime
