"""Taking in a reply: store it once, classify it, and set off what it means for the lead.

A contacted lead moves to Replied with an answer deadline; a later reply restarts a stopped clock; an opt-out is
honoured on every channel and ends the conversation. The `message.replied` event goes out after the record.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from crm.integrations.outbox import emit
from crm.models import Lead, Message, utcnow
from outreach import response_clock, stage_moves
from outreach.conversations import add_received, conversation_for, find_by_external_id
from outreach.replies.classify import ReplyKind, classify_reply
from outreach.replies.opt_out import honour_opt_out


async def record_reply(
    session: AsyncSession,
    lead: Lead,
    body: str,
    *,
    external_id: str | None = None,
    actor: str = "system",
    response_window: timedelta = timedelta(hours=24),
) -> tuple[Message, bool]:
    """Store an inbound reply once (by external id): the message and whether it was new."""
    conversation = await conversation_for(session, lead)
    if external_id:
        existing = await find_by_external_id(session, conversation.platform, external_id)
        if existing is not None:
            return existing, False
    now = utcnow()
    message = await add_received(
        session, conversation, body, at=now, classification=classify_reply(body).value, external_id=external_id
    )
    if message.classification == ReplyKind.OPT_OUT.value:
        await honour_opt_out(session, lead, message, actor)
        await stage_moves.end_conversation(session, lead, actor, reason=f"opted out (reply {message.id})")
    elif not await stage_moves.after_reply(session, lead, actor, response_window):
        await response_clock.restart_on_reply(session, lead, now + response_window)
        lead.last_activity_at = now
        session.add(lead)
    await session.flush()
    emit(session, "message.replied", {"message_id": message.id, "lead_id": lead.id, "channel": message.channel})
    return message, True
