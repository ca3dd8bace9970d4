"""Campaigns (`/api/v1/campaigns`): the CRM's CRUD view of watches. Everyone reads them; admins and marketers
change them (If-Match guards); a delete is soft and stops the campaign listening."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, get, patch, post
from litestar.params import FromQuery, JSONBody, QueryParameter
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access.policy import readable_watch, require_campaign_write, writable_watch
from crm.errors import Conflict, InvalidInput
from crm.http.deps import CurrentUser, DbSession
from crm.http.etags import check_if_match, etag, soft_delete, touch
from crm.http.paging import keyset, page_of, parse_sort
from crm.leads.api import ETAG_HEADER, IfMatch
from crm.models import Pipeline, User, Watch
from crm.schemas import CampaignCreate, CampaignPage, CampaignPublic, CampaignUpdate, PathId


def _response(watch: Watch, status_code: int = 200) -> Response[CampaignPublic]:
    return Response(
        CampaignPublic.model_validate(watch), status_code=status_code, headers={"ETag": etag("campaign", watch)}
    )


async def _check(session: AsyncSession, changes: dict[str, object], watch_id: int | None = None) -> None:
    name = changes.get("name")
    if name is not None:
        other = (await session.exec(select(Watch.id).where(Watch.name == name))).first()
        if other is not None and other != watch_id:
            raise Conflict(f"a campaign named {name!r} exists")
    pipeline_id = changes.get("pipeline_id")
    if pipeline_id is not None:
        pipeline = await session.get(Pipeline, pipeline_id)
        if pipeline is None or pipeline.deleted_at is not None:
            raise InvalidInput(f"pipeline {pipeline_id} does not exist")
    owner_id = changes.get("owner_id")
    if owner_id is not None and await session.get(User, owner_id) is None:
        raise InvalidInput(f"user {owner_id} does not exist")


class CampaignController(Controller):
    path = "/api/v1/campaigns"
    tags = ["campaigns"]

    @get("/", summary="List campaigns, keyset-paged by id")
    async def list_campaigns(
        self,
        session: DbSession,
        user: CurrentUser,
        active: FromQuery[bool | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        cursor: Annotated[str | None, QueryParameter(max_length=500)] = None,
    ) -> CampaignPage:
        query = select(Watch).where(col(Watch.deleted_at).is_(None))
        if active is not None:
            query = query.where(col(Watch.active).is_(active))
        key = parse_sort("id", {"id": ("int", False)})
        rows, next_cursor = page_of(list(await session.exec(keyset(query, Watch, key, cursor, limit))), key, limit)
        return CampaignPage(items=[CampaignPublic.model_validate(w) for w in rows], next_cursor=next_cursor)

    @post("/", summary="Create a campaign (admins and marketers)", response_headers=ETAG_HEADER)
    async def create(
        self, session: DbSession, user: CurrentUser, data: JSONBody[CampaignCreate]
    ) -> Response[CampaignPublic]:
        require_campaign_write(user)
        await _check(session, data.model_dump())
        watch = Watch.model_validate(data, update={"owner_id": data.owner_id or user.id})
        session.add(watch)
        await session.flush()
        return _response(watch, 201)

    @get("/{campaign_id:int}", summary="One campaign", response_headers=ETAG_HEADER)
    async def get_campaign(
        self, session: DbSession, user: CurrentUser, campaign_id: PathId
    ) -> Response[CampaignPublic]:
        return _response(await readable_watch(session, user, campaign_id))

    @patch("/{campaign_id:int}", summary="Change a campaign (If-Match guards)", response_headers=ETAG_HEADER)
    async def update(
        self,
        session: DbSession,
        user: CurrentUser,
        campaign_id: PathId,
        data: JSONBody[CampaignUpdate],
        if_match: IfMatch = None,
    ) -> Response[CampaignPublic]:
        watch = await writable_watch(session, user, campaign_id)
        check_if_match(if_match, "campaign", watch)
        changes = data.model_dump(exclude_unset=True)
        await _check(session, changes, campaign_id)
        for name, value in changes.items():
            if value is not None or name in ("pipeline_id", "owner_id"):
                setattr(watch, name, value)
        touch(watch)
        session.add(watch)
        await session.flush()
        return _response(watch)

    @delete("/{campaign_id:int}", summary="Delete a campaign (soft; it stops listening)", status_code=204)
    async def remove(
        self, session: DbSession, user: CurrentUser, campaign_id: PathId, if_match: IfMatch = None
    ) -> None:
        watch = await writable_watch(session, user, campaign_id)
        check_if_match(if_match, "campaign", watch)
        watch.active = False
        soft_delete(watch)
        session.add(watch)
