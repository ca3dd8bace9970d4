"""Model registry, on-demand scoring and the scores feed over REST (`/api/v1/models`, `/api/v1/scoring/mentions`,
`/api/v1/scores`).

Every signed-in caller reads model versions and may score a text; only admins promote or roll back, each change is
audited and followed (after the commit) by a rescore of the open leads in the worker. The scores feed lists the
scores of the leads the caller may see, newest first with keyset cursors.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import Controller, get, post
from litestar.params import FromQuery, JSONBody, QueryParameter
from pydantic import StringConstraints
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access import audit
from crm.access.policy import lead_scope, require_admin
from crm.errors import Conflict, NotFound
from crm.http.deps import CurrentUser, DbSession, Queue
from crm.http.paging import keyset, page_of, parse_sort
from crm.models import Lead, LeadScore, ModelVersion, User, utcnow
from crm.queue import enqueue
from crm.schemas import LeadScorePublic, PageCursor, PageLimit, PathId, QueryId
from scoring import baseline, registry
from scoring.artifacts import ModelLoadError
from scoring.service import active_model
from scoring.warm_lead import NAME

RESCORE_JOB = "rescore_open_leads"
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=60, pattern=r"^[a-z][a-z0-9_]*$")]
MentionText = Annotated[str, StringConstraints(min_length=1, max_length=10_000, pattern=r"^[^\x00]*$")]
CompetitorName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]
Count = Annotated[int, Field(ge=0, le=10**12)]
NEWEST = parse_sort("-id", {"id": ("int", False)})


class ModelVersionPublic(SQLModel):
    id: int
    name: str
    version: str
    status: str
    metrics: dict[str, Any]
    threshold: float | None
    data_hash: str
    sklearn_version: str
    sha256: str
    n_train: int
    created_at: datetime
    promoted_at: datetime | None


class ModelVersionList(SQLModel):
    items: list[ModelVersionPublic]
    active: str | None = Field(description="The active version; null means the rules baseline scores.")


class RollbackResult(SQLModel):
    retired: ModelVersionPublic
    active: ModelVersionPublic | None = Field(description="Re-activated version; null means back to the baseline.")
    rescore_enqueued: bool


class PromoteResult(SQLModel):
    model: ModelVersionPublic
    previous: str | None
    rescore_enqueued: bool


class MentionToScore(SQLModel):
    text: MentionText
    competitors: list[CompetitorName] = Field(
        default_factory=list, max_length=50, description="Watched competitor names; those named in the text count."
    )
    followers: Count | None = None
    following: Count | None = None
    likes: Count | None = None
    reposts: Count | None = None
    replies: Count | None = None
    age_hours: float | None = Field(default=None, ge=0, le=1e6)
    dm_open: bool = False
    prior_interactions: Count | None = None


class MentionScore(SQLModel):
    probability: float
    score: float = Field(description="0-100")
    warm: bool = Field(description="At or above the model's chosen threshold (the baseline uses 0.5).")
    threshold: float
    reasons: list[str]
    model_version: str


class ScorePage(SQLModel):
    items: list[LeadScorePublic]
    next_cursor: str | None = None


def public(row: ModelVersion) -> ModelVersionPublic:
    assert row.id is not None
    threshold = row.metrics.get("threshold")
    return ModelVersionPublic(
        id=row.id,
        name=row.name,
        version=row.version,
        status=row.status,
        metrics=row.metrics,
        threshold=float(threshold) if isinstance(threshold, int | float) else None,
        data_hash=row.data_hash,
        sklearn_version=row.sklearn_version,
        sha256=row.sha256,
        n_train=row.n_train,
        created_at=row.created_at,
        promoted_at=row.promoted_at,
    )


async def _row(session: AsyncSession, model_id: int) -> ModelVersion:
    row = await session.get(ModelVersion, model_id)
    if row is None:
        raise NotFound(f"model version {model_id} does not exist")
    return row


async def _rescore(queue: Any, tag: str) -> bool:
    return await enqueue(queue, RESCORE_JOB, job_id=f"rescore:open-leads:{tag}") is not None


def _audit(session: AsyncSession, user: User, action: str, row: ModelVersion, **detail: Any) -> None:
    audit.record(
        session,
        action,
        actor=user.email,
        actor_user_id=user.id,
        object_type="model_version",
        object_id=row.id,
        detail={"name": row.name, "version": row.version, **detail},
    )


class ModelController(Controller):
    path = "/api/v1/models"
    tags = ["models"]

    @get("/", summary="Model versions with metrics, data hash, scikit-learn version and status")
    async def list_models(
        self,
        session: DbSession,
        user: CurrentUser,
        name: Annotated[ModelName, QueryParameter(description="Model name")] = NAME,
        status: FromQuery[Literal["candidate", "active", "retired", "rejected"] | None] = None,
    ) -> ModelVersionList:
        query = select(ModelVersion).where(ModelVersion.name == name)
        if status is not None:
            query = query.where(ModelVersion.status == status)
        rows = (await session.exec(query.order_by(col(ModelVersion.id)))).all()
        current = await registry.active(session, name)
        return ModelVersionList(items=[public(r) for r in rows], active=current.version if current else None)

    @get("/{model_id:int}", summary="One model version")
    async def get_model(self, session: DbSession, user: CurrentUser, model_id: PathId) -> ModelVersionPublic:
        return public(await _row(session, model_id))

    @post("/{model_id:int}/promote", summary="Make a version the active model (admins; audited)", status_code=200)
    async def promote(self, session: DbSession, queue: Queue, user: CurrentUser, model_id: PathId) -> PromoteResult:
        require_admin(user, "the active model")
        row = await _row(session, model_id)
        previous = await registry.active(session, row.name)
        try:
            row = await registry.promote(session, row.version, row.name)
        except ModelLoadError as exc:
            # The artifact on disk is the problem, not the server: the version stays as it was.
            raise Conflict(f"version {row.version} cannot be promoted: {exc.detail}") from None
        _audit(session, user, "model.promote", row, previous=previous.version if previous else None)
        await session.commit()  # commit, then enqueue: the rescore must see the new active model
        stamp = row.promoted_at.isoformat() if row.promoted_at else ""
        enqueued = await _rescore(queue, f"{row.id}:{stamp}")
        return PromoteResult(
            model=public(row), previous=previous.version if previous else None, rescore_enqueued=enqueued
        )

    @post(
        "/rollback", summary="Retire the active model, re-activate the previous one (admins; audited)", status_code=200
    )
    async def rollback(
        self,
        session: DbSession,
        queue: Queue,
        user: CurrentUser,
        name: Annotated[ModelName, QueryParameter(description="Model name")] = NAME,
    ) -> RollbackResult:
        require_admin(user, "the active model")
        current = await registry.active(session, name)
        if current is None:
            raise Conflict(f"no active {name} model to roll back; the baseline is scoring")
        previous = await registry.rollback(session, name)
        _audit(session, user, "model.rollback", current, reactivated=previous.version if previous else None)
        await session.commit()
        enqueued = await _rescore(
            queue, f"rollback:{current.id}:{previous.id if previous else 'baseline'}:{utcnow().isoformat()}"
        )
        return RollbackResult(
            retired=public(current), active=public(previous) if previous else None, rescore_enqueued=enqueued
        )


class ScoringController(Controller):
    path = "/api/v1/scoring"
    tags = ["scoring"]

    @post("/mentions", summary="Score one mention on demand: probability, 0-100 score and reasons", status_code=200)
    async def score_mention(
        self, session: DbSession, user: CurrentUser, data: JSONBody[MentionToScore]
    ) -> MentionScore:
        lowered = data.text.lower()
        named = [c for c in dict.fromkeys(data.competitors) if c.lower() in lowered]
        model = await active_model(session)
        if model is None:
            scored = baseline.score(
                baseline.BaselineInput(
                    text=data.text, competitors=tuple(named), followers=data.followers, dm_open=data.dm_open
                )
            )
            return MentionScore(
                probability=scored.probability,
                score=scored.score,
                warm=scored.probability >= 0.5,
                threshold=0.5,
                reasons=list(scored.reasons),
                model_version=scored.model_version,
            )
        record = {
            **data.model_dump(exclude={"competitors", "dm_open"}),
            "competitor_mentioned": 1 if named else 0,
            "competitors": named,
            "dm_open": 1 if data.dm_open else 0,
        }
        [prediction] = model.score_records([record])
        return MentionScore(
            probability=prediction.probability,
            score=prediction.score,
            warm=prediction.probability >= model.threshold,
            threshold=model.threshold,
            reasons=list(prediction.reasons),
            model_version=prediction.model_version,
        )


class ScoreController(Controller):
    path = "/api/v1/scores"
    tags = ["scoring"]

    @get("/", summary="Scores of leads you can see, newest first")
    async def list_scores(
        self,
        session: DbSession,
        user: CurrentUser,
        lead_id: QueryId = None,
        model_version: Annotated[str | None, QueryParameter(max_length=80)] = None,
        limit: PageLimit = 50,
        cursor: PageCursor = None,
    ) -> ScorePage:
        query = (
            select(LeadScore)
            .join(Lead, col(Lead.id) == col(LeadScore.lead_id))
            .where(col(Lead.deleted_at).is_(None), lead_scope(user))
        )
        if lead_id is not None:
            query = query.where(LeadScore.lead_id == lead_id)
        if model_version:
            query = query.where(LeadScore.model_version == model_version)
        rows, next_cursor = page_of(
            list(await session.exec(keyset(query, LeadScore, NEWEST, cursor, limit))), NEWEST, limit
        )
        return ScorePage(items=[LeadScorePublic.model_validate(s) for s in rows], next_cursor=next_cursor)
