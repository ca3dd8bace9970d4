"""API data models for watches and mentions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import field_validator
from sqlmodel import Field, SQLModel


class Competitor(SQLModel):
    name: str = Field(min_length=1, max_length=120)
    aliases: list[str] = Field(default_factory=list)
    handles: list[str] = Field(default_factory=list)


class WatchCreate(SQLModel):
    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=2000)
    keywords: list[str] = Field(default_factory=list, max_length=500)
    query: str = Field(default="", max_length=20_000)
    competitors: list[Competitor] = Field(default_factory=list, max_length=200)
    excluded_terms: list[str] = Field(default_factory=list, max_length=500)
    excluded_authors: list[str] = Field(default_factory=list, max_length=500)
    languages: list[str] = Field(default_factory=list, max_length=50)
    platforms: list[str] = Field(default_factory=list, max_length=10)
    active: bool = True

    @field_validator("keywords", "excluded_terms", "excluded_authors")
    @classmethod
    def _no_blank_terms(cls, value: list[str]) -> list[str]:
        cleaned = [v.strip() for v in value]
        if any(not v or len(v) > 200 for v in cleaned):
            raise ValueError("terms must be non-empty and at most 200 characters")
        return cleaned


class WatchPublic(SQLModel):
    id: int
    name: str
    description: str
    keywords: list[str]
    query: str
    competitors: list[dict[str, Any]]
    excluded_terms: list[str]
    excluded_authors: list[str]
    languages: list[str]
    platforms: list[str]
    owner_id: int | None
    active: bool
    created_at: datetime


class MentionImportReport(SQLModel):
    """What a mention import or push did (the CSV contact import has its own ImportReport)."""

    stored: int
    duplicates: int
    matched: int
    new_leads: int
    quarantined: int
    suppressed: int = 0


class MentionPublic(SQLModel):
    id: int
    platform: str
    external_id: str
    text: str
    url: str
    language: str | None
    posted_at: datetime | None
    account_id: int | None
    contact_id: int | None
    likes: int
    reposts: int
    replies: int
    sentiment: float | None
    duplicate_of_id: int | None
    matched_terms: list[str]
    matched_competitors: list[str]
    score: float | None
    score_reasons: list[str]


class PreviewRequest(SQLModel):
    """A watch definition to try against stored mentions; `watch_id` starts from a saved watch."""

    watch_id: int | None = None
    keywords: list[str] | None = Field(default=None, max_length=500)
    query: str | None = Field(default=None, max_length=20_000)
    competitors: list[Competitor] | None = Field(default=None, max_length=200)
    excluded_terms: list[str] | None = Field(default=None, max_length=500)
    excluded_authors: list[str] | None = Field(default=None, max_length=500)
    languages: list[str] | None = Field(default=None, max_length=50)
    platforms: list[str] | None = Field(default=None, max_length=10)
    scan: int = Field(default=5000, ge=1, le=100_000)
    limit: int = Field(default=20, ge=0, le=200)


class PreviewMention(SQLModel):
    mention_id: int
    platform: str
    handle: str
    text: str
    url: str
    posted_at: datetime | None
    matched_terms: list[str]
    matched_competitors: list[str]


class PreviewPublic(SQLModel):
    scanned: int
    matched: int
    items: list[PreviewMention]
