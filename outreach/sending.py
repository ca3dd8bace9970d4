"""What follows once a message has gone out, on any channel: the record, the clock, the stage, the audit and the
`message.sent` event.

A channel (`outreach.channels`) decides how the text leaves and asks `outreach.send_policy` first; then it calls
`record_sent` with what it learnt, so every channel changes the same things in the same order.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access import audit
from crm.http.etags import touch
from crm.integrations.outbox import emit
from crm.models import Lead, Message, User, utcnow
from outreach import response_clock, stage_moves
from outreach.conversations import set_sent


async def record_sent(
    session: AsyncSession, message: Message, lead: Lead, user: User, external_id: str | None = None
) -> Message:
    """Record the send: stop the response clock if it answers a reply, and move a new lead to Contacted."""
    now = utcnow()
    set_sent(session, message, now, external_id)
    await response_clock.stop_on_answer(session, lead)
    lead.last_activity_at = now
    touch(lead)
    session.add(lead)
    await stage_moves.after_sent(session, lead, message, user)
    audit.record(
        session, "message.sent", actor=user.email, actor_user_id=user.id, object_type="message", object_id=message.id
    )
    emit(session, "message.sent", {"message_id": message.id, "lead_id": lead.id, "channel": message.channel})
    await session.flush()
    return message
