"""Routes for watches (`/api/v1/watches`) and mention intake (JSONL import), plus read access to mentions."""

from __future__ import annotations

import io
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.errors import InvalidInput, NotFound
from crm.models import Mention, Watch
from crm.queue import enqueue
from crm.web import CurrentUser, DbSession, Queue
from listeners.intake import read_jsonl
from listeners.schemas import ImportReport, MentionPublic, WatchCreate, WatchPublic
from listeners.store import save_mentions

MAX_IMPORT_BYTES = 20 * 1024 * 1024


async def get_watch_or_404(session: AsyncSession, watch_id: int) -> Watch:
    watch = await session.get(Watch, watch_id)
    if watch is None:
        raise NotFound(f"watch {watch_id} does not exist")
    return watch


class WatchController(Controller):
    path = "/api/v1/watches"
    tags = ["watches"]

    @post("/", summary="Create a watch (listening campaign)")
    async def create_watch(self, session: DbSession, user: CurrentUser, data: JSONBody[WatchCreate]) -> WatchPublic:
        exists = (await session.exec(select(Watch.id).where(Watch.name == data.name))).first()
        if exists is not None:
            raise InvalidInput(f"a watch named {data.name!r} already exists")
        watch = Watch.model_validate(
            data, update={"owner_id": user.id, "competitors": [c.model_dump() for c in data.competitors]}
        )
        session.add(watch)
        await session.flush()
        return WatchPublic.model_validate(watch)

    @get("/", summary="List watches")
    async def list_watches(self, session: DbSession, user: CurrentUser) -> list[WatchPublic]:
        rows = await session.exec(select(Watch).order_by(col(Watch.id)))
        return [WatchPublic.model_validate(w) for w in rows]

    @get("/{watch_id:int}", summary="One watch")
    async def get_watch(self, session: DbSession, user: CurrentUser, watch_id: FromPath[int]) -> WatchPublic:
        return WatchPublic.model_validate(await get_watch_or_404(session, watch_id))


class MentionImportController(Controller):
    path = "/api/v1"
    tags = ["mentions"]

    @post(
        "/watches/{watch_id:int}/mentions/import",
        summary="Import mentions from a JSONL body (one mention object per line)",
        status_code=200,
    )
    async def import_mentions(
        self,
        request: Request[Any, Any, Any],
        session: DbSession,
        queue: Queue,
        user: CurrentUser,
        watch_id: FromPath[int],
    ) -> ImportReport:
        watch = await get_watch_or_404(session, watch_id)
        body = await request.body()
        if len(body) > MAX_IMPORT_BYTES:
            raise InvalidInput(f"import bodies are limited to {MAX_IMPORT_BYTES} bytes")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput("the body must be UTF-8 encoded JSON lines") from exc
        result = await save_mentions(session, watch, (item for _, item in read_jsonl(io.StringIO(text))), source="api")
        await session.commit()  # commit, then enqueue: the job must find the rows
        for lead_id in result.new_leads:
            await enqueue(queue, "score_lead", job_id=f"score:lead:{lead_id}:initial", lead_id=lead_id)
        return ImportReport(
            stored=len(result.new_mentions),
            duplicates=result.duplicates,
            matched=result.matched,
            new_leads=len(result.new_leads),
            quarantined=result.quarantined,
        )

    @get("/mentions/{mention_id:int}", summary="One mention")
    async def get_mention(self, session: DbSession, user: CurrentUser, mention_id: FromPath[int]) -> MentionPublic:
        mention = await session.get(Mention, mention_id)
        if mention is None:
            raise NotFound(f"mention {mention_id} does not exist")
        return MentionPublic.model_validate(mention)
