"""Routes for watches (`/api/v1/watches`, and the deprecated alias `/api/v1/campaigns`), mention intake (JSONL
import) and reading mentions (`/api/v1/mentions`).

Everyone reads watches and mentions (mentions within their lead scope); admins and marketers change watches, each
change guarded by If-Match; a delete is soft and stops the watch listening.
"""

from __future__ import annotations

import io
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.handlers import BaseRouteHandler, HTTPRouteHandler
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access.policy import (
    mention_scope,
    readable_lead,
    readable_mention,
    readable_watch,
    require_watch_write,
    writable_watch,
)
from crm.errors import InvalidInput
from crm.http.deps import AppSettings, CurrentUser, DbSession, Queue
from crm.http.etags import check_if_match, etag, soft_delete, touch
from crm.http.paging import keyset, page_of, parse_sort
from crm.leads.api import ETAG_HEADER, IfMatch
from crm.leads.records import lead_mentions_query
from crm.models import Mention, MentionMatch, Pipeline, User, Watch
from crm.schemas import PageCursor, PageLimit, PathId, QueryId
from listeners.ingest import ingest_batch
from listeners.intake import read_jsonl
from listeners.matching import WatchMatcher
from listeners.preview import preview
from listeners.query import QueryError
from listeners.schemas import (
    MentionImportReport,
    MentionPage,
    MentionPublic,
    PreviewMention,
    PreviewPublic,
    PreviewRequest,
    WatchCreate,
    WatchPage,
    WatchPublic,
    WatchUpdate,
)

MAX_IMPORT_BYTES = 20 * 1024 * 1024
PREVIEW_FIELDS = ("keywords", "query", "competitors", "excluded_terms", "excluded_authors", "languages", "platforms")
BY_ID = parse_sort("id", {"id": ("int", False)})
NEWEST = parse_sort("-id", {"id": ("int", False)})
# Fields a PATCH may set to null; for the others null means "leave as it is".
NULLABLE = ("pipeline_id", "owner_id", "offer")


def compile_watch(**fields: Any) -> WatchMatcher:
    """The watch's matcher; a query mistake is a 422 naming its position."""
    try:
        return WatchMatcher(**fields)
    except QueryError as exc:
        raise InvalidInput(f"query: {exc}", extra={"field": "query", "position": exc.position}) from None


def _response(watch: Watch, status_code: int = 200) -> Response[WatchPublic]:
    return Response(WatchPublic.model_validate(watch), status_code=status_code, headers={"ETag": etag("watch", watch)})


async def _check(session: AsyncSession, changes: dict[str, Any], watch_id: int | None = None) -> None:
    """Refuse what the table would: a name another watch has, a pipeline or owner that does not exist."""
    name = changes.get("name")
    if name is not None:
        other = (await session.exec(select(Watch.id).where(Watch.name == name))).first()
        if other is not None and other != watch_id:
            raise InvalidInput(f"a watch named {name!r} already exists")
    pipeline_id = changes.get("pipeline_id")
    if pipeline_id is not None:
        pipeline = await session.get(Pipeline, pipeline_id)
        if pipeline is None or pipeline.deleted_at is not None:
            raise InvalidInput(f"pipeline {pipeline_id} does not exist")
    owner_id = changes.get("owner_id")
    if owner_id is not None and await session.get(User, owner_id) is None:
        raise InvalidInput(f"user {owner_id} does not exist")


class WatchController(Controller):
    path = "/api/v1/watches"
    tags = ["watches"]

    @post("/", summary="Create a watch (admins and marketers)", response_headers=ETAG_HEADER)
    async def create_watch(
        self, session: DbSession, user: CurrentUser, data: JSONBody[WatchCreate]
    ) -> Response[WatchPublic]:
        require_watch_write(user)
        await _check(session, data.model_dump())
        competitors = [c.model_dump() for c in data.competitors]
        compile_watch(query=data.query, competitors=competitors)
        watch = Watch.model_validate(data, update={"owner_id": data.owner_id or user.id, "competitors": competitors})
        session.add(watch)
        await session.flush()
        return _response(watch, 201)

    @get("/", summary="List watches, keyset-paged by id")
    async def list_watches(
        self,
        session: DbSession,
        user: CurrentUser,
        active: FromQuery[bool | None] = None,
        limit: PageLimit = 50,
        cursor: PageCursor = None,
    ) -> WatchPage:
        query = select(Watch).where(col(Watch.deleted_at).is_(None))
        if active is not None:
            query = query.where(col(Watch.active).is_(active))
        rows, next_cursor = page_of(list(await session.exec(keyset(query, Watch, BY_ID, cursor, limit))), BY_ID, limit)
        return WatchPage(items=[WatchPublic.model_validate(w) for w in rows], next_cursor=next_cursor)

    @post("/preview", summary="Try a watch definition against the newest stored mentions", status_code=200)
    async def preview_watch(
        self, session: DbSession, user: CurrentUser, data: JSONBody[PreviewRequest]
    ) -> PreviewPublic:
        fields: dict[str, Any] = {}
        if data.watch_id is not None:
            saved = await readable_watch(session, user, data.watch_id)
            fields = {name: getattr(saved, name) for name in PREVIEW_FIELDS}
        for name in PREVIEW_FIELDS:
            given = getattr(data, name)
            if given is not None:
                fields[name] = [c.model_dump() for c in given] if name == "competitors" else given
        result = await preview(session, compile_watch(**fields), scan=data.scan, limit=data.limit)
        return PreviewPublic(
            scanned=result.scanned,
            matched=result.matched,
            items=[
                PreviewMention(
                    mention_id=hit.mention_id,
                    platform=hit.platform,
                    handle=hit.handle,
                    text=hit.text,
                    url=hit.url,
                    posted_at=hit.posted_at,
                    matched_terms=list(hit.terms),
                    matched_competitors=list(hit.competitors),
                )
                for hit in result.hits
            ],
        )

    @get("/{watch_id:int}", summary="One watch", response_headers=ETAG_HEADER)
    async def get_watch(self, session: DbSession, user: CurrentUser, watch_id: PathId) -> Response[WatchPublic]:
        return _response(await readable_watch(session, user, watch_id))

    @patch(
        "/{watch_id:int}",
        summary="Change a watch (admins and marketers; If-Match guards)",
        response_headers=ETAG_HEADER,
    )
    async def update_watch(
        self,
        session: DbSession,
        user: CurrentUser,
        watch_id: PathId,
        data: JSONBody[WatchUpdate],
        if_match: IfMatch = None,
    ) -> Response[WatchPublic]:
        watch = await writable_watch(session, user, watch_id)
        check_if_match(if_match, "watch", watch)
        changes = {
            name: value
            for name, value in data.model_dump(exclude_unset=True).items()
            if value is not None or name in NULLABLE
        }
        await _check(session, changes, watch_id)
        if "query" in changes or "competitors" in changes:
            compile_watch(
                query=changes.get("query", watch.query), competitors=changes.get("competitors", watch.competitors)
            )
        for name, value in changes.items():
            setattr(watch, name, value)
        touch(watch)
        session.add(watch)
        await session.flush()
        return _response(watch)

    @delete("/{watch_id:int}", summary="Delete a watch (soft; it stops listening)", status_code=204)
    async def delete_watch(
        self, session: DbSession, user: CurrentUser, watch_id: PathId, if_match: IfMatch = None
    ) -> None:
        watch = await writable_watch(session, user, watch_id)
        check_if_match(if_match, "watch", watch)
        watch.active = False
        soft_delete(watch)
        session.add(watch)


class CampaignController(WatchController):
    """`/api/v1/campaigns`: the watch routes under the name the CRM once gave them, marked deprecated in OpenAPI so
    that older clients keep working while new ones use `/api/v1/watches`."""

    path = "/api/v1/campaigns"
    tags = ["campaigns"]

    def get_route_handlers(self) -> list[BaseRouteHandler]:
        # The alias serves what /campaigns always served (CRUD), not routes added to watches since.
        handlers = [h for h in super().get_route_handlers() if h.handler_name != "preview_watch"]
        for handler in handlers:
            if isinstance(handler, HTTPRouteHandler):
                handler.deprecated = True
        return handlers


class MentionImportController(Controller):
    path = "/api/v1"
    tags = ["mentions"]

    @post(
        "/watches/{watch_id:int}/mentions/import",
        summary="Import mentions from a JSONL body (one mention object per line)",
        status_code=200,
        opt={
            "raw_body": ("application/x-ndjson", "One mention object per line (JSON Lines); bad lines are quarantined")
        },
    )
    async def import_mentions(
        self,
        request: Request[Any, Any, Any],
        session: DbSession,
        queue: Queue,
        user: CurrentUser,
        settings: AppSettings,
        watch_id: FromPath[int],
    ) -> MentionImportReport:
        watch = await writable_watch(session, user, watch_id)
        body = await request.body()
        if len(body) > MAX_IMPORT_BYTES:
            raise InvalidInput(f"import bodies are limited to {MAX_IMPORT_BYTES} bytes")
        # Lines are decoded one by one, so a line that is not UTF-8 is quarantined and the rest still imported.
        items = (item for _, item in read_jsonl(io.BytesIO(body)))
        report = await ingest_batch(session, watch, items, source="api", queue=queue, settings=settings)
        return report.public()


class MentionController(Controller):
    path = "/api/v1/mentions"
    tags = ["mentions"]

    @get("/", summary="Mentions of people you can see, newest first")
    async def list_mentions(
        self,
        session: DbSession,
        user: CurrentUser,
        watch_id: QueryId = None,
        platform: Annotated[str | None, QueryParameter(max_length=20)] = None,
        contact_id: QueryId = None,
        limit: PageLimit = 50,
        cursor: PageCursor = None,
    ) -> MentionPage:
        query = select(Mention).where(mention_scope(user))
        if watch_id is not None:
            query = query.where(
                select(MentionMatch.id)
                .where(MentionMatch.mention_id == Mention.id, MentionMatch.watch_id == watch_id)
                .exists()
            )
        if platform:
            query = query.where(Mention.platform == platform)
        if contact_id is not None:
            query = query.where(Mention.contact_id == contact_id)
        rows, next_cursor = page_of(
            list(await session.exec(keyset(query, Mention, NEWEST, cursor, limit))), NEWEST, limit
        )
        return MentionPage(items=[MentionPublic.model_validate(m) for m in rows], next_cursor=next_cursor)

    @get("/{mention_id:int}", summary="One mention")
    async def get_mention(self, session: DbSession, user: CurrentUser, mention_id: FromPath[int]) -> MentionPublic:
        return MentionPublic.model_validate(await readable_mention(session, user, mention_id))


class LeadMentionController(Controller):
    """The mentions behind one lead, in the same shape as every other mention route."""

    path = "/api/v1/leads/{lead_id:int}/mentions"
    tags = ["mentions"]

    @get("/", summary="The mentions behind a lead, newest first")
    async def lead_mentions(
        self,
        session: DbSession,
        user: CurrentUser,
        lead_id: PathId,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> list[MentionPublic]:
        lead = await readable_lead(session, user, lead_id)
        rows = await session.exec(
            lead_mentions_query(lead).order_by(col(Mention.posted_at).desc(), col(Mention.id).desc()).limit(limit)
        )
        return [MentionPublic.model_validate(m) for m in rows]
