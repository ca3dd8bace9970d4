"""The response clock: `Lead.response_due_at`, the time by which the person's message is owed an answer.

A reply starts it (the move to Replied carries the window, see `outreach.stage_moves`; a later reply restarts a
stopped clock here), our answer stops it, and the end of a conversation clears it.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from crm.http.etags import touch
from crm.models import Lead
from crm.pipeline import stages_of
from outreach.conversations import has_reply


async def stop_on_answer(session: AsyncSession, lead: Lead) -> None:
    """We sent something after they wrote: the clock their reply started stops (the caller saves the lead)."""
    if lead.response_due_at is not None and await has_reply(session, lead):
        lead.response_due_at = None


async def restart_on_reply(session: AsyncSession, lead: Lead, due: datetime) -> None:
    """A new reply in an open stage after we had answered: the answer is owed again (an earlier deadline stands)."""
    if lead.response_due_at is not None:
        return
    stages = {s.key: s for s in await stages_of(session, lead.pipeline_id)}
    if lead.stage in stages and stages[lead.stage].kind == "open":
        lead.response_due_at = due
        touch(lead)


def clear(session: AsyncSession, lead: Lead, at: datetime) -> None:
    """No answer is owed any more, whatever the stage (a conversation that ended without a stage move)."""
    lead.response_due_at, lead.last_activity_at = None, at
    touch(lead)
    session.add(lead)
