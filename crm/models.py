"""The whole schema, from mention to reply: every table Warmline stores, in one metadata for Alembic.

Rows are plain SQLModel tables; behaviour lives in the modules named after what they do
(`pipeline.py` moves stages, `listeners.store` saves mentions, ...).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateIndex
from sqlmodel import Field, SQLModel

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware timestamps on both engines: SQLite forgets the zone, so it is put back as UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware one is required")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def json_field(default_factory: Any = dict, nullable: bool = False) -> Any:
    return Field(default_factory=default_factory, sa_type=JSONType, sa_column_kwargs={"nullable": nullable})


def ts_field(*, nullable: bool = True, index: bool = False, default_now: bool = False) -> Any:
    if default_now:
        return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=index)
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


# --------------------------------------------------------------------------- enums


class Role(enum.StrEnum):
    ADMIN = "admin"
    SALES_REP = "sales_rep"
    MARKETER = "marketer"
    READ_ONLY = "read_only"


class Direction(enum.StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class Channel(enum.StrEnum):
    DM = "dm"
    PUBLIC_REPLY = "public_reply"
    EMAIL = "email"


class MessageStatus(enum.StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    NEEDS_REVIEW = "needs_review"
    RECEIVED = "received"
    BLOCKED = "blocked"


class ModelStatus(enum.StrEnum):
    CANDIDATE = "candidate"
    ACTIVE = "active"
    RETIRED = "retired"
    REJECTED = "rejected"


# --------------------------------------------------------------------------- people and access


class Team(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    created_at: datetime = ts_field(default_now=True)


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    name: str = Field(default="", max_length=200)
    role: str = Field(default=Role.SALES_REP.value, max_length=20)
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    password_hash: str | None = Field(default=None, max_length=200)
    is_active: bool = True
    created_at: datetime = ts_field(default_now=True)


class ApiKey(SQLModel, table=True):
    """A consumer's key: only the hash is stored; the prefix finds the row without scanning."""

    __tablename__ = "api_key"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    name: str = Field(max_length=120)
    prefix: str = Field(max_length=16, unique=True)
    key_hash: str = Field(max_length=128)
    scopes: list[str] = json_field(list)
    rate_limit_per_minute: int = 600
    created_at: datetime = ts_field(default_now=True)
    last_used_at: datetime | None = ts_field()
    revoked_at: datetime | None = ts_field()


class AuditEvent(SQLModel, table=True):
    """Append-only record of who did what: sign-ins, exports, erasures, sends, permission changes."""

    __tablename__ = "audit_event"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = ts_field(default_now=True, index=True)
    actor_user_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    actor: str = Field(default="system", max_length=120)
    action: str = Field(max_length=80, index=True)
    object_type: str = Field(default="", max_length=60)
    object_id: str = Field(default="", max_length=64)
    detail: dict[str, Any] = json_field()
    request_id: str = Field(default="", max_length=64)


# --------------------------------------------------------------------------- contacts and accounts


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


# --------------------------------------------------------------------------- watches and mentions


class Pipeline(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    is_default: bool = False
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    created_at: datetime = ts_field(default_now=True)
    updated_at: datetime = ts_field(default_now=True)
    deleted_at: datetime | None = ts_field()


class Stage(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("pipeline_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    pipeline_id: int = Field(foreign_key="pipeline.id", index=True)
    key: str = Field(max_length=40)
    name: str = Field(max_length=80)
    position: int
    kind: str = Field(default="open", max_length=10)  # open | won | lost


class Watch(SQLModel, table=True):
    """A listening campaign: what to look for, where, in which languages, owned by whom."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    description: str = Field(default="", sa_type=sa.Text)
    keywords: list[str] = json_field(list)
    query: str = Field(default="", sa_type=sa.Text)
    competitors: list[dict[str, Any]] = json_field(list)
    excluded_terms: list[str] = json_field(list)
    excluded_authors: list[str] = json_field(list)
    languages: list[str] = json_field(list)
    platforms: list[str] = json_field(list)
    owner_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    pipeline_id: int | None = Field(default=None, foreign_key="pipeline.id")
    active: bool = True
    poll_interval_seconds: int = 300
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    created_at: datetime = ts_field(default_now=True)
    updated_at: datetime = ts_field(default_now=True)
    deleted_at: datetime | None = ts_field()


class Mention(SQLModel, table=True):
    """A public post seen on a platform, stored once per (platform, external id) with its raw payload."""

    __table_args__ = (sa.UniqueConstraint("platform", "external_id"),)
    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=20)
    external_id: str = Field(max_length=200)
    account_id: int | None = Field(default=None, foreign_key="platform_account.id", index=True)
    contact_id: int | None = Field(default=None, foreign_key="contact.id", index=True)
    text: str = Field(default="", sa_type=sa.Text)
    url: str = Field(default="", max_length=1000)
    language: str | None = Field(default=None, max_length=10)
    posted_at: datetime | None = ts_field(index=True)
    fetched_at: datetime = ts_field(default_now=True)
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    quotes: int = 0
    in_reply_to: str | None = Field(default=None, max_length=200)
    quote_of: str | None = Field(default=None, max_length=200)
    sentiment: float | None = None
    content_hash: str = Field(default="", max_length=64, index=True)
    duplicate_of_id: int | None = Field(default=None, foreign_key="mention.id", index=True)
    matched_terms: list[str] = json_field(list)
    matched_competitors: list[str] = json_field(list)
    score: float | None = None
    score_reasons: list[str] = json_field(list)
    raw: dict[str, Any] = json_field()


class MentionMatch(SQLModel, table=True):
    """Which watch a mention matched, and by which terms and competitors."""

    __tablename__ = "mention_match"
    __table_args__ = (sa.UniqueConstraint("mention_id", "watch_id"),)
    id: int | None = Field(default=None, primary_key=True)
    mention_id: int = Field(foreign_key="mention.id")  # the unique (mention_id, watch_id) indexes it
    watch_id: int = Field(foreign_key="watch.id", index=True)
    matched_terms: list[str] = json_field(list)
    matched_competitors: list[str] = json_field(list)
    created_at: datetime = ts_field(default_now=True)


class ListenerCursor(SQLModel, table=True):
    """Where a connector stopped, per watch and platform, written after the batch commits."""

    __tablename__ = "listener_cursor"
    __table_args__ = (sa.UniqueConstraint("watch_id", "platform", "source"),)
    id: int | None = Field(default=None, primary_key=True)
    watch_id: int = Field(foreign_key="watch.id", index=True)
    platform: str = Field(max_length=20)
    source: str = Field(default="", max_length=200)
    cursor: str = Field(default="", max_length=500)
    state: dict[str, Any] = json_field()
    updated_at: datetime = ts_field(default_now=True)


class QuarantinedPayload(SQLModel, table=True):
    """A payload that failed validation, kept whole with the reason, so it can be fixed and replayed."""

    __tablename__ = "quarantined_payload"
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=40, index=True)
    watch_id: int | None = Field(default=None, foreign_key="watch.id")
    reason: str = Field(sa_type=sa.Text)
    body: str = Field(sa_type=sa.Text)
    status: str = Field(default="open", max_length=20, index=True)  # open | replayed | discarded
    created_at: datetime = ts_field(default_now=True)
    replayed_at: datetime | None = ts_field()


# --------------------------------------------------------------------------- leads and pipeline


def lead_list_index(name: str, *columns: str) -> sa.Index:
    """An index behind one of the lead list's filter combinations, over live leads only (as the list reads).

    Every index ends in the list's best-first order, `score DESC NULLS LAST, id DESC`, or in (updated_at, id), which
    PostgreSQL and SQLite both scan backwards for newest first.
    """
    best_first = "score" in columns
    order: dict[str, Any] = (
        {"score": sa.desc(sa.column("score")).nulls_last(), "id": sa.desc(sa.column("id"))} if best_first else {}
    )
    keys = [order.get(c, c) for c in columns]
    live = sa.text("deleted_at IS NULL")
    return sa.Index(name, *keys, postgresql_where=live, sqlite_where=live)


@compiles(CreateIndex, "sqlite")
def _sqlite_create_index(element: CreateIndex, compiler: Any, **kw: Any) -> str:
    # SQLite refuses NULLS FIRST/LAST in an index; its DESC already puts NULLs last, so the order is the same.
    return str(compiler.visit_create_index(element, **kw)).replace(" DESC NULLS LAST", " DESC")


class Lead(SQLModel, table=True):
    """A contact in a campaign: one per contact and watch, with score, stage and owner."""

    __table_args__ = (
        sa.UniqueConstraint("contact_id", "watch_id"),
        sa.Index("ix_lead_score_id", "score", "id"),
        sa.Index("ix_lead_updated_id", "updated_at", "id"),
        # The lead list (GET /api/v1/leads, the board, CSV export): campaign + stage, stage, campaign, owner, none.
        lead_list_index("ix_lead_list_watch_stage_score", "watch_id", "stage", "score", "id"),
        lead_list_index("ix_lead_list_watch_stage_updated", "watch_id", "stage", "updated_at", "id"),
        lead_list_index("ix_lead_list_stage_score", "stage", "score", "id"),
        lead_list_index("ix_lead_list_stage_updated", "stage", "updated_at", "id"),
        lead_list_index("ix_lead_list_watch_score", "watch_id", "score", "id"),
        lead_list_index("ix_lead_list_owner_score", "owner_id", "score", "id"),
        lead_list_index("ix_lead_list_score", "score", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    # No index of its own: the unique (contact_id, watch_id) serves lookups by contact and the foreign key.
    contact_id: int = Field(foreign_key="contact.id")
    watch_id: int | None = Field(default=None, foreign_key="watch.id", index=True)
    pipeline_id: int = Field(foreign_key="pipeline.id", index=True)
    stage: str = Field(default="new", max_length=40, index=True)
    score: float | None = None
    score_reasons: list[str] = json_field(list)
    model_version: str | None = Field(default=None, max_length=80)
    owner_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    external_id: str | None = Field(default=None, max_length=200, unique=True)
    platform: str | None = Field(default=None, max_length=20)
    first_mention_id: int | None = Field(default=None, foreign_key="mention.id")
    response_due_at: datetime | None = ts_field()
    last_activity_at: datetime | None = ts_field()
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    created_at: datetime = ts_field(default_now=True)
    updated_at: datetime = ts_field(default_now=True)
    deleted_at: datetime | None = ts_field()


class StageChange(SQLModel, table=True):
    """Audit row for every stage move; also the label source for retraining."""

    __tablename__ = "stage_change"
    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    from_stage: str | None = Field(default=None, max_length=40)
    to_stage: str = Field(max_length=40)
    actor_user_id: int | None = Field(default=None, foreign_key="user.id")
    actor: str = Field(default="system", max_length=120)
    reason: str = Field(default="", max_length=500)
    at: datetime = ts_field(default_now=True, index=True)


class LeadScore(SQLModel, table=True):
    """Each score a lead received, with the model version and the reasons behind the number."""

    __tablename__ = "lead_score"
    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    mention_id: int | None = Field(default=None, foreign_key="mention.id")
    model_version: str = Field(max_length=80)
    probability: float
    score: float
    reasons: list[str] = json_field(list)
    created_at: datetime = ts_field(default_now=True)


class ModelVersion(SQLModel, table=True):
    """A trained artifact in the registry: where it is, its hash, metrics, data hash and sklearn version."""

    __tablename__ = "model_version"
    __table_args__ = (sa.UniqueConstraint("name", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=60)
    version: str = Field(max_length=80)
    path: str = Field(max_length=500)
    sha256: str = Field(max_length=64)
    sklearn_version: str = Field(max_length=20)
    metrics: dict[str, Any] = json_field()
    data_hash: str = Field(default="", max_length=64)
    n_train: int = 0
    status: str = Field(default=ModelStatus.CANDIDATE.value, max_length=20)
    created_at: datetime = ts_field(default_now=True)
    promoted_at: datetime | None = ts_field()


# --------------------------------------------------------------------------- conversations


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
    external_id: str | None = Field(default=None, max_length=200)
    author_user_id: int | None = Field(default=None, foreign_key="user.id")
    classification: str | None = Field(default=None, max_length=40)
    error: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = ts_field(default_now=True)
    updated_at: datetime = ts_field(default_now=True)
    sent_at: datetime | None = ts_field()
    received_at: datetime | None = ts_field()


# --------------------------------------------------------------------------- CRM records and routing (issue 5, part A)


class Tag(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=60, unique=True)
    created_at: datetime = ts_field(default_now=True)


class LeadTag(SQLModel, table=True):
    __tablename__ = "lead_tag"
    __table_args__ = (sa.UniqueConstraint("lead_id", "tag_id"),)
    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    tag_id: int = Field(foreign_key="tag.id", index=True)
    created_at: datetime = ts_field(default_now=True)


class Note(SQLModel, table=True):
    """A rep's note on a lead; part of the lead's timeline."""

    __table_args__ = (sa.Index("ix_note_updated_id", "updated_at", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    author_user_id: int | None = Field(default=None, foreign_key="user.id")
    body: str = Field(sa_type=sa.Text)
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    created_at: datetime = ts_field(default_now=True)
    updated_at: datetime = ts_field(default_now=True)
    deleted_at: datetime | None = ts_field()


class Task(SQLModel, table=True):
    """A follow-up on a lead with a due date and an assignee."""

    __table_args__ = (sa.Index("ix_task_updated_id", "updated_at", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    title: str = Field(max_length=200)
    description: str = Field(default="", sa_type=sa.Text)
    due_at: datetime | None = ts_field(index=True)
    done_at: datetime | None = ts_field()
    assignee_user_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    created_by_user_id: int | None = Field(default=None, foreign_key="user.id")
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    created_at: datetime = ts_field(default_now=True)
    updated_at: datetime = ts_field(default_now=True)
    deleted_at: datetime | None = ts_field()


class ContactMerge(SQLModel, table=True):
    """History of a merge: which contact was folded into which, by whom, and what moved."""

    __tablename__ = "contact_merge"
    id: int | None = Field(default=None, primary_key=True)
    source_contact_id: int = Field(foreign_key="contact.id", index=True)
    target_contact_id: int = Field(foreign_key="contact.id", index=True)
    actor_user_id: int | None = Field(default=None, foreign_key="user.id")
    at: datetime = ts_field(default_now=True)
    detail: dict[str, Any] = json_field()


class RoutingRule(SQLModel, table=True):
    """Who gets a new lead: first matching rule (by position) assigns a user or round-robins a team's reps."""

    __tablename__ = "routing_rule"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    position: int = 0
    watch_id: int | None = Field(default=None, foreign_key="watch.id")
    platform: str | None = Field(default=None, max_length=20)
    min_score: float | None = None
    user_id: int | None = Field(default=None, foreign_key="user.id")
    team_id: int | None = Field(default=None, foreign_key="team.id")
    last_user_id: int | None = Field(default=None, foreign_key="user.id")
    active: bool = True
    created_at: datetime = ts_field(default_now=True)


# --------------------------------------------------------------------------- sync, idempotency, webhooks (issue 5, part B)


class ChangeLog(SQLModel, table=True):
    """One row per committed change of a lead or contact; `id` order is commit order (see crm.integrations.sync)."""

    __tablename__ = "change_log"
    id: int | None = Field(default=None, primary_key=True)
    entity: str = Field(max_length=20)
    entity_id: int = Field(index=True)
    op: str = Field(max_length=10)  # create | update | delete | erase
    at: datetime = ts_field(default_now=True, index=True)


class IdempotencyRecord(SQLModel, table=True):
    """A POST seen with an Idempotency-Key: who sent it, what it was, and the response to replay."""

    __tablename__ = "idempotency_record"
    __table_args__ = (sa.UniqueConstraint("owner", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(max_length=64)
    key: str = Field(max_length=200)
    fingerprint: str = Field(max_length=64)
    status_code: int | None = None
    response_headers: dict[str, str] = json_field()
    response_body: str = Field(default="", sa_type=sa.Text)
    created_at: datetime = ts_field(default_now=True, index=True)
    completed_at: datetime | None = ts_field()


class WebhookSubscription(SQLModel, table=True):
    """Where to POST which events, and the secret that signs them."""

    __tablename__ = "webhook_subscription"
    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=1000)
    events: list[str] = json_field(list)
    secret: str = Field(max_length=128)
    description: str = Field(default="", max_length=200)
    active: bool = True
    created_by_user_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = ts_field(default_now=True)
    updated_at: datetime = ts_field(default_now=True)
    deleted_at: datetime | None = ts_field()


class WebhookEvent(SQLModel, table=True):
    """Outbox: written in the transaction that caused the event, fanned out to deliveries after commit."""

    __tablename__ = "webhook_event"
    id: int | None = Field(default=None, primary_key=True)
    type: str = Field(max_length=60, index=True)
    payload: dict[str, Any] = json_field()
    created_at: datetime = ts_field(default_now=True)
    dispatched_at: datetime | None = ts_field(index=True)


class WebhookDelivery(SQLModel, table=True):
    """One event to one subscription: status, attempts so far and the next try."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (sa.Index("ix_webhook_delivery_created_at", "created_at"),)  # the retention prune's range
    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="webhook_event.id", index=True)
    subscription_id: int = Field(foreign_key="webhook_subscription.id", index=True)
    status: str = Field(default="pending", max_length=20, index=True)  # pending | delivered | failed
    attempts: int = 0
    next_attempt_at: datetime | None = ts_field()
    last_status_code: int | None = None
    last_error: str = Field(default="", sa_type=sa.Text)
    redelivery_of_id: int | None = Field(default=None, foreign_key="webhook_delivery.id")
    created_at: datetime = ts_field(default_now=True)
    delivered_at: datetime | None = ts_field()


class WebhookAttempt(SQLModel, table=True):
    """Delivery log: each HTTP attempt with its outcome."""

    __tablename__ = "webhook_attempt"
    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="webhook_delivery.id", index=True)
    attempt: int
    at: datetime = ts_field(default_now=True)
    status_code: int | None = None
    error: str = Field(default="", sa_type=sa.Text)
    duration_ms: float = 0.0
