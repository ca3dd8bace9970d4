"""REST API for leads (`/api/v1/leads`): list ordered by score with keyset cursors, read one, move its stage."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sqlalchemy import and_, or_
from sqlmodel import col, select

from crm.errors import InvalidInput, NotFound
from crm.models import Contact, Lead, Mention, PlatformAccount, StageChange
from crm.pipeline import move_lead
from crm.schemas import LeadPage, LeadPublic, StageChangePublic, StageMove
from crm.web import CurrentUser, DbSession


def encode_cursor(values: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not one this API issued") from exc
    if not isinstance(value, dict):
        raise InvalidInput("cursor is not one this API issued")
    return value


async def lead_public(session: DbSession, lead: Lead) -> LeadPublic:
    contact = await session.get(Contact, lead.contact_id)
    mention = await session.get(Mention, lead.first_mention_id) if lead.first_mention_id else None
    account = await session.get(PlatformAccount, mention.account_id) if mention and mention.account_id else None
    return LeadPublic.model_validate(
        lead,
        update={
            "display_name": contact.display_name if contact else "",
            "handle": account.handle if account else None,
            "first_mention_text": mention.text if mention else None,
            "first_mention_url": mention.url if mention else None,
        },
    )


async def get_lead_or_404(session: DbSession, lead_id: FromPath[int]) -> Lead:
    lead = await session.get(Lead, lead_id)
    if lead is None or lead.deleted_at is not None:
        raise NotFound(f"lead {lead_id} does not exist")
    return lead


class LeadController(Controller):
    path = "/api/v1/leads"
    tags = ["leads"]

    @get("/", summary="List leads, best score first")
    async def list_leads(
        self,
        session: DbSession,
        user: CurrentUser,
        stage: FromQuery[str | None] = None,
        watch_id: FromQuery[int | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        cursor: FromQuery[str | None] = None,
    ) -> LeadPage:
        # Keyset on (score desc nulls last, id desc): stable under inserts and never a deep OFFSET.
        score, lead_id = col(Lead.score), col(Lead.id)
        no_score = score.is_(None)
        query = select(Lead).where(col(Lead.deleted_at).is_(None))
        if stage:
            query = query.where(Lead.stage == stage)
        if watch_id is not None:
            query = query.where(Lead.watch_id == watch_id)
        if cursor:
            after = decode_cursor(cursor)
            last_id, last_score = int(after.get("id", 0)), after.get("score")
            if last_score is None:
                query = query.where(and_(no_score, lead_id < last_id))
            else:
                query = query.where(or_(score < last_score, no_score, and_(score == last_score, lead_id < last_id)))
        query = query.order_by(no_score, score.desc(), lead_id.desc()).limit(limit + 1)
        leads = list(await session.exec(query))
        next_cursor = None
        if len(leads) > limit:
            leads = leads[:limit]
            next_cursor = encode_cursor({"id": leads[-1].id, "score": leads[-1].score})
        return LeadPage(items=[await lead_public(session, lead) for lead in leads], next_cursor=next_cursor)

    @get("/{lead_id:int}", summary="One lead")
    async def get_lead(self, session: DbSession, user: CurrentUser, lead_id: FromPath[int]) -> LeadPublic:
        return await lead_public(session, await get_lead_or_404(session, lead_id))

    @post("/{lead_id:int}/stage", summary="Move a lead to another stage", status_code=200)
    async def change_stage(
        self, session: DbSession, user: CurrentUser, lead_id: FromPath[int], data: JSONBody[StageMove]
    ) -> LeadPublic:
        lead = await get_lead_or_404(session, lead_id)
        await move_lead(session, lead, data.to_stage, actor=user.email, actor_user_id=user.id, reason=data.reason)
        return await lead_public(session, lead)

    @get("/{lead_id:int}/stage-changes", summary="A lead's stage history")
    async def stage_changes(
        self, session: DbSession, user: CurrentUser, lead_id: FromPath[int]
    ) -> list[StageChangePublic]:
        await get_lead_or_404(session, lead_id)
        rows = await session.exec(
            select(StageChange).where(StageChange.lead_id == lead_id).order_by(col(StageChange.at), col(StageChange.id))
        )
        return [StageChangePublic.model_validate(r) for r in rows]
