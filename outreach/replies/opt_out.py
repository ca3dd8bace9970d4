"""Honouring an opt-out: the person asked us to stop, so nothing more reaches them on any channel."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access import audit
from crm.http.etags import touch
from crm.models import ConsentRecord, Contact, Lead, Message, utcnow
from outreach.conversations import block_unsent


async def honour_opt_out(session: AsyncSession, lead: Lead, reply: Message, actor: str) -> None:
    """Do-not-contact on every channel, consent withdrawn, pending drafts blocked, and the opt-out audited."""
    contact = await session.get(Contact, lead.contact_id)
    if contact is None:
        return
    now = utcnow()
    if not contact.do_not_contact:
        contact.do_not_contact = True
        contact.consent_basis, contact.consent_at = None, None
        touch(contact)
        session.add(contact)
    consents = await session.exec(
        select(ConsentRecord).where(ConsentRecord.contact_id == contact.id, col(ConsentRecord.withdrawn_at).is_(None))
    )
    for record in consents:
        record.withdrawn_at = now
        session.add(record)
    assert contact.id is not None
    await block_unsent(session, contact.id, "the person opted out", now)
    await session.flush()
    audit.record(
        session,
        "contact.opted_out",
        actor=actor,
        object_type="contact",
        object_id=contact.id,
        detail={"lead_id": lead.id, "message_id": reply.id},
    )
