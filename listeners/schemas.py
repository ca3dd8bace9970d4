"""API data models for watches (`/api/v1/watches`, also served as the deprecated `/api/v1/campaigns`) and
mentions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import StringConstraints
from sqlmodel import Field, SQLModel

from crm.schemas import Id


class Competitor(SQLModel):
    name: str = Field(min_length=1, max_length=120)
    aliases: list[str] = Field(default_factory=list)
    handles: list[str] = Field(default_factory=list)


Name = Annotated[str, StringConstraints(min_length=1, max_length=120, pattern=r"^[^\x00]+$")]
Description = Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")]
Offer = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500, pattern=r"^[^\x00]*$")]
OFFER_HELP = (
    'An offer or resource worth sharing with this campaign\'s leads ("our migration checklist"); drafts offer it.'
)
Query = Annotated[str, StringConstraints(max_length=20_000, pattern=r"^[^\x00]*$")]
# Terms are matched as written, less the spaces around them; a blank term would match every post.
Term = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00]+$")]
Language = Annotated[str, StringConstraints(min_length=2, max_length=10, pattern=r"^[a-z-]+$")]
Platform = Annotated[str, StringConstraints(min_length=1, max_length=20, pattern=r"^[a-z0-9_]+$")]


class WatchCreate(SQLModel):
    """A watch: what to listen for (keywords or a query, competitors, exclusions) and where its leads open."""

    name: Name
    description: Description = ""
    keywords: list[Term] = Field(default_factory=list, max_length=500)
    query: Query = Field(default="", description="Boolean query (AND, OR, NOT, NEAR/n, quotes, brackets).")
    competitors: list[Competitor] = Field(default_factory=list, max_length=200)
    excluded_terms: list[Term] = Field(default_factory=list, max_length=500)
    excluded_authors: list[Term] = Field(default_factory=list, max_length=500)
    languages: list[Language] = Field(default_factory=list, max_length=50)
    platforms: list[Platform] = Field(default_factory=list, max_length=10)
    pipeline_id: Id | None = Field(default=None, description="Where its leads open; the default pipeline if null.")
    owner_id: Id | None = Field(default=None, description="Defaults to the caller.")
    active: bool = True
    offer: Offer | None = Field(default=None, description=OFFER_HELP)


class WatchUpdate(SQLModel):
    """PATCH body: only the fields sent change; `pipeline_id` and `owner_id` may be set to null."""

    name: Name | None = None
    description: Description | None = None
    keywords: list[Term] | None = Field(default=None, max_length=500)
    query: Query | None = None
    competitors: list[Competitor] | None = Field(default=None, max_length=200)
    excluded_terms: list[Term] | None = Field(default=None, max_length=500)
    excluded_authors: list[Term] | None = Field(default=None, max_length=500)
    languages: list[Language] | None = Field(default=None, max_length=50)
    platforms: list[Platform] | None = Field(default=None, max_length=10)
    pipeline_id: Id | None = None
    owner_id: Id | None = None
    active: bool | None = None
    offer: Offer | None = Field(default=None, description=OFFER_HELP + " Null removes it.")


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
    pipeline_id: int | None
    owner_id: int | None
    active: bool
    offer: str | None = None
    version: int
    created_at: datetime
    updated_at: datetime


class WatchPage(SQLModel):
    items: list[WatchPublic]
    next_cursor: str | None = None


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


class MentionPage(SQLModel):
    items: list[MentionPublic]
    next_cursor: str | None = None


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
