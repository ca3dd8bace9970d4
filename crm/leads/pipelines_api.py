"""Pipelines and their stages (`/api/v1/pipelines`): everyone reads them, admins configure them. A stage that
still holds leads cannot be removed, and leads only change stage through crm.pipeline.move_lead."""

from __future__ import annotations

from litestar import Controller, Response, delete, get, patch, post
from litestar.params import JSONBody
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access.policy import require_admin
from crm.errors import Conflict, InvalidInput, NotFound
from crm.http.deps import CurrentUser, DbSession
from crm.http.etags import check_if_match, etag, soft_delete, touch
from crm.leads.api import ETAG_HEADER, IfMatch
from crm.models import Lead, Pipeline, Stage, Watch
from crm.pipeline import StageSpec, create_pipeline, stages_of
from crm.schemas import (
    PathId,
    PipelineCreate,
    PipelinePublic,
    PipelineUpdate,
    StageCreate,
    StagePublic,
    StageUpdate,
)


async def _pipeline(session: AsyncSession, pipeline_id: int) -> Pipeline:
    pipeline = await session.get(Pipeline, pipeline_id)
    if pipeline is None or pipeline.deleted_at is not None:
        raise NotFound(f"pipeline {pipeline_id} does not exist")
    return pipeline


async def _response(session: AsyncSession, pipeline: Pipeline, status_code: int = 200) -> Response[PipelinePublic]:
    assert pipeline.id is not None
    stages = [StagePublic.model_validate(s) for s in await stages_of(session, pipeline.id)]
    public = PipelinePublic.model_validate(pipeline, update={"stages": stages})
    return Response(public, status_code=status_code, headers={"ETag": etag("pipeline", pipeline)})


async def _make_default(session: AsyncSession, pipeline: Pipeline) -> None:
    for other in await session.exec(select(Pipeline).where(col(Pipeline.is_default).is_(True))):
        if other.id != pipeline.id:
            other.is_default = False
            touch(other)
            session.add(other)
    await session.flush()  # one default at a time
    pipeline.is_default = True


async def _renumber(session: AsyncSession, stages: list[Stage]) -> None:
    for position, stage in enumerate(stages):
        stage.position = position
        session.add(stage)
    await session.flush()


async def _leads_in(session: AsyncSession, pipeline_id: int, stage_key: str | None = None) -> bool:
    query = select(Lead.id).where(Lead.pipeline_id == pipeline_id, col(Lead.deleted_at).is_(None))
    if stage_key is not None:
        query = query.where(Lead.stage == stage_key)
    return (await session.exec(query.limit(1))).first() is not None


class PipelineController(Controller):
    path = "/api/v1/pipelines"
    tags = ["pipelines"]

    @get("/", summary="Pipelines with their stages")
    async def list_pipelines(self, session: DbSession, user: CurrentUser) -> list[PipelinePublic]:
        rows = await session.exec(select(Pipeline).where(col(Pipeline.deleted_at).is_(None)).order_by(col(Pipeline.id)))
        return [(await _response(session, p)).content for p in list(rows)]

    @post("/", summary="Create a pipeline with its stages (admin)", response_headers=ETAG_HEADER)
    async def create(
        self, session: DbSession, user: CurrentUser, data: JSONBody[PipelineCreate]
    ) -> Response[PipelinePublic]:
        require_admin(user, "pipelines")
        keys = [s.key for s in data.stages]
        if len(set(keys)) != len(keys):
            raise InvalidInput("stage keys must be unique within a pipeline")
        if not any(s.kind == "open" for s in data.stages):
            raise InvalidInput("a pipeline needs at least one open stage for new leads")
        if (await session.exec(select(Pipeline.id).where(Pipeline.name == data.name))).first() is not None:
            raise Conflict(f"a pipeline named {data.name!r} exists")
        pipeline = await create_pipeline(session, data.name, [StageSpec(s.key, s.name, s.kind) for s in data.stages])
        if data.is_default:
            await _make_default(session, pipeline)
            session.add(pipeline)
            await session.flush()
        return await _response(session, pipeline, 201)

    @get("/{pipeline_id:int}", summary="One pipeline", response_headers=ETAG_HEADER)
    async def get_pipeline(
        self, session: DbSession, user: CurrentUser, pipeline_id: PathId
    ) -> Response[PipelinePublic]:
        return await _response(session, await _pipeline(session, pipeline_id))

    @patch(
        "/{pipeline_id:int}", summary="Rename a pipeline or make it the default (admin)", response_headers=ETAG_HEADER
    )
    async def update(
        self,
        session: DbSession,
        user: CurrentUser,
        pipeline_id: PathId,
        data: JSONBody[PipelineUpdate],
        if_match: IfMatch = None,
    ) -> Response[PipelinePublic]:
        pipeline = await _pipeline(session, pipeline_id)
        require_admin(user, "pipelines")
        check_if_match(if_match, "pipeline", pipeline)
        if data.is_default is False and pipeline.is_default:
            raise InvalidInput("make another pipeline the default instead")
        if data.name and data.name != pipeline.name:
            if (await session.exec(select(Pipeline.id).where(Pipeline.name == data.name))).first() is not None:
                raise Conflict(f"a pipeline named {data.name!r} exists")
            pipeline.name = data.name
        if data.is_default:
            await _make_default(session, pipeline)
        touch(pipeline)
        session.add(pipeline)
        await session.flush()
        return await _response(session, pipeline)

    @delete("/{pipeline_id:int}", summary="Delete an unused, non-default pipeline (admin)", status_code=204)
    async def remove(
        self, session: DbSession, user: CurrentUser, pipeline_id: PathId, if_match: IfMatch = None
    ) -> None:
        pipeline = await _pipeline(session, pipeline_id)
        require_admin(user, "pipelines")
        check_if_match(if_match, "pipeline", pipeline)
        used_by_watch = (await session.exec(select(Watch.id).where(Watch.pipeline_id == pipeline_id))).first()
        if pipeline.is_default or used_by_watch is not None or await _leads_in(session, pipeline_id):
            raise Conflict("the default pipeline, or one still used by leads or watches, cannot be deleted")
        soft_delete(pipeline)
        session.add(pipeline)

    @post("/{pipeline_id:int}/stages", summary="Add a stage at the end (admin)", response_headers=ETAG_HEADER)
    async def add_stage(
        self, session: DbSession, user: CurrentUser, pipeline_id: PathId, data: JSONBody[StageCreate]
    ) -> Response[PipelinePublic]:
        pipeline = await _pipeline(session, pipeline_id)
        require_admin(user, "pipelines")
        stages = await stages_of(session, pipeline_id)
        if any(s.key == data.key for s in stages):
            raise Conflict(f"stage {data.key!r} already exists in this pipeline")
        session.add(Stage(pipeline_id=pipeline_id, key=data.key, name=data.name, kind=data.kind, position=len(stages)))
        touch(pipeline)
        session.add(pipeline)
        await session.flush()
        return await _response(session, pipeline, 201)

    @patch(
        "/{pipeline_id:int}/stages/{stage_id:int}",
        summary="Rename or move a stage (admin)",
        response_headers=ETAG_HEADER,
    )
    async def update_stage(
        self,
        session: DbSession,
        user: CurrentUser,
        pipeline_id: PathId,
        stage_id: PathId,
        data: JSONBody[StageUpdate],
    ) -> Response[PipelinePublic]:
        pipeline = await _pipeline(session, pipeline_id)
        require_admin(user, "pipelines")
        stages = await stages_of(session, pipeline_id)
        stage = next((s for s in stages if s.id == stage_id), None)
        if stage is None:
            raise NotFound(f"stage {stage_id} does not exist in pipeline {pipeline_id}")
        if data.name:
            stage.name = data.name
        if data.position is not None:
            stages.remove(stage)
            stages.insert(min(data.position, len(stages)), stage)
            await _renumber(session, stages)
        session.add(stage)
        touch(pipeline)
        session.add(pipeline)
        await session.flush()
        return await _response(session, pipeline)

    @delete("/{pipeline_id:int}/stages/{stage_id:int}", summary="Remove a stage no lead is in (admin)", status_code=204)
    async def remove_stage(self, session: DbSession, user: CurrentUser, pipeline_id: PathId, stage_id: PathId) -> None:
        pipeline = await _pipeline(session, pipeline_id)
        require_admin(user, "pipelines")
        stages = await stages_of(session, pipeline_id)
        stage = next((s for s in stages if s.id == stage_id), None)
        if stage is None:
            raise NotFound(f"stage {stage_id} does not exist in pipeline {pipeline_id}")
        if await _leads_in(session, pipeline_id, stage.key):
            raise Conflict(f"leads are still in stage {stage.key!r}; move them first")
        if stage.kind == "open" and sum(s.kind == "open" for s in stages) == 1:
            raise Conflict("a pipeline needs at least one open stage")
        await session.delete(stage)
        stages.remove(stage)
        await _renumber(session, stages)
        touch(pipeline)
        session.add(pipeline)
