"""Outreach routes: draft a first DM for a lead, mark it sent, record a reply, read a lead's messages, and the
messages feed across the leads the caller may see (`/api/v1/messages`, newest first with keyset cursors)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlmodel import col, select

from crm.access.policy import lead_scope, readable_lead, writable_lead
from crm.errors import NotFound
from crm.http.deps import AppSettings, CurrentUser, DbSession
from crm.http.paging import keyset, page_of, parse_sort
from crm.models import Lead, Message
from crm.schemas import PageCursor, PageLimit, QueryId
from outreach.channels.manual import mark_sent
from outreach.drafts import create_draft
from outreach.replies.intake import record_reply
from outreach.schemas import DraftCreate, MarkSent, MessagePage, MessagePublic, ReplyCreate

NEWEST = parse_sort("-id", {"id": ("int", False)})


class OutreachController(Controller):
    path = "/api/v1"
    tags = ["outreach"]

    @post("/leads/{lead_id:int}/drafts", summary="Draft a personalised first DM for a lead")
    async def draft(
        self,
        session: DbSession,
        settings: AppSettings,
        user: CurrentUser,
        lead_id: FromPath[int],
        data: JSONBody[DraftCreate | None] = None,
    ) -> MessagePublic:
        lead = await writable_lead(session, user, lead_id)
        message = await create_draft(session, settings, lead, user, data.template if data else None)
        return MessagePublic.model_validate(message)

    @post("/messages/{message_id:int}/sent", summary="Mark a drafted message as sent by a rep", status_code=200)
    async def sent(
        self,
        session: DbSession,
        settings: AppSettings,
        user: CurrentUser,
        message_id: FromPath[int],
        data: JSONBody[MarkSent | None] = None,
    ) -> MessagePublic:
        message = await session.get(Message, message_id)
        if message is None:
            raise NotFound(f"message {message_id} does not exist")
        try:
            await writable_lead(session, user, message.lead_id)
        except NotFound:
            raise NotFound(f"message {message_id} does not exist") from None
        sent = await mark_sent(session, settings, message, user, data.external_id if data else None)
        return MessagePublic.model_validate(sent)

    @post("/leads/{lead_id:int}/replies", summary="Record a reply from the lead")
    async def reply(
        self,
        session: DbSession,
        settings: AppSettings,
        user: CurrentUser,
        lead_id: FromPath[int],
        data: JSONBody[ReplyCreate],
    ) -> MessagePublic:
        lead = await writable_lead(session, user, lead_id)
        message, _ = await record_reply(
            session,
            lead,
            data.body,
            external_id=data.external_id,
            actor=user.email,
            response_window=timedelta(hours=settings.sales_dm_response_hours),
        )
        return MessagePublic.model_validate(message)

    @get("/leads/{lead_id:int}/messages", summary="A lead's conversation, oldest first")
    async def messages(self, session: DbSession, user: CurrentUser, lead_id: FromPath[int]) -> list[MessagePublic]:
        await readable_lead(session, user, lead_id)
        rows = await session.exec(
            select(Message).where(Message.lead_id == lead_id).order_by(col(Message.created_at), col(Message.id))
        )
        return [MessagePublic.model_validate(m) for m in rows]

    @get("/messages", summary="Messages on leads you can see, newest first")
    async def list_messages(
        self,
        session: DbSession,
        user: CurrentUser,
        lead_id: QueryId = None,
        direction: Annotated[str | None, QueryParameter(max_length=10)] = None,
        status: Annotated[str | None, QueryParameter(max_length=20)] = None,
        limit: PageLimit = 50,
        cursor: PageCursor = None,
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
        return MessagePage(items=[MessagePublic.model_validate(m) for m in rows], next_cursor=next_cursor)
