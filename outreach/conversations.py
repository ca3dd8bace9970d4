"""Conversation state: a lead's conversation per channel and the message records in it (drafted, sent, received).

Only rows change here. What a message sets off elsewhere lives beside it: the lead's stage in
`outreach.stage_moves`, the answer deadline in `outreach.response_clock`, the send policy in
`outreach.send_policy`.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.models import Channel, Conversation, Direction, Lead, Message, MessageStatus, User

# Outbound messages that have not gone out: a rep may still mark them sent, and an opt-out blocks them.
UNSENT = (MessageStatus.DRAFT.value, MessageStatus.APPROVED.value, MessageStatus.NEEDS_REVIEW.value)


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


async def add_draft(
    session: AsyncSession, conversation: Conversation, body: str, *, template: str, author: User
) -> Message:
    """A new outbound draft in the conversation, written by `author` from `template`."""
    assert conversation.id is not None
    message = Message(
        conversation_id=conversation.id,
        lead_id=conversation.lead_id,
        direction=Direction.OUTBOUND.value,
        platform=conversation.platform,
        status=MessageStatus.DRAFT.value,
        body=body,
        template=template,
        author_user_id=author.id,
    )
    session.add(message)
    await session.flush()
    return message


def set_sent(session: AsyncSession, message: Message, at: datetime, external_id: str | None = None) -> None:
    """The message went out at `at`; `external_id` is the platform's id for it when someone knows it."""
    message.status, message.sent_at, message.updated_at = MessageStatus.SENT.value, at, at
    if external_id:
        message.external_id = external_id
    session.add(message)


async def find_by_external_id(session: AsyncSession, platform: str, external_id: str) -> Message | None:
    """A message already stored under the platform's id: replies arrive again when a platform or a rep repeats them."""
    return (
        await session.exec(select(Message).where(Message.platform == platform, Message.external_id == external_id))
    ).first()


async def add_received(
    session: AsyncSession,
    conversation: Conversation,
    body: str,
    *,
    at: datetime,
    classification: str,
    external_id: str | None = None,
) -> Message:
    """An inbound message from the person, stored with how it was classified."""
    assert conversation.id is not None
    message = Message(
        conversation_id=conversation.id,
        lead_id=conversation.lead_id,
        direction=Direction.INBOUND.value,
        platform=conversation.platform,
        status=MessageStatus.RECEIVED.value,
        body=body,
        external_id=external_id,
        received_at=at,
    )
    message.classification = classification
    session.add(message)
    await session.flush()
    return message


async def has_reply(session: AsyncSession, lead: Lead) -> bool:
    """Whether the person has written to us at all on this lead."""
    found = await session.exec(
        select(Message.id).where(Message.lead_id == lead.id, Message.direction == Direction.INBOUND.value).limit(1)
    )
    return found.first() is not None


async def block_unsent(session: AsyncSession, contact_id: int, reason: str, at: datetime) -> None:
    """Every outbound message to this person that has not gone out yet, in any conversation, is blocked."""
    pending = await session.exec(
        select(Message)
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(
            Conversation.contact_id == contact_id,
            Message.direction == Direction.OUTBOUND.value,
            col(Message.status).in_(UNSENT),
        )
    )
    for draft in pending:
        draft.status, draft.error, draft.updated_at = MessageStatus.BLOCKED.value, reason, at
        session.add(draft)
