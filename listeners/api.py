"""Routes for watches (`/api/v1/watches`) and mention intake (JSONL import), plus read access to mentions."""

from __future__ import annotations

import io
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access.policy import readable_mention, readable_watch, require_campaign_write, writable_watch
from crm.errors import InvalidInput, NotFound
from crm.http.deps import AppSettings, CurrentUser, DbSession, Queue
from crm.models import Watch
from crm.queue import enqueue
from listeners.intake import read_jsonl
from listeners.matching import WatchMatcher
from listeners.preview import preview
from listeners.query import QueryError
from listeners.schemas import (
    MentionImportReport,
    MentionPublic,
    PreviewMention,
    PreviewPublic,
    PreviewRequest,
    WatchCreate,
    WatchPublic,
)
from listeners.store import save_mentions

MAX_IMPORT_BYTES = 20 * 1024 * 1024
PREVIEW_FIELDS = ("keywords", "query", "competitors", "excluded_terms", "excluded_authors", "languages", "platforms")


async def get_watch_or_404(session: AsyncSession, watch_id: int) -> Watch:
    watch = await session.get(Watch, watch_id)
    if watch is None:
        raise NotFound(f"watch {watch_id} does not exist")
    return watch


def compile_watch(**fields: Any) -> WatchMatcher:
    """The watch's matcher; a query mistake is a 422 naming its position."""
    try:
        return WatchMatcher(**fields)
    except QueryError as exc:
        raise InvalidInput(f"query: {exc}", extra={"field": "query", "position": exc.position}) from None


class WatchController(Controller):
    path = "/api/v1/watches"
    tags = ["watches"]

    @post("/", summary="Create a watch (listening campaign)")
    async def create_watch(self, session: DbSession, user: CurrentUser, data: JSONBody[WatchCreate]) -> WatchPublic:
        require_campaign_write(user)
        exists = (await session.exec(select(Watch.id).where(Watch.name == data.name))).first()
        if exists is not None:
            raise InvalidInput(f"a watch named {data.name!r} already exists")
        compile_watch(query=data.query, competitors=[c.model_dump() for c in data.competitors])
        watch = Watch.model_validate(
            data, update={"owner_id": user.id, "competitors": [c.model_dump() for c in data.competitors]}
        )
        session.add(watch)
        await session.flush()
        return WatchPublic.model_validate(watch)

    @get("/", summary="List watches")
    async def list_watches(self, session: DbSession, user: CurrentUser) -> list[WatchPublic]:
        rows = await session.exec(select(Watch).where(col(Watch.deleted_at).is_(None)).order_by(col(Watch.id)))
        return [WatchPublic.model_validate(w) for w in rows]

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

    @get("/{watch_id:int}", summary="One watch")
    async def get_watch(self, session: DbSession, user: CurrentUser, watch_id: FromPath[int]) -> WatchPublic:
        return WatchPublic.model_validate(await readable_watch(session, user, watch_id))


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
        result = await save_mentions(session, watch, items, source="api", settings=settings)
        await session.commit()  # commit, then enqueue: the job must find the rows
        for lead_id in result.new_leads:
            await enqueue(queue, "score_lead", job_id=f"score:lead:{lead_id}:initial", lead_id=lead_id)
        return MentionImportReport(
            stored=len(result.new_mentions),
            duplicates=result.duplicates,
            matched=result.matched,
            new_leads=len(result.new_leads),
            quarantined=result.quarantined,
            suppressed=result.suppressed,
        )

    @get("/mentions/{mention_id:int}", summary="One mention")
    async def get_mention(self, session: DbSession, user: CurrentUser, mention_id: FromPath[int]) -> MentionPublic:
        return MentionPublic.model_validate(await readable_mention(session, user, mention_id))
