"""Outreach routes: draft a message for a lead (situation, variant and lint findings with it), lint an edit, mark it
sent, record a reply, read a lead's messages, the messages feed across the leads the caller may see
(`/api/v1/messages`, newest first with keyset cursors), and who is writing: the workspace's sender profile and each
user's signature."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from litestar import Controller, Response, get, post, put
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlmodel import col, select

from crm.access.policy import lead_scope, readable_lead, writable_lead
from crm.errors import NotFound
from crm.http.deps import AppSettings, CurrentUser, DbSession
from crm.http.etags import etag
from crm.http.paging import keyset, page_of, parse_sort
from crm.leads.api import ETAG_HEADER, IfMatch
from crm.models import Lead, Message, SenderProfile, SenderSignature
from crm.schemas import PageCursor, PageLimit, QueryId
from outreach.channels.manual import mark_sent
from outreach.compose.lint import blocks
from outreach.compose.situations import SituationContext
from outreach.drafts import create_draft, lint_message
from outreach.profile import (
    read_profile,
    read_signature,
    require_profile_write,
    save_profile,
    save_signature,
    signature_etag_source,
)
from outreach.replies.intake import record_reply
from outreach.schemas import (
    DraftCreate,
    DraftPublic,
    FindingPublic,
    LintPublic,
    LintRequest,
    MarkSent,
    MessagePage,
    MessagePublic,
    Purpose,
    ReplyCreate,
    SenderProfilePublic,
    SenderProfileUpdate,
    SignaturePublic,
    SignatureUpdate,
)

NEWEST = parse_sort("-id", {"id": ("int", False)})
PURPOSES: dict[Purpose, SituationContext | None] = {
    "first_message": None,
    "follow_up_1": SituationContext(follow_up=1),
    "follow_up_2": SituationContext(follow_up=2),
    "after_support_case": SituationContext(after_support_case=True),
    "new_follower": SituationContext(new_follower=True),
}


class OutreachController(Controller):
    path = "/api/v1"
    tags = ["outreach"]

    @post("/leads/{lead_id:int}/drafts", summary="Draft a message for a lead, written for its situation, linted")
    async def draft(
        self,
        session: DbSession,
        settings: AppSettings,
        user: CurrentUser,
        lead_id: FromPath[int],
        data: JSONBody[DraftCreate | None] = None,
    ) -> DraftPublic:
        lead = await writable_lead(session, user, lead_id)
        request = data or DraftCreate()
        result = await create_draft(
            session, settings, lead, user, request.template, purpose=PURPOSES[request.purpose], variant=request.variant
        )
        draft = result.draft
        return DraftPublic.model_validate(
            result.message,
            update={
                "cue": draft.cue,
                "cue_sentence": draft.cue_sentence,
                "findings": [FindingPublic.of(f) for f in draft.findings],
                "blocked": blocks(draft.findings),
            },
        )

    @post(
        "/messages/{message_id:int}/lint",
        summary="Lint a text as the message's next version (findings with a suggestion each)",
        status_code=200,
    )
    async def lint(
        self, session: DbSession, user: CurrentUser, message_id: FromPath[int], data: JSONBody[LintRequest]
    ) -> LintPublic:
        message = await self._readable_message(session, user, message_id)
        findings = await lint_message(session, message, data.text, user)
        return LintPublic(findings=[FindingPublic.of(f) for f in findings], blocked=blocks(findings))

    @staticmethod
    async def _readable_message(session: DbSession, user: CurrentUser, message_id: int) -> Message:
        message = await session.get(Message, message_id)
        if message is None:
            raise NotFound(f"message {message_id} does not exist")
        try:
            await readable_lead(session, user, message.lead_id)
        except NotFound:
            raise NotFound(f"message {message_id} does not exist") from None
        return message

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


def _profile_response(profile: SenderProfile) -> Response[SenderProfilePublic]:
    return Response(
        SenderProfilePublic.model_validate(
            profile, update={"updated_at": profile.updated_at if profile.version else None}
        ),
        headers={"ETag": etag("sender-profile", profile)},
    )


def _signature_response(row: SenderSignature) -> Response[SignaturePublic]:
    return Response(
        SignaturePublic.model_validate(row), headers={"ETag": etag("signature", signature_etag_source(row))}
    )


class SenderProfileController(Controller):
    """Who is writing: the workspace's profile (admins and marketers change it) and each user's own signature."""

    path = "/api/v1"
    tags = ["outreach"]

    @get("/sender-profile", summary="The sender profile drafts are written from", response_headers=ETAG_HEADER)
    async def get_profile(
        self, session: DbSession, settings: AppSettings, user: CurrentUser
    ) -> Response[SenderProfilePublic]:
        return _profile_response(await read_profile(session, settings))

    @put(
        "/sender-profile",
        summary="Change the sender profile (admins and marketers; If-Match guards)",
        response_headers=ETAG_HEADER,
    )
    async def put_profile(
        self,
        session: DbSession,
        settings: AppSettings,
        user: CurrentUser,
        data: JSONBody[SenderProfileUpdate],
        if_match: IfMatch = None,
    ) -> Response[SenderProfilePublic]:
        require_profile_write(user)
        profile = await save_profile(session, settings, user, data.model_dump(exclude_unset=True), if_match)
        return _profile_response(profile)

    @get("/users/me/signature", summary="Your display name and signature in drafts", response_headers=ETAG_HEADER)
    async def get_signature(self, session: DbSession, user: CurrentUser) -> Response[SignaturePublic]:
        return _signature_response(await read_signature(session, user))

    @put(
        "/users/me/signature",
        summary="Change your display name and signature (If-Match guards)",
        response_headers=ETAG_HEADER,
    )
    async def put_signature(
        self, session: DbSession, user: CurrentUser, data: JSONBody[SignatureUpdate], if_match: IfMatch = None
    ) -> Response[SignaturePublic]:
        return _signature_response(await save_signature(session, user, data.model_dump(exclude_unset=True), if_match))
