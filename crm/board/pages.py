"""The web lead board: sign-in, a kanban of leads by stage (best score first) and a lead's detail panel.

Server-rendered Jinja with htmx partials; outreach actions on the panel live in outreach/board.py and
re-render the panel through `lead_panel` here. The board is one more door to the same rules as the API: which leads
a user sees and changes comes from crm.access.policy (an invisible lead is a 404 page, a visible one the user may not change
a 403), the list from crm.leads.filters, and sign-in from crm.access.sign_in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Response, Template
from sqlalchemy import func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access.policy import lead_scope_of, lead_writable, readable_lead, require_lead_write
from crm.access.sign_in import sign_in
from crm.db import roll_back
from crm.errors import NotAuthenticated, NotFound, RateLimited, WarmlineError
from crm.http.deps import AppSettings, DbSession, Queue, web_link
from crm.leads.filters import LeadFilter
from crm.models import Contact, Lead, Mention, Message, PlatformAccount, Stage, User, Watch, utcnow
from crm.pipeline import default_pipeline, move_lead, stages_of, transition_allowed

CARDS_PER_COLUMN = 50


@dataclass(frozen=True)
class Card:
    id: int
    display_name: str
    handle: str | None
    platform: str | None
    score: float | None
    reasons: list[str]
    model_version: str | None
    excerpt: str
    due: str | None
    overdue: bool
    do_not_contact: bool = False

    @property
    def score_label(self) -> str:
        return "-" if self.score is None else f"{self.score:.0f}"

    @property
    def band(self) -> str:
        if self.score is None:
            return "none"
        return "hot" if self.score >= 70 else "warm" if self.score >= 40 else "cool"


def _excerpt(text: str | None, limit: int = 140) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1].rsplit(" ", 1)[0] + "…"


def _card(lead: Lead, contact: Contact | None, account: PlatformAccount | None, mention: Mention | None) -> Card:
    assert lead.id is not None
    due: datetime | None = lead.response_due_at
    return Card(
        id=lead.id,
        display_name=(contact.display_name if contact else "") or (account.handle if account else f"Lead {lead.id}"),
        handle=account.handle if account else None,
        platform=lead.platform,
        score=lead.score,
        reasons=list(lead.score_reasons or []),
        model_version=lead.model_version,
        excerpt=_excerpt(mention.text if mention else ""),
        due=f"{due:%Y-%m-%d %H:%M} UTC" if due else None,
        overdue=bool(due and due < utcnow()),
        do_not_contact=bool(contact and contact.do_not_contact),
    )


def _lead_rows() -> Any:
    return (
        select(Lead, Contact, PlatformAccount, Mention)
        .join(Contact, col(Contact.id) == col(Lead.contact_id))
        .outerjoin(Mention, col(Mention.id) == col(Lead.first_mention_id))
        .outerjoin(PlatformAccount, col(PlatformAccount.id) == col(Mention.account_id))
        .where(col(Lead.deleted_at).is_(None))
    )


async def signed_in_user(request: Request[Any, Any, Any], session: AsyncSession) -> User | None:
    data = request.scope.get("session")
    user_id = data.get("user_id") if isinstance(data, dict) else None
    if not user_id:
        return None
    user = await session.get(User, int(user_id))
    return user if user is not None and user.is_active else None


def must_sign_in(request: Request[Any, Any, Any]) -> Redirect | Response[str]:
    """Off to the sign-in form: a redirect for a page, an HX-Redirect for an htmx call (the browser's XHR would
    follow a plain redirect itself and swap the sign-in form into the panel)."""
    if request.headers.get("hx-request"):
        return Response("", status_code=401, headers={"HX-Redirect": "/login"}, media_type="text/html")
    return Redirect("/login")


def missing_lead() -> Template:
    return Template(template_name="board/_missing.html.j2", status_code=404)


async def lead_card(session: AsyncSession, lead: Lead) -> Card:
    row = (await session.exec(_lead_rows().where(col(Lead.id) == lead.id))).first()
    return _card(*row) if row else _card(lead, None, None, None)


async def lead_panel(
    session: AsyncSession,
    lead: Lead,
    user: User,
    *,
    error: str | None = None,
    refresh_card: bool = False,
    status_code: int = 200,
) -> Template:
    """The detail panel for one lead: reasons, the post, the conversation and, when the user may change the lead
    (crm.access.policy), the allowed next stages and outreach actions."""
    card = await lead_card(session, lead)
    mention = await session.get(Mention, lead.first_mention_id) if lead.first_mention_id else None
    messages = (
        await session.exec(
            select(Message).where(Message.lead_id == lead.id).order_by(col(Message.created_at), col(Message.id))
        )
    ).all()
    stages = await stages_of(session, lead.pipeline_id)
    contact = await session.get(Contact, lead.contact_id)
    blocked = "Do not contact: this person opted out." if contact and contact.do_not_contact else None
    has_open_draft = any(m.direction == "outbound" and m.status in ("draft", "approved") for m in messages)
    writable = lead_writable(user, lead)
    return Template(
        template_name="board/_lead.html.j2",
        context={
            "lead": lead,
            "card": card,
            "mention": mention,
            "post_url": web_link(mention.url) if mention else None,
            "messages": messages,
            "writable": writable,
            "moves": [s for s in stages if transition_allowed(stages, lead.stage, s.key)] if writable else [],
            "can_draft": writable and not blocked and not has_open_draft and lead.stage in ("new", "qualified"),
            "blocked": blocked,
            "error": error,
        },
        status_code=status_code,
        # The board re-fetches itself on this event, so a moved card lands in its new column.
        headers={"HX-Trigger": "board-changed"} if refresh_card else None,
    )


async def refused(session: AsyncSession, lead: Lead, user: User, error: WarmlineError) -> Template:
    """The panel again, with the reason, under the status the API gives for the same refusal. Whatever the action
    changed before it was refused is undone, as the API's transaction would be, and the refusal's own record kept."""
    await roll_back(session, error)
    await session.refresh(lead)
    await session.refresh(user)
    return await lead_panel(session, lead, user, error=error.detail, status_code=error.status)


async def _hidden_below(
    session: AsyncSession, filters: LeadFilter, pipeline_id: int, threshold: float
) -> tuple[int, int]:
    """How many of the leads the filters allow score below the threshold, and how many of them are not scored yet."""
    score = col(Lead.score)
    query = filters.apply(
        select(func.count(), func.count(score))
        .select_from(Lead)
        .where(
            col(Lead.deleted_at).is_(None),
            col(Lead.pipeline_id) == pipeline_id,
            or_(score.is_(None), score < threshold),
        )
    )
    total, scored = (await session.exec(query)).one()
    return int(total), int(total) - int(scored)


def _board_url(watch_id: int | None, show_all: bool) -> str:
    query = urlencode({k: v for k, v in (("watch_id", watch_id), ("all", 1 if show_all else None)) if v is not None})
    return f"/board?{query}" if query else "/board"


class BoardController(Controller):
    include_in_schema = False

    @get("/")
    async def home(self) -> Redirect:
        return Redirect("/board")

    @get("/login")
    async def login_page(self, request: Request[Any, Any, Any]) -> Template:
        return Template(template_name="login.html.j2", context={"user": None})

    @post("/login", status_code=303)
    async def login(
        self,
        request: Request[Any, Any, Any],
        session: DbSession,
        queue: Queue,
        settings: AppSettings,
        data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Redirect | Template:
        email = (data.get("email") or "").strip().lower()
        try:
            await sign_in(request, session, queue, settings, email, data.get("password") or "")
        except (NotAuthenticated, RateLimited) as exc:
            throttled = isinstance(exc, RateLimited)
            return Template(
                template_name="login.html.j2",
                context={
                    "user": None,
                    "email": email,
                    "error": "Too many failed sign-ins for this email; try again later."
                    if throttled
                    else "Wrong email or password.",
                },
                status_code=exc.status,
                headers=exc.headers,
            )
        return Redirect("/board", status_code=303)

    @post("/logout", status_code=303)
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        request.clear_session()
        return Redirect("/login", status_code=303)

    @get("/board")
    async def board(
        self,
        request: Request[Any, Any, Any],
        session: DbSession,
        settings: AppSettings,
        watch_id: FromQuery[int | None] = None,
        show_all: Annotated[bool, QueryParameter(name="all", required=False)] = False,
    ) -> Template | Redirect | Response[str]:
        user = await signed_in_user(request, session)
        if user is None:
            return must_sign_in(request)
        pipeline = await default_pipeline(session)
        assert pipeline.id is not None
        threshold = float(settings.lead_score_threshold)
        # The same scope and filters as GET /api/v1/leads (?watch_id=, ?score_min=): the board shows what the API
        # lists for this user. Unscored leads count as below the threshold, as they do for ?score_min.
        picked = frozenset({watch_id}) if watch_id is not None else frozenset()
        scope = LeadFilter(scope=lead_scope_of(user), watch_ids=picked)
        filters = scope if show_all else LeadFilter(scope=scope.scope, watch_ids=picked, score_min=threshold)
        stages: list[Stage] = await stages_of(session, pipeline.id)
        columns = []
        total = overdue = 0
        for stage in stages:
            query = filters.apply(_lead_rows().where(Lead.stage == stage.key, Lead.pipeline_id == pipeline.id))
            query = query.order_by(col(Lead.score).desc().nulls_last(), col(Lead.id).desc())
            cards = [_card(*row) for row in (await session.exec(query.limit(CARDS_PER_COLUMN))).all()]
            total += len(cards)
            overdue += sum(card.overdue for card in cards)
            columns.append({"key": stage.key, "name": stage.name, "cards": cards})
        hidden, unscored = await _hidden_below(session, scope, pipeline.id, threshold)
        watches = (
            await session.exec(select(Watch).where(col(Watch.deleted_at).is_(None)).order_by(col(Watch.name)))
        ).all()
        return Template(
            template_name="board/index.html.j2",
            context={
                "user": user,
                "columns": columns,
                "watches": watches,
                "watch_id": watch_id,
                "total": total,
                "overdue": overdue,
                "show_all": show_all,
                "threshold": settings.lead_score_threshold,
                "hidden": hidden,
                "unscored": unscored,
                "toggle_url": _board_url(watch_id, not show_all),
            },
        )

    @get("/board/leads/{lead_id:int}")
    async def lead_detail(
        self, request: Request[Any, Any, Any], session: DbSession, lead_id: FromPath[int]
    ) -> Template | Redirect | Response[str]:
        user = await signed_in_user(request, session)
        if user is None:
            return must_sign_in(request)
        try:
            lead = await readable_lead(session, user, lead_id)
        except NotFound:
            return missing_lead()
        return await lead_panel(session, lead, user)

    @post("/board/leads/{lead_id:int}/stage", status_code=200)
    async def move(
        self,
        request: Request[Any, Any, Any],
        session: DbSession,
        lead_id: FromPath[int],
        data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
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
            await move_lead(
                session,
                lead,
                data.get("to_stage", ""),
                actor=user.email,
                actor_user_id=user.id,
                reason="moved on the board",
            )
        except WarmlineError as exc:
            return await refused(session, lead, user, exc)
        return await lead_panel(session, lead, user, refresh_card=True)
