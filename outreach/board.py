"""Board actions for outreach: draft a first DM and mark it sent from the lead panel (htmx partials)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from crm.board import lead_panel, signed_in_user
from crm.errors import WarmlineError
from crm.models import Lead, Message
from crm.web import AppSettings, DbSession
from outreach.service import create_draft, mark_sent


class OutreachBoardController(Controller):
    include_in_schema = False

    @post("/board/leads/{lead_id:int}/draft", status_code=200)
    async def draft(
        self, request: Request[Any, Any, Any], session: DbSession, settings: AppSettings, lead_id: FromPath[int]
    ) -> Template | Redirect:
        user = await signed_in_user(request, session)
        if user is None:
            return Redirect("/login")
        lead = await session.get(Lead, lead_id)
        if lead is None or lead.deleted_at is not None:
            return Template(template_name="board/_missing.html.j2", status_code=404)
        if user.role == "read_only":
            return await lead_panel(session, lead, user, error="Read-only users cannot draft messages.")
        try:
            await create_draft(session, settings, lead, user)
        except WarmlineError as exc:
            return await lead_panel(session, lead, user, error=exc.detail)
        return await lead_panel(session, lead, user)

    @post("/board/messages/{message_id:int}/sent", status_code=200)
    async def sent(
        self, request: Request[Any, Any, Any], session: DbSession, message_id: FromPath[int]
    ) -> Template | Redirect:
        user = await signed_in_user(request, session)
        if user is None:
            return Redirect("/login")
        message = await session.get(Message, message_id)
        lead = await session.get(Lead, message.lead_id) if message else None
        if message is None or lead is None or lead.deleted_at is not None:
            return Template(template_name="board/_missing.html.j2", status_code=404)
        if user.role == "read_only":
            return await lead_panel(session, lead, user, error="Read-only users cannot send messages.")
        try:
            await mark_sent(session, message, user)
        except WarmlineError as exc:
            return await lead_panel(session, lead, user, error=exc.detail)
        return await lead_panel(session, lead, user, refresh_card=True)
