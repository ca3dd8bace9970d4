"""API data models for the crm routes (SQLModel, not tables): what consumers send and receive."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from litestar.params import PathParameter, QueryParameter
from pydantic import AwareDatetime, StringConstraints
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
    tags: list[str] = Field(default_factory=list)


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


# --------------------------------------------------------------------------- CRM records, users and keys (issue 5, part A)

MAX_ID = 2**31 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
# Ids in paths and filters are bounded like the columns they are compared with (a 32-bit integer on PostgreSQL).
PathId = Annotated[int, PathParameter(ge=1, le=MAX_ID)]
QueryId = Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)]
# A keyset page: how many rows, and the cursor the previous page handed out.
PageLimit = Annotated[int, QueryParameter(ge=1, le=500)]
PageCursor = Annotated[str | None, QueryParameter(max_length=500)]
TagName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60, pattern=r"^[^\x00-\x1f]+$")
]
Text200 = Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00]*$")]
StageKey = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")]
RoleName = Literal["admin", "sales_rep", "marketer", "read_only"]
Scope = Literal["read", "write"]


class LeadCreate(SQLModel):
    contact_id: Id
    watch_id: Id | None = Field(default=None, description="The watch this lead belongs to.")
    pipeline_id: Id | None = Field(
        default=None, description="Defaults to the watch's pipeline, else the default pipeline."
    )
    owner_id: Id | None = None
    platform: str | None = Field(default=None, min_length=1, max_length=20, schema_extra={"pattern": r"^[a-z0-9_]+$"})
    external_id: str | None = Field(default=None, min_length=1, max_length=200, schema_extra={"pattern": r"^[^\x00]+$"})
    tags: list[TagName] = Field(default_factory=list, max_length=50)


class LeadUpsert(SQLModel):
    """The body of PUT /leads/by-external-id/{external_id}: creates the lead or updates the one with that id."""

    contact_id: Id
    watch_id: Id | None = None
    owner_id: Id | None = None
    platform: str | None = Field(default=None, min_length=1, max_length=20, schema_extra={"pattern": r"^[a-z0-9_]+$"})
    tags: list[TagName] | None = Field(default=None, max_length=50)


class LeadUpdate(SQLModel):
    """PATCH body: only the fields sent change. A stage change goes through the stage machine."""

    owner_id: Id | None = None
    watch_id: Id | None = None
    platform: str | None = Field(default=None, min_length=1, max_length=20, schema_extra={"pattern": r"^[a-z0-9_]+$"})
    external_id: str | None = Field(default=None, min_length=1, max_length=200, schema_extra={"pattern": r"^[^\x00]+$"})
    tags: list[TagName] | None = Field(default=None, max_length=50)
    stage: StageKey | None = None
    reason: str = Field(default="", max_length=500, schema_extra={"pattern": r"^[^\x00]*$"})


class LeadScorePublic(SQLModel):
    id: int
    lead_id: int
    mention_id: int | None
    model_version: str
    probability: float
    score: float
    reasons: list[str]
    created_at: datetime


class TimelineItem(SQLModel):
    kind: Literal["mention", "score", "message", "stage_change", "note", "task", "assignment"]
    id: int
    at: datetime
    summary: str
    actor: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class OrganisationCreate(SQLModel):
    name: str = Field(min_length=1, max_length=200, schema_extra={"pattern": r"^[^\x00]+$"})
    domain: str | None = Field(
        default=None, min_length=1, max_length=253, schema_extra={"pattern": r"^[A-Za-z0-9.-]+$"}
    )


class OrganisationUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=200, schema_extra={"pattern": r"^[^\x00]+$"})
    domain: str | None = Field(
        default=None, min_length=1, max_length=253, schema_extra={"pattern": r"^[A-Za-z0-9.-]+$"}
    )


class OrganisationPublic(SQLModel):
    id: int
    name: str
    domain: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class OrganisationPage(SQLModel):
    items: list[OrganisationPublic]
    next_cursor: str | None = None


class ContactCreate(SQLModel):
    display_name: str = Field(default="", max_length=200, schema_extra={"pattern": r"^[^\x00]*$"})
    email: str | None = Field(default=None, max_length=320, schema_extra={"pattern": r"^[^@\s\x00]+@[^@\s\x00]+$"})
    organisation_id: Id | None = None
    external_id: str | None = Field(default=None, min_length=1, max_length=200, schema_extra={"pattern": r"^[^\x00]+$"})


class ContactUpdate(SQLModel):
    display_name: str | None = Field(default=None, max_length=200, schema_extra={"pattern": r"^[^\x00]*$"})
    email: str | None = Field(default=None, max_length=320, schema_extra={"pattern": r"^[^@\s\x00]+@[^@\s\x00]+$"})
    organisation_id: Id | None = None
    external_id: str | None = Field(default=None, min_length=1, max_length=200, schema_extra={"pattern": r"^[^\x00]+$"})
    do_not_contact: bool | None = None


class ContactPublic(SQLModel):
    id: int
    display_name: str
    email: str | None
    organisation_id: int | None
    external_id: str | None
    do_not_contact: bool
    merged_into_id: int | None
    version: int
    created_at: datetime
    updated_at: datetime
    accounts: list[AccountPublic] = Field(default_factory=list)


class ContactPage(SQLModel):
    items: list[ContactPublic]
    next_cursor: str | None = None


class ContactMergeRequest(SQLModel):
    source_contact_id: Id = Field(description="The duplicate; it is folded into the contact in the path.")


class ContactMergePublic(SQLModel):
    id: int
    source_contact_id: int
    target_contact_id: int
    actor_user_id: int | None
    at: datetime
    detail: dict[str, Any]


class StageCreate(SQLModel):
    key: StageKey
    name: str = Field(min_length=1, max_length=80, schema_extra={"pattern": r"^[^\x00]+$"})
    kind: Literal["open", "won", "lost"] = "open"


class StageUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=80, schema_extra={"pattern": r"^[^\x00]+$"})
    position: int | None = Field(default=None, ge=0, le=1000)


class StagePublic(SQLModel):
    id: int
    key: str
    name: str
    position: int
    kind: str


class PipelineCreate(SQLModel):
    name: str = Field(min_length=1, max_length=120, schema_extra={"pattern": r"^[^\x00]+$"})
    is_default: bool = False
    stages: list[StageCreate] = Field(min_length=1, max_length=50)


class PipelineUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=120, schema_extra={"pattern": r"^[^\x00]+$"})
    is_default: bool | None = Field(default=None, description="Only `true` is accepted: make this the default.")


class PipelinePublic(SQLModel):
    id: int
    name: str
    is_default: bool
    version: int
    created_at: datetime
    updated_at: datetime
    stages: list[StagePublic]


class NoteCreate(SQLModel):
    body: str = Field(min_length=1, max_length=20_000, schema_extra={"pattern": r"^[^\x00]+$"})


class NoteUpdate(NoteCreate):
    pass


class NotePublic(SQLModel):
    id: int
    lead_id: int
    author_user_id: int | None
    body: str
    version: int
    created_at: datetime
    updated_at: datetime


class TaskCreate(SQLModel):
    title: str = Field(min_length=1, max_length=200, schema_extra={"pattern": r"^[^\x00]+$"})
    description: str = Field(default="", max_length=20_000, schema_extra={"pattern": r"^[^\x00]*$"})
    due_at: AwareDatetime | None = None
    assignee_user_id: Id | None = None


class TaskUpdate(SQLModel):
    title: str | None = Field(default=None, min_length=1, max_length=200, schema_extra={"pattern": r"^[^\x00]+$"})
    description: str | None = Field(default=None, max_length=20_000, schema_extra={"pattern": r"^[^\x00]*$"})
    due_at: AwareDatetime | None = None
    assignee_user_id: Id | None = None
    done: bool | None = None


class TaskPublic(SQLModel):
    id: int
    lead_id: int
    title: str
    description: str
    due_at: datetime | None
    done_at: datetime | None
    assignee_user_id: int | None
    created_by_user_id: int | None
    version: int
    created_at: datetime
    updated_at: datetime


class TaskPage(SQLModel):
    items: list[TaskPublic]
    next_cursor: str | None = None


class TagPublic(SQLModel):
    id: int
    name: str


class TeamCreate(SQLModel):
    name: str = Field(min_length=1, max_length=120, schema_extra={"pattern": r"^[^\x00]+$"})


class TeamPublic(SQLModel):
    id: int
    name: str
    created_at: datetime


class UserCreate(SQLModel):
    email: str = Field(max_length=320, schema_extra={"pattern": r"^[^@\s\x00]+@[^@\s\x00]+$"})
    name: str = Field(default="", max_length=200, schema_extra={"pattern": r"^[^\x00]*$"})
    role: RoleName = "sales_rep"
    team_id: Id | None = None
    password: str | None = Field(default=None, min_length=12, max_length=200, schema_extra={"pattern": r"^[^\x00]+$"})


class UserUpdate(SQLModel):
    name: str | None = Field(default=None, max_length=200, schema_extra={"pattern": r"^[^\x00]*$"})
    role: RoleName | None = None
    team_id: Id | None = None
    is_active: bool | None = None
    password: str | None = Field(default=None, min_length=12, max_length=200, schema_extra={"pattern": r"^[^\x00]+$"})


class UserPublic(SQLModel):
    id: int
    email: str
    name: str
    role: str
    team_id: int | None
    is_active: bool
    created_at: datetime


class ApiKeyCreate(SQLModel):
    name: str = Field(min_length=1, max_length=120, schema_extra={"pattern": r"^[^\x00]+$"})
    scopes: list[Scope] = Field(default_factory=lambda: ["read", "write"], min_length=1, max_length=2)
    rate_limit_per_minute: int = Field(default=600, ge=1, le=100_000)
    user_id: Id | None = Field(default=None, description="Admins may mint a key for another user.")


class ApiKeyPublic(SQLModel):
    id: int
    user_id: int
    name: str
    prefix: str
    scopes: list[str]
    rate_limit_per_minute: int
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The key itself; shown once, never stored. Send as `Authorization: Bearer <key>`.")


class RoutingRuleCreate(SQLModel):
    name: str = Field(min_length=1, max_length=120, schema_extra={"pattern": r"^[^\x00]+$"})
    position: int = Field(default=0, ge=0, le=10_000)
    watch_id: Id | None = None
    platform: str | None = Field(default=None, min_length=1, max_length=20, schema_extra={"pattern": r"^[a-z0-9_]+$"})
    min_score: float | None = Field(default=None, ge=0, le=100)
    user_id: Id | None = Field(default=None, description="Assign to this user; else round-robin the team's reps.")
    team_id: Id | None = None
    active: bool = True


class RoutingRulePublic(SQLModel):
    id: int
    name: str
    position: int
    watch_id: int | None
    platform: str | None
    min_score: float | None
    user_id: int | None
    team_id: int | None
    active: bool


class LoginRequest(SQLModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=200)


class SessionPublic(SQLModel):
    user: UserPublic | None
