"""The lead list's filters, parsed once from the query string and applied the same way by every route that lists
leads (the JSON list and the CSV export), together with the caller's lead scope: a LeadFilter never reads past
what its caller may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from litestar.params import FromQuery, QueryParameter
from sqlmodel import col, select

from crm.access.policy import LeadScope, lead_scope_condition, lead_scope_of
from crm.errors import InvalidInput
from crm.http.deps import CurrentUser
from crm.models import Lead, LeadTag, Tag
from crm.schemas import MAX_ID, QueryId

NO_LEADS = LeadScope("none")


@dataclass(frozen=True)
class LeadFilter:
    # Whose leads: the caller's scope (crm.access.policy); the default sees none.
    scope: LeadScope = NO_LEADS
    stage: str | None = None
    owner_id: int | None = None
    unassigned: bool | None = None
    watch_ids: frozenset[int] = frozenset()
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
            "watch_ids": sorted(self.watch_ids),
            "platform": self.platform,
            "score_min": self.score_min,
            "score_max": self.score_max,
            "tags": sorted(self.tags),
            "updated_since": self.updated_since.isoformat() if self.updated_since else None,
        }
        return {k: v for k, v in values.items() if v not in (None, [])}

    def values(self) -> dict[str, Any]:
        """Each filter given, by a name that also says which condition it feeds (see `lead_filter_conditions`)."""
        values: dict[str, Any] = {}
        if self.stage:
            values["stage"] = self.stage
        if self.owner_id is not None:
            values["owner_id"] = self.owner_id
        for n, watch_id in enumerate(sorted(self.watch_ids)):
            values[f"watch_{n}"] = watch_id
        if self.platform:
            values["platform"] = self.platform
        if self.score_min is not None:
            values["score_min"] = self.score_min
        if self.score_max is not None:
            values["score_max"] = self.score_max
        for n, name in enumerate(sorted(self.tags)):
            values[f"tag_{n}"] = name
        if self.updated_since is not None:
            values["updated_since"] = self.updated_since
        return values

    def apply(self, query: Any) -> Any:
        """The query narrowed to the caller's scope and the filters given."""
        scope = lead_scope_condition(self.scope.kind, self.scope.user_id, self.scope.team_id)
        return query.where(scope, *lead_filter_conditions(self.values(), self.unassigned))


def lead_filter_conditions(values: dict[str, Any], unassigned: bool | None) -> list[Any]:
    """The conditions on Lead for `LeadFilter.values()`; each value may be a plain value or a bind parameter (the
    lead list compiles its statement once per set of names and binds the values on each request)."""
    conditions: list[Any] = []
    for name, value in values.items():
        if name == "stage":
            conditions.append(col(Lead.stage) == value)
        elif name == "owner_id":
            conditions.append(col(Lead.owner_id) == value)
        elif name.startswith("watch_"):
            conditions.append(col(Lead.watch_id) == value)
        elif name == "platform":
            conditions.append(col(Lead.platform) == value)
        elif name == "score_min":
            conditions.append(col(Lead.score) >= value)
        elif name == "score_max":
            conditions.append(col(Lead.score) <= value)
        elif name.startswith("tag_"):
            conditions.append(
                select(LeadTag.id)
                .join(Tag, col(Tag.id) == col(LeadTag.tag_id))
                .where(col(LeadTag.lead_id) == col(Lead.id), col(Tag.name) == value)
                .exists()
            )
        elif name == "updated_since":
            conditions.append(col(Lead.updated_at) >= value)
        else:  # pragma: no cover - values() and this function name the same filters
            raise ValueError(f"unknown lead filter {name!r}")
    if unassigned is not None:
        owner = col(Lead.owner_id)
        conditions.append(owner.is_(None) if unassigned else owner.is_not(None))
    return conditions


async def provide_lead_filter(
    user: CurrentUser,
    stage: Annotated[str | None, QueryParameter(max_length=40)] = None,
    owner_id: QueryId = None,
    unassigned: FromQuery[bool | None] = None,
    watch_id: QueryId = None,
    campaign_id: Annotated[
        int | None,
        QueryParameter(ge=1, le=MAX_ID, description="Deprecated alias of watch_id", schema_extra={"deprecated": True}),
    ] = None,
    platform: Annotated[str | None, QueryParameter(max_length=20)] = None,
    score_min: Annotated[float | None, QueryParameter(ge=0, le=100)] = None,
    score_max: Annotated[float | None, QueryParameter(ge=0, le=100)] = None,
    tag: Annotated[list[str] | None, QueryParameter(description="Leads carrying every tag given")] = None,
    updated_since: FromQuery[datetime | None] = None,
) -> LeadFilter:
    if updated_since is not None and updated_since.tzinfo is None:
        raise InvalidInput("updated_since needs a time zone (e.g. 2026-01-01T00:00:00Z)")
    # Taking the caller here also makes Litestar resolve the caller first and then the filters: two dependencies
    # on one level are resolved in a task group, which cost more than either of them.
    return LeadFilter(
        scope=lead_scope_of(user),
        stage=stage,
        owner_id=owner_id,
        unassigned=unassigned,
        watch_ids=frozenset(w for w in (watch_id, campaign_id) if w is not None),
        platform=platform,
        score_min=score_min,
        score_max=score_max,
        tags=frozenset(t.strip().lower() for t in tag or [] if t.strip()),
        updated_since=updated_since,
    )
