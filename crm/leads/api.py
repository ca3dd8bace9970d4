"""REST API for leads (`/api/v1/leads`): filter, sort and page with keyset cursors; create, update with
If-Match, soft-delete, upsert by the consumer's external id; stage moves, tags, timeline, notes and tasks."""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from litestar import Controller, Response, delete, get, patch, post, put
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromQuery, HeaderParameter, JSONBody, PathParameter, QueryParameter
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access.policy import check_assignment, contact_visible, readable_lead, writable_lead
from crm.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from crm.http.deps import CurrentUser, DbSession, Engine
from crm.http.etags import check_if_match, etag, soft_delete, touch
from crm.http.paging import decode_cursor, encode_cursor, parse_cursor, parse_sort
from crm.leads.filters import LeadFilter, provide_lead_filter
from crm.leads.listing import LEAD_SORTS, read_lead_page
from crm.leads.opening import lead_opening, open_lead
from crm.leads.records import set_lead_tags, tags_of, timeline
from crm.leads.routing import assign
from crm.models import (
    Contact,
    Lead,
    LeadScore,
    Mention,
    PlatformAccount,
    Role,
    StageChange,
    Tag,
    User,
    Watch,
)
from crm.pipeline import move_lead
from crm.schemas import (
    LeadCreate,
    LeadPage,
    LeadPublic,
    LeadScorePublic,
    LeadUpdate,
    LeadUpsert,
    PathId,
    StageChangePublic,
    StageMove,
    TagPublic,
    TimelineItem,
)

__all__ = ["LeadController", "TagController", "decode_cursor", "encode_cursor", "get_lead_or_404", "lead_public"]

LeadSort = Literal["score", "-score", "updated_at", "-updated_at", "created_at", "-created_at", "id", "-id"]
IfMatch = Annotated[
    str | None, HeaderParameter(name="If-Match", required=False, description="ETag from a read; 412 if outdated")
]
ETAG_HEADER = [ResponseHeader(name="ETag", description="Version tag for If-Match", documentation_only=True)]


async def lead_public(session: AsyncSession, lead: Lead, tags: list[str] | None = None) -> LeadPublic:
    contact = await session.get(Contact, lead.contact_id)
    mention = await session.get(Mention, lead.first_mention_id) if lead.first_mention_id else None
    account = await session.get(PlatformAccount, mention.account_id) if mention and mention.account_id else None
    if tags is None:
        assert lead.id is not None
        tags = (await tags_of(session, [lead.id])).get(lead.id, [])
    return LeadPublic.model_validate(
        lead,
        update={
            "display_name": contact.display_name if contact else "",
            "handle": account.handle if account else None,
            "first_mention_text": mention.text if mention else None,
            "first_mention_url": mention.url if mention else None,
            "tags": tags,
        },
    )


async def with_etag(session: AsyncSession, lead: Lead, status_code: int = 200) -> Response[LeadPublic]:
    return Response(await lead_public(session, lead), status_code=status_code, headers={"ETag": etag("lead", lead)})


async def get_lead_or_404(session: AsyncSession, lead_id: int) -> Lead:
    """A live lead regardless of caller (for jobs and internal use); routes use crm.access.policy instead."""
    lead = await session.get(Lead, lead_id)
    if lead is None or lead.deleted_at is not None:
        raise NotFound(f"lead {lead_id} does not exist")
    return lead


def require_lead_creator(user: User) -> None:
    if user.role not in (Role.ADMIN.value, Role.SALES_REP.value):
        raise PermissionDenied("only admins and sales reps may create or change leads")


async def check_references(session: AsyncSession, user: User, contact_id: int | None, watch_id: int | None) -> None:
    if contact_id is not None:
        contact = await session.get(Contact, contact_id)
        if contact is None or contact.deleted_at is not None or not await contact_visible(session, user, contact_id):
            raise InvalidInput(f"contact {contact_id} does not exist")
    if watch_id is not None:
        watch = await session.get(Watch, watch_id)
        if watch is None or watch.deleted_at is not None:
            raise InvalidInput(f"watch {watch_id} does not exist")


async def new_lead(session: AsyncSession, user: User, data: LeadCreate | LeadUpsert, external_id: str | None) -> Lead:
    require_lead_creator(user)
    await check_references(session, user, data.contact_id, data.watch_id)
    await check_assignment(session, user, data.owner_id)
    opening = await lead_opening(session, getattr(data, "pipeline_id", None), data.watch_id)
    clash = await session.exec(
        select(Lead.id).where(Lead.contact_id == data.contact_id, Lead.watch_id == data.watch_id)
    )
    if clash.first() is not None:
        raise Conflict("this contact already has a lead in this watch")
    lead = await open_lead(
        session,
        data.contact_id,
        data.watch_id,
        opening=opening,
        platform=data.platform,
        external_id=external_id,
        owner_id=data.owner_id,
        actor=user.email,
        actor_user_id=user.id,
    )
    if data.tags:
        await set_lead_tags(session, lead, data.tags)
    return lead


async def apply_update(session: AsyncSession, user: User, lead: Lead, changes: dict[str, Any]) -> None:
    """Apply a PATCH (only the fields sent); the stage goes through the stage machine, the owner through routing."""
    changed = False
    if "watch_id" in changes and changes["watch_id"] != lead.watch_id:
        await check_references(session, user, None, changes["watch_id"])
        lead.watch_id = changes["watch_id"]
        changed = True
    for name in ("platform", "external_id"):
        if name in changes and changes[name] != getattr(lead, name):
            setattr(lead, name, changes[name])
            changed = True
    if changes.get("tags") is not None:
        await set_lead_tags(session, lead, changes["tags"])
        changed = True
    if "owner_id" in changes and changes["owner_id"] != lead.owner_id:
        await check_assignment(session, user, changes["owner_id"])
        await assign(session, lead, changes["owner_id"], actor=user.email, actor_user_id=user.id, reason="api")
    elif changed:
        touch(lead)
    session.add(lead)
    if changes.get("stage") and changes["stage"] != lead.stage:
        await move_lead(
            session, lead, changes["stage"], actor=user.email, actor_user_id=user.id, reason=changes.get("reason", "")
        )
    await session.flush()


class LeadController(Controller):
    path = "/api/v1/leads"
    tags = ["leads"]

    @get(
        "/",
        summary="List leads (filter, sort, keyset cursor); best score first by default",
        dependencies={"filters": Provide(provide_lead_filter)},
    )
    async def list_leads(
        self,
        engine: Engine,
        user: CurrentUser,
        filters: NamedDependency[LeadFilter],
        sort: FromQuery[LeadSort] = "-score",
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        cursor: Annotated[str | None, QueryParameter(max_length=500)] = None,
    ) -> Response[LeadPage]:
        # No session: a read of one statement needs neither a transaction nor the ORM (see crm.leads.listing). The
        # filters carry the caller's scope (crm.leads.filters).
        key = parse_sort(sort, LEAD_SORTS)
        items, next_cursor = await read_lead_page(engine, filters, key, parse_cursor(key, cursor), limit)
        # Shaped exactly as LeadPage (the OpenAPI document and the schemathesis test hold it to that).
        return Response(cast(LeadPage, {"items": items, "next_cursor": next_cursor}))

    @post("/", summary="Create a lead for a contact in a watch", response_headers=ETAG_HEADER)
    async def create_lead(
        self, session: DbSession, user: CurrentUser, data: JSONBody[LeadCreate]
    ) -> Response[LeadPublic]:
        if data.external_id is not None:
            taken = await session.exec(select(Lead.id).where(Lead.external_id == data.external_id))
            if taken.first() is not None:
                raise Conflict(f"a lead with external id {data.external_id!r} exists; PUT to its by-external-id URL")
        lead = await new_lead(session, user, data, data.external_id)
        return await with_etag(session, lead, 201)

    @get("/{lead_id:int}", summary="One lead", response_headers=ETAG_HEADER)
    async def get_lead(self, session: DbSession, user: CurrentUser, lead_id: PathId) -> Response[LeadPublic]:
        return await with_etag(session, await readable_lead(session, user, lead_id))

    @patch(
        "/{lead_id:int}", summary="Change a lead (only the fields sent; If-Match guards)", response_headers=ETAG_HEADER
    )
    async def update_lead(
        self,
        session: DbSession,
        user: CurrentUser,
        lead_id: PathId,
        data: JSONBody[LeadUpdate],
        if_match: IfMatch = None,
    ) -> Response[LeadPublic]:
        lead = await writable_lead(session, user, lead_id)
        check_if_match(if_match, "lead", lead)
        await apply_update(session, user, lead, data.model_dump(exclude_unset=True))
        return await with_etag(session, lead)

    @delete("/{lead_id:int}", summary="Delete a lead (soft: it becomes a tombstone in the sync feed)", status_code=204)
    async def delete_lead(
        self, session: DbSession, user: CurrentUser, lead_id: PathId, if_match: IfMatch = None
    ) -> None:
        lead = await writable_lead(session, user, lead_id)
        check_if_match(if_match, "lead", lead)
        soft_delete(lead)
        session.add(lead)

    @get(
        "/by-external-id/{external_id:str}",
        summary="One lead by the consumer's external id",
        response_headers=ETAG_HEADER,
    )
    async def get_by_external_id(
        self, session: DbSession, user: CurrentUser, external_id: Annotated[str, PathParameter(max_length=200)]
    ) -> Response[LeadPublic]:
        lead = (await session.exec(select(Lead).where(Lead.external_id == external_id))).first()
        if lead is None or lead.id is None:
            raise NotFound(f"no lead has external id {external_id!r}")
        return await with_etag(session, await readable_lead(session, user, lead.id))

    @put(
        "/by-external-id/{external_id:str}",
        summary="Create or update the lead with this external id (201 created, 200 updated)",
        response_headers=ETAG_HEADER,
        status_code=200,
        responses={201: ResponseSpec(data_container=LeadPublic, description="Created")},
    )
    async def upsert_by_external_id(
        self,
        session: DbSession,
        user: CurrentUser,
        external_id: Annotated[str, PathParameter(min_length=1, max_length=200)],
        data: JSONBody[LeadUpsert],
        if_match: IfMatch = None,
    ) -> Response[LeadPublic]:
        lead = (await session.exec(select(Lead).where(Lead.external_id == external_id))).first()
        if lead is None:
            # The natural key (contact x watch) may already have a lead the consumer has not linked yet.
            lead = (
                await session.exec(
                    select(Lead).where(Lead.contact_id == data.contact_id, Lead.watch_id == data.watch_id)
                )
            ).first()
            if lead is None or lead.external_id is not None or lead.deleted_at is not None:
                if "\x00" in external_id:
                    raise InvalidInput("external ids cannot contain NUL characters")
                return await with_etag(session, await new_lead(session, user, data, external_id), 201)
        assert lead.id is not None
        if lead.deleted_at is not None:
            raise Conflict(f"the lead with external id {external_id!r} was deleted")
        lead = await writable_lead(session, user, lead.id)
        check_if_match(if_match, "lead", lead)
        if lead.contact_id != data.contact_id:
            raise Conflict("a lead's contact cannot change; merge the contacts instead")
        changes = data.model_dump(exclude_unset=True, exclude={"contact_id"})
        changes["external_id"] = external_id
        await apply_update(session, user, lead, changes)
        return await with_etag(session, lead)

    @post("/{lead_id:int}/stage", summary="Move a lead to another stage", status_code=200, response_headers=ETAG_HEADER)
    async def change_stage(
        self,
        session: DbSession,
        user: CurrentUser,
        lead_id: PathId,
        data: JSONBody[StageMove],
        if_match: IfMatch = None,
    ) -> Response[LeadPublic]:
        lead = await writable_lead(session, user, lead_id)
        check_if_match(if_match, "lead", lead)
        await move_lead(session, lead, data.to_stage, actor=user.email, actor_user_id=user.id, reason=data.reason)
        return await with_etag(session, lead)

    @get("/{lead_id:int}/stage-changes", summary="A lead's stage history")
    async def stage_changes(self, session: DbSession, user: CurrentUser, lead_id: PathId) -> list[StageChangePublic]:
        await readable_lead(session, user, lead_id)
        rows = await session.exec(
            select(StageChange).where(StageChange.lead_id == lead_id).order_by(col(StageChange.at), col(StageChange.id))
        )
        return [StageChangePublic.model_validate(r) for r in rows]

    @get("/{lead_id:int}/timeline", summary="Everything that happened to a lead, newest first")
    async def lead_timeline(
        self,
        session: DbSession,
        user: CurrentUser,
        lead_id: PathId,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 200,
    ) -> list[TimelineItem]:
        return await timeline(session, await readable_lead(session, user, lead_id), limit=limit)

    @get("/{lead_id:int}/scores", summary="Every score a lead received, newest first")
    async def lead_scores(self, session: DbSession, user: CurrentUser, lead_id: PathId) -> list[LeadScorePublic]:
        await readable_lead(session, user, lead_id)
        rows = await session.exec(
            select(LeadScore)
            .where(LeadScore.lead_id == lead_id)
            .order_by(col(LeadScore.created_at).desc(), col(LeadScore.id).desc())
        )
        return [LeadScorePublic.model_validate(r) for r in rows]


class TagController(Controller):
    path = "/api/v1/tags"
    tags = ["leads"]

    @get("/", summary="Every tag in use")
    async def list_tags(self, session: DbSession, user: CurrentUser) -> list[TagPublic]:
        rows = await session.exec(select(Tag).order_by(col(Tag.name)))
        return [TagPublic.model_validate(t) for t in rows]
