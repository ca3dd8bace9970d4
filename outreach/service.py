"""Drafts, sends and replies: the message record for each conversation, the stage moves they cause and the
response clock (a reply starts it, our answer stops it, an opt-out ends the conversation)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access import audit
from crm.errors import Conflict
from crm.http.etags import touch
from crm.integrations.outbox import emit
from crm.models import (
    Channel,
    ConsentRecord,
    Contact,
    Conversation,
    Direction,
    Lead,
    Mention,
    Message,
    MessageStatus,
    PlatformAccount,
    User,
    utcnow,
)
from crm.pipeline import closing_stage, move_lead, stages_of
from crm.settings import Settings
from outreach.drafting import DraftContext, render_first_dm
from outreach.replies import ReplyKind, classify_reply
from outreach.send_policy import ensure_may_send


async def find_conversation(session: AsyncSession, lead: Lead, channel: str = Channel.DM.value) -> Conversation | None:
    return (
        await session.exec(select(Conversation).where(Conversation.lead_id == lead.id, Conversation.channel == channel))
    ).first()


async def conversation_for(
    session: AsyncSession, lead: Lead, channel: str = Channel.DM.value, found: Conversation | None = None
) -> Conversation:
    """The lead's conversation on this channel, started if there is none yet (`found` skips the lookup)."""
    assert lead.id is not None
    found = found or await find_conversation(session, lead, channel)
    if found is not None:
        return found
    conversation = Conversation(
        lead_id=lead.id, contact_id=lead.contact_id, platform=lead.platform or "file", channel=channel
    )
    session.add(conversation)
    await session.flush()
    return conversation


async def create_draft(
    session: AsyncSession, settings: Settings, lead: Lead, author: User, template: str | None = None
) -> Message:
    """A first-DM draft personalised from the lead's mention.

    The send policy is checked here, before the rep copies the text out to send it (and again when it is marked
    sent): do-not-contact, erased and suppressed people, the recipient cooldown and the rep's daily cap all refuse
    the draft with the rule that applied.
    """
    existing = await find_conversation(session, lead)
    contact = await ensure_may_send(
        session, settings, lead, author, conversation_id=existing.id if existing else None, sending=False
    )
    mention = await session.get(Mention, lead.first_mention_id) if lead.first_mention_id else None
    accounts = list(await session.exec(select(PlatformAccount).where(PlatformAccount.contact_id == contact.id)))
    accounts.sort(key=lambda a: (a.platform != lead.platform, a.id or 0))  # the lead's own platform first
    body = await render_first_dm(
        DraftContext(
            name=contact.display_name,
            platform=lead.platform or "file",
            mention_text=mention.text if mention else "",
            competitor=mention.matched_competitors[0] if mention and mention.matched_competitors else None,
            product=settings.product_name,
            company=settings.company_name,
            handles=tuple(a.handle for a in accounts),
            other_names=tuple(a.display_name for a in accounts if a.display_name),
        ),
        template,
    )
    conversation = await conversation_for(session, lead, found=existing)
    assert conversation.id is not None and lead.id is not None
    message = Message(
        conversation_id=conversation.id,
        lead_id=lead.id,
        direction=Direction.OUTBOUND.value,
        platform=conversation.platform,
        status=MessageStatus.DRAFT.value,
        body=body,
        template="first_dm" if template is None else "custom",
        author_user_id=author.id,
    )
    session.add(message)
    await session.flush()
    return message


async def mark_sent(
    session: AsyncSession, settings: Settings, message: Message, user: User, external_id: str | None = None
) -> Message:
    """A rep sent the draft by hand: record it, stop the response clock if it answers a reply, and move a new lead
    to Contacted. The send policy is asked again: the person may have opted out, been erased or been messaged from
    another campaign since the draft, and the rep's cap counts what went out today."""
    if message.direction != Direction.OUTBOUND.value:
        raise Conflict("only outbound messages can be marked sent")
    if message.status == MessageStatus.SENT.value:
        return message  # marking twice is harmless
    if message.status not in (
        MessageStatus.DRAFT.value,
        MessageStatus.APPROVED.value,
        MessageStatus.NEEDS_REVIEW.value,
    ):
        raise Conflict(f"a {message.status} message cannot be marked sent")
    lead = await session.get(Lead, message.lead_id)
    assert lead is not None
    await ensure_may_send(session, settings, lead, user, conversation_id=message.conversation_id, sending=True)
    now = utcnow()
    message.status, message.sent_at, message.updated_at = MessageStatus.SENT.value, now, now
    if external_id:
        message.external_id = external_id
    session.add(message)
    if lead.response_due_at is not None and await _has_reply(session, lead):
        lead.response_due_at = None  # we answered: the clock the reply started stops
    lead.last_activity_at = now
    touch(lead)
    session.add(lead)
    if lead.stage == "new":
        await move_lead(
            session, lead, "contacted", actor=user.email, actor_user_id=user.id, reason=f"message {message.id} sent"
        )
    audit.record(
        session, "message.sent", actor=user.email, actor_user_id=user.id, object_type="message", object_id=message.id
    )
    emit(session, "message.sent", {"message_id": message.id, "lead_id": lead.id, "channel": message.channel})
    await session.flush()
    return message


async def record_reply(
    session: AsyncSession,
    lead: Lead,
    body: str,
    *,
    external_id: str | None = None,
    actor: str = "system",
    response_window: timedelta = timedelta(hours=24),
) -> tuple[Message, bool]:
    """Store an inbound reply once (by external id): a contacted lead moves to Replied with an answer deadline, a
    later reply restarts a stopped clock, and an opt-out ends the conversation (`end_conversation`)."""
    conversation = await conversation_for(session, lead)
    if external_id:
        existing = (
            await session.exec(
                select(Message).where(Message.platform == conversation.platform, Message.external_id == external_id)
            )
        ).first()
        if existing is not None:
            return existing, False
    assert conversation.id is not None and lead.id is not None
    now = utcnow()
    message = Message(
        conversation_id=conversation.id,
        lead_id=lead.id,
        direction=Direction.INBOUND.value,
        platform=conversation.platform,
        status=MessageStatus.RECEIVED.value,
        body=body,
        external_id=external_id,
        received_at=now,
    )
    message.classification = classify_reply(body).value
    session.add(message)
    await session.flush()
    if message.classification == ReplyKind.OPT_OUT.value:
        await honour_opt_out(session, lead, message, actor)
        await end_conversation(session, lead, actor, reason=f"opted out (reply {message.id})")
    elif lead.stage == "contacted":
        # The reply starts the clock on our answer: sales DMs within a day by default.
        await move_lead(session, lead, "replied", actor=actor, reason="reply received", response_window=response_window)
    else:
        await _restart_clock(session, lead, now + response_window)
        lead.last_activity_at = now
        session.add(lead)
    await session.flush()
    emit(session, "message.replied", {"message_id": message.id, "lead_id": lead.id, "channel": message.channel})
    return message, True


async def _has_reply(session: AsyncSession, lead: Lead) -> bool:
    found = await session.exec(
        select(Message.id).where(Message.lead_id == lead.id, Message.direction == Direction.INBOUND.value).limit(1)
    )
    return found.first() is not None


async def _restart_clock(session: AsyncSession, lead: Lead, due: datetime) -> None:
    """A new reply in an open stage after we had answered: the answer is owed again (an earlier deadline stands)."""
    if lead.response_due_at is not None:
        return
    stages = {s.key: s for s in await stages_of(session, lead.pipeline_id)}
    if lead.stage in stages and stages[lead.stage].kind == "open":
        lead.response_due_at = due
        touch(lead)


async def end_conversation(session: AsyncSession, lead: Lead, actor: str, *, reason: str) -> None:
    """An opt-out ends it: no answer is owed. The lead closes as lost when its pipeline allows that from here;
    otherwise (already closed, or no lost stage) it keeps its stage and only the deadline goes."""
    target = closing_stage(await stages_of(session, lead.pipeline_id), lead.stage)
    if target is not None:
        await move_lead(session, lead, target.key, actor=actor, reason=reason)  # a move without a window clears it
    else:
        lead.response_due_at, lead.last_activity_at = None, utcnow()
        touch(lead)
        session.add(lead)


async def honour_opt_out(session: AsyncSession, lead: Lead, reply: Message, actor: str) -> None:
    """The person asked us to stop: do-not-contact on every channel, consent withdrawn, pending drafts blocked."""
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
    pending = await session.exec(
        select(Message)
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(
            Conversation.contact_id == contact.id,
            Message.direction == Direction.OUTBOUND.value,
            col(Message.status).in_(
                (MessageStatus.DRAFT.value, MessageStatus.APPROVED.value, MessageStatus.NEEDS_REVIEW.value)
            ),
        )
    )
    for draft in pending:
        draft.status, draft.error, draft.updated_at = MessageStatus.BLOCKED.value, "the person opted out", now
        session.add(draft)
    await session.flush()
    audit.record(
        session,
        "contact.opted_out",
        actor=actor,
        object_type="contact",
        object_id=contact.id,
        detail={"lead_id": lead.id, "message_id": reply.id},
    )
