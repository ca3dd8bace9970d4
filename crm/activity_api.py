"""Read-only feeds for consumers: mentions, messages and scores across the leads the caller may see
(`/api/v1/mentions`, `/api/v1/messages`, `/api/v1/scores`), newest first with keyset cursors."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import QueryParameter
from sqlmodel import SQLModel, col, select

from crm.access.policy import lead_scope, mention_scope
from crm.http.deps import CurrentUser, DbSession
from crm.http.paging import keyset, page_of, parse_sort
from crm.models import Lead, LeadScore, Mention, MentionMatch, Message
from crm.schemas import LeadScorePublic, MentionSummary, MessageSummary, QueryId

NEWEST = parse_sort("-id", {"id": ("int", False)})
Limit = Annotated[int, QueryParameter(ge=1, le=500)]
Cursor = Annotated[str | None, QueryParameter(max_length=500)]


class MentionPage(SQLModel):
    items: list[MentionSummary]
    next_cursor: str | None = None


class MessagePage(SQLModel):
    items: list[MessageSummary]
    next_cursor: str | None = None


class ScorePage(SQLModel):
    items: list[LeadScorePublic]
    next_cursor: str | None = None


class ActivityController(Controller):
    path = "/api/v1"
    tags = ["activity"]

    @get("/mentions", summary="Mentions of people you can see, newest first")
    async def mentions(
        self,
        session: DbSession,
        user: CurrentUser,
        watch_id: QueryId = None,
        platform: Annotated[str | None, QueryParameter(max_length=20)] = None,
        contact_id: QueryId = None,
        limit: Limit = 50,
        cursor: Cursor = None,
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
        return MentionPage(items=[MentionSummary.model_validate(m) for m in rows], next_cursor=next_cursor)

    @get("/messages", summary="Messages on leads you can see, newest first")
    async def messages(
        self,
        session: DbSession,
        user: CurrentUser,
        lead_id: QueryId = None,
        direction: Annotated[str | None, QueryParameter(max_length=10)] = None,
        status: Annotated[str | None, QueryParameter(max_length=20)] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> MessagePage:
        query = (
            select(Message)
            .join(Lead, col(Lead.id) == col(Message.lead_id))
            .where(col(Lead.deleted_at).is_(None), lead_scope(user))
        )
        if lead_id is not None:
            query = query.where(Message.lead_id == lead_id)
        if direction:
            query = query.where(Message.direction == direction)
        if status:
            query = query.where(Message.status == status)
        rows, next_cursor = page_of(
            list(await session.exec(keyset(query, Message, NEWEST, cursor, limit))), NEWEST, limit
        )
        return MessagePage(items=[MessageSummary.model_validate(m) for m in rows], next_cursor=next_cursor)

    @get("/scores", summary="Scores of leads you can see, newest first")
    async def scores(
        self,
        session: DbSession,
        user: CurrentUser,
        lead_id: QueryId = None,
        model_version: Annotated[str | None, QueryParameter(max_length=80)] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
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
