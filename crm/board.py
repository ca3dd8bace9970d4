"""The web lead board: sign-in, a kanban of leads by stage (best score first) and a lead's detail panel.

Server-rendered Jinja with htmx partials; outreach actions on the panel live in outreach/board.py and
re-render the panel through `lead_panel` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm import audit
from crm.auth import verify_password
from crm.errors import WarmlineError
from crm.models import Contact, Lead, Mention, Message, PlatformAccount, Stage, User, Watch, utcnow
from crm.pipeline import default_pipeline, move_lead, stages_of, transition_allowed
from crm.web import DbSession

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


def _must_sign_in(request: Request[Any, Any, Any]) -> Redirect:
    redirect = Redirect("/login")
    if request.headers.get("hx-request"):
        redirect.headers["HX-Redirect"] = "/login"
    return redirect


async def lead_card(session: AsyncSession, lead: Lead) -> Card:
    row = (await session.exec(_lead_rows().where(col(Lead.id) == lead.id))).first()
    return _card(*row) if row else _card(lead, None, None, None)


async def lead_panel(
    session: AsyncSession, lead: Lead, user: User, *, error: str | None = None, refresh_card: bool = False
) -> Template:
    """The detail panel for one lead: reasons, the post, the conversation and the allowed next stages."""
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
    writable = user.role != "read_only"
    return Template(
        template_name="board/_lead.html.j2",
        context={
            "lead": lead,
            "card": card,
            "mention": mention,
            "messages": messages,
            "moves": [s for s in stages if transition_allowed(stages, lead.stage, s.key)] if writable else [],
            "can_draft": writable and not blocked and not has_open_draft and lead.stage in ("new", "qualified"),
            "blocked": blocked,
            "error": error,
        },
        # The board re-fetches itself on this event, so a moved card lands in its new column.
        headers={"HX-Trigger": "board-changed"} if refresh_card else None,
    )


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
        data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Redirect | Template:
        email = (data.get("email") or "").strip().lower()
        user = (await session.exec(select(User).where(User.email == email))).first()
        if user is None or not user.is_active or not verify_password(user.password_hash, data.get("password") or ""):
            audit.record(session, "auth.sign_in_failed", actor=email or "unknown", object_type="user")
            return Template(
                template_name="login.html.j2",
                context={"user": None, "error": "Wrong email or password.", "email": email},
                status_code=401,
            )
        request.set_session({"user_id": user.id})
        audit.record(
            session, "auth.signed_in", actor=user.email, actor_user_id=user.id, object_type="user", object_id=user.id
        )
        return Redirect("/board", status_code=303)

    @post("/logout", status_code=303)
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        request.clear_session()
        return Redirect("/login", status_code=303)

    @get("/board")
    async def board(
        self, request: Request[Any, Any, Any], session: DbSession, watch_id: FromQuery[int | None] = None
    ) -> Template | Redirect:
        user = await signed_in_user(request, session)
        if user is None:
            return _must_sign_in(request)
        pipeline = await default_pipeline(session)
        assert pipeline.id is not None
        stages: list[Stage] = await stages_of(session, pipeline.id)
        columns = []
        total = overdue = 0
        for stage in stages:
            query = _lead_rows().where(Lead.stage == stage.key, Lead.pipeline_id == pipeline.id)
            if watch_id is not None:
                query = query.where(Lead.watch_id == watch_id)
            query = query.order_by(col(Lead.score).desc().nulls_last(), col(Lead.id).desc())
            cards = [_card(*row) for row in (await session.exec(query.limit(CARDS_PER_COLUMN))).all()]
            total += len(cards)
            overdue += sum(card.overdue for card in cards)
            columns.append({"key": stage.key, "name": stage.name, "cards": cards})
        watches = (await session.exec(select(Watch).order_by(col(Watch.name)))).all()
        return Template(
            template_name="board/index.html.j2",
            context={
                "user": user,
                "columns": columns,
                "watches": watches,
                "watch_id": watch_id,
                "total": total,
                "overdue": overdue,
            },
        )

    @get("/board/leads/{lead_id:int}")
    async def lead_detail(
        self, request: Request[Any, Any, Any], session: DbSession, lead_id: FromPath[int]
    ) -> Template | Redirect:
        user = await signed_in_user(request, session)
        if user is None:
            return _must_sign_in(request)
        lead = await session.get(Lead, lead_id)
        if lead is None or lead.deleted_at is not None:
            return Template(template_name="board/_missing.html.j2", status_code=404)
        return await lead_panel(session, lead, user)

    @post("/board/leads/{lead_id:int}/stage", status_code=200)
    async def move(
        self,
        request: Request[Any, Any, Any],
        session: DbSession,
        lead_id: FromPath[int],
        data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        user = await signed_in_user(request, session)
        if user is None:
            return _must_sign_in(request)
        lead = await session.get(Lead, lead_id)
        if lead is None or lead.deleted_at is not None:
            return Template(template_name="board/_missing.html.j2", status_code=404)
        if user.role == "read_only":
            return await lead_panel(session, lead, user, error="Read-only users cannot move leads.")
        try:
            await move_lead(
                session,
                lead,
                data.get("to_stage", ""),
                actor=user.email,
                actor_user_id=user.id,
                reason="moved on the board",
            )
        except WarmlineError as exc:
            return await lead_panel(session, lead, user, error=exc.detail)
        return await lead_panel(session, lead, user, refresh_card=True)
