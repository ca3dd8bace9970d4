"""The lead list's filters, parsed once from the query string and applied the same way by every route that lists
leads (the JSON list and the CSV export)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from litestar.params import FromQuery, QueryParameter
from sqlmodel import col, select

from crm.errors import InvalidInput
from crm.models import Lead, LeadTag, Tag
from crm.schemas import MAX_ID, QueryId


@dataclass(frozen=True)
class LeadFilter:
    stage: str | None = None
    owner_id: int | None = None
    unassigned: bool | None = None
    campaign_ids: frozenset[int] = frozenset()
    platform: str | None = None
    score_min: float | None = None
    score_max: float | None = None
    tags: frozenset[str] = frozenset()
    updated_since: datetime | None = None

    def describe(self) -> dict[str, Any]:
        """The filters given, JSON-ready (for audit rows)."""
        values = {
            "stage": self.stage,
            "owner_id": self.owner_id,
            "unassigned": self.unassigned,
            "campaign_ids": sorted(self.campaign_ids),
            "platform": self.platform,
            "score_min": self.score_min,
            "score_max": self.score_max,
            "tags": sorted(self.tags),
            "updated_since": self.updated_since.isoformat() if self.updated_since else None,
        }
        return {k: v for k, v in values.items() if v not in (None, [])}

    def apply(self, query: Any) -> Any:
        if self.stage:
            query = query.where(Lead.stage == self.stage)
        if self.owner_id is not None:
            query = query.where(Lead.owner_id == self.owner_id)
        if self.unassigned is not None:
            owner = col(Lead.owner_id)
            query = query.where(owner.is_(None) if self.unassigned else owner.is_not(None))
        for campaign in self.campaign_ids:
            query = query.where(Lead.watch_id == campaign)
        if self.platform:
            query = query.where(Lead.platform == self.platform)
        if self.score_min is not None:
            query = query.where(col(Lead.score) >= self.score_min)
        if self.score_max is not None:
            query = query.where(col(Lead.score) <= self.score_max)
        for name in self.tags:
            query = query.where(
                select(LeadTag.id)
                .join(Tag, col(Tag.id) == col(LeadTag.tag_id))
                .where(LeadTag.lead_id == Lead.id, Tag.name == name)
                .exists()
            )
        if self.updated_since is not None:
            query = query.where(col(Lead.updated_at) >= self.updated_since)
        return query


async def provide_lead_filter(
    stage: Annotated[str | None, QueryParameter(max_length=40)] = None,
    owner_id: QueryId = None,
    unassigned: FromQuery[bool | None] = None,
    watch_id: QueryId = None,
    campaign_id: Annotated[int | None, QueryParameter(ge=1, le=MAX_ID, description="Alias of watch_id")] = None,
    platform: Annotated[str | None, QueryParameter(max_length=20)] = None,
    score_min: Annotated[float | None, QueryParameter(ge=0, le=100)] = None,
    score_max: Annotated[float | None, QueryParameter(ge=0, le=100)] = None,
    tag: Annotated[list[str] | None, QueryParameter(description="Leads carrying every tag given")] = None,
    updated_since: FromQuery[datetime | None] = None,
) -> LeadFilter:
    if updated_since is not None and updated_since.tzinfo is None:
        raise InvalidInput("updated_since needs a time zone (e.g. 2026-01-01T00:00:00Z)")
    return LeadFilter(
        stage=stage,
        owner_id=owner_id,
        unassigned=unassigned,
        campaign_ids=frozenset(c for c in (watch_id, campaign_id) if c is not None),
        platform=platform,
        score_min=score_min,
        score_max=score_max,
        tags=frozenset(t.strip().lower() for t in tag or [] if t.strip()),
        updated_since=updated_since,
    )
