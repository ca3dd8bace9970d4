"""Board actions for outreach: draft a first DM and mark it sent from the lead panel (htmx partials).

Each action asks crm.access.policy as the API's outreach routes do: an invisible lead or message is a 404 page, a lead the
user may read but not change a 403 panel, and the send policy's refusals keep the API's status.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template

from crm.access.policy import readable_lead, require_lead_write
from crm.board.pages import lead_panel, missing_lead, must_sign_in, refused, signed_in_user
from crm.errors import NotFound, WarmlineError
from crm.http.deps import AppSettings, DbSession
from crm.models import Message
from outreach.channels.manual import mark_sent
from outreach.drafts import create_draft


class OutreachBoardController(Controller):
    include_in_schema = False

    @post("/board/leads/{lead_id:int}/draft", status_code=200)
    async def draft(
        self, request: Request[Any, Any, Any], session: DbSession, settings: AppSettings, lead_id: FromPath[int]
    ) -> Template | Redirect | Response[str]:
        user = await signed_in_user(request, session)
        if user is None:
            return must_sign_in(request)
        try:
            lead = await readable_lead(session, user, lead_id)
        except NotFound:
            return missing_lead()
        try:
            require_lead_write(user, lead)
            await create_draft(session, settings, lead, user)
        except WarmlineError as exc:
            return await refused(session, lead, user, exc)
        return await lead_panel(session, lead, user)

    @post("/board/messages/{message_id:int}/sent", status_code=200)
    async def sent(
        self, request: Request[Any, Any, Any], session: DbSession, settings: AppSettings, message_id: FromPath[int]
    ) -> Template | Redirect | Response[str]:
        user = await signed_in_user(request, session)
        if user is None:
            return must_sign_in(request)
        message = await session.get(Message, message_id)
        if message is None:
            return missing_lead()
        try:
            lead = await readable_lead(session, user, message.lead_id)
        except NotFound:
            return missing_lead()
        try:
            require_lead_write(user, lead)
            await mark_sent(session, settings, message, user)
        except WarmlineError as exc:
            return await refused(session, lead, user, exc)
        return await lead_panel(session, lead, user, refresh_card=True)
