"""The stage moves messages cause, each through `crm.pipeline.move_lead` (the only writer of a lead's stage).

A first message out moves a new lead to Contacted; their reply moves a contacted lead to Replied with an answer
deadline; an opt-out closes the lead as lost where its pipeline allows that.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from crm.models import Lead, Message, User, utcnow
from crm.pipeline import closing_stage, move_lead, stages_of
from outreach import response_clock


async def after_sent(session: AsyncSession, lead: Lead, message: Message, user: User) -> None:
    """Our first message to a new lead: it is now Contacted."""
    if lead.stage == "new":
        await move_lead(
            session, lead, "contacted", actor=user.email, actor_user_id=user.id, reason=f"message {message.id} sent"
        )


async def after_reply(session: AsyncSession, lead: Lead, actor: str, response_window: timedelta) -> bool:
    """Their first answer to a contacted lead moves it to Replied, and the move starts the clock on our answer
    (`response_window`, sales DMs within a day by default). False when the lead was not in Contacted."""
    if lead.stage != "contacted":
        return False
    await move_lead(session, lead, "replied", actor=actor, reason="reply received", response_window=response_window)
    return True


async def end_conversation(session: AsyncSession, lead: Lead, actor: str, *, reason: str) -> None:
    """An opt-out ends it: no answer is owed. The lead closes as lost when its pipeline allows that from here;
    otherwise (already closed, or no lost stage) it keeps its stage and only the deadline goes."""
    target = closing_stage(await stages_of(session, lead.pipeline_id), lead.stage)
    if target is not None:
        await move_lead(session, lead, target.key, actor=actor, reason=reason)  # a move without a window clears it
    else:
        response_clock.clear(session, lead, utcnow())
