"""How often: the recipient cooldown across watches, one unanswered cold DM per person, and the rep's daily cap.

Unsolicited DMs get accounts restricted and reported, so the limits hold whether a rep sends by hand or a connector
sends. The cap's default (25 a day) sits far below what the platforms themselves allow an account per day.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.models import Channel, Conversation, Direction, Message, MessageStatus
from outreach.policy.facts import Deny, Facts

# Drafts count against the cap too: otherwise a rep could draft a week's worth at once and send them all today.
COUNTED = (
    MessageStatus.DRAFT.value,
    MessageStatus.APPROVED.value,
    MessageStatus.NEEDS_REVIEW.value,
    MessageStatus.SENDING.value,
    MessageStatus.SENT.value,
)


async def dms_by_rep_since(session: AsyncSession, user_id: int, since: datetime, *, sent_only: bool = False) -> int:
    """Outbound DMs a rep sent or has waiting to send, dated by when they went out (or were drafted); with
    `sent_only`, only those that went out."""
    if sent_only:
        statuses: tuple[str, ...] = (MessageStatus.SENDING.value, MessageStatus.SENT.value)
        dated: Any = col(Message.sent_at)
    else:
        statuses, dated = COUNTED, sa.func.coalesce(col(Message.sent_at), col(Message.created_at))
    found = await session.exec(
        select(sa.func.count())
        .select_from(Message)
        .where(
            Message.author_user_id == user_id,
            Message.direction == Direction.OUTBOUND.value,
            Message.channel == Channel.DM.value,
            col(Message.status).in_(statuses),
            dated >= since,
        )
    )
    return int(found.one())


async def within_daily_cap(facts: Facts) -> Deny | None:
    """At most `daily_dm_cap_per_rep` DMs per rep in any 24 hours (0 turns the cap off).

    A draft or an approval counts what was sent or drafted; a send counts what actually went out, so a rep can send
    the drafts the cap let them write, but not more than the cap in a day even if it was lowered or the drafts are
    old.
    """
    cap, user, attempt = facts.settings.daily_dm_cap_per_rep, facts.attempt.author, facts.attempt
    if cap == 0 or user.id is None or attempt.channel != Channel.DM.value:
        return None
    since = attempt.now - timedelta(hours=24)
    if attempt.stage == "send":
        sent = await dms_by_rep_since(facts.session, user.id, since, sent_only=True)
        if sent >= cap:
            return Deny(
                "daily_cap",
                "CRM_DAILY_DM_CAP_PER_REP",
                f"you have sent {sent} DMs in the last 24 hours and the cap is {cap} (CRM_DAILY_DM_CAP_PER_REP)",
            )
        return None
    used = await dms_by_rep_since(facts.session, user.id, since)
    # An approval re-counts a draft that is already in `used`; it is only over the cap if others filled it since.
    over = used > cap if attempt.stage == "approve" else used >= cap
    if over:
        return Deny(
            "daily_cap",
            "CRM_DAILY_DM_CAP_PER_REP",
            f"you have {used} DMs sent or drafted in the last 24 hours and the cap is {cap} (CRM_DAILY_DM_CAP_PER_REP)",
        )
    return None


async def _answered_since(facts: Facts, conversation_id: int, at: datetime | None) -> bool:
    query = select(Message.id).where(
        Message.conversation_id == conversation_id, Message.direction == Direction.INBOUND.value
    )
    if at is not None:
        query = query.where(col(Message.received_at) >= at)
    return (await facts.session.exec(query.limit(1))).first() is not None


async def recipient_cooled_down(facts: Facts) -> Deny | None:
    """No new unanswered DM to a person who got one from another conversation within `recipient_cooldown_days`.

    A person who answered is in a live conversation, so following up there is allowed; two watches cold-messaging
    the same person in one week is what gets an account reported.
    """
    days, attempt = facts.settings.recipient_cooldown_days, facts.attempt
    if days == 0 or attempt.channel != Channel.DM.value:
        return None
    recent = (
        await facts.session.exec(
            select(Message.conversation_id, Message.sent_at)
            .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
            .where(
                Conversation.contact_id == facts.contact.id,
                Message.direction == Direction.OUTBOUND.value,
                Message.channel == Channel.DM.value,
                Message.status == MessageStatus.SENT.value,
                col(Message.sent_at) >= attempt.now - timedelta(days=days),
            )
            .order_by(col(Message.sent_at).desc())
            .limit(1)
        )
    ).first()
    if recent is None or recent[0] == attempt.conversation_id or recent[1] is None:
        return None
    other_conversation, sent_at = recent
    if await _answered_since(facts, other_conversation, sent_at):
        return None
    until = (sent_at + timedelta(days=days)).strftime("%Y-%m-%d %H:%M UTC")
    return Deny(
        "recipient_cooldown",
        "CRM_RECIPIENT_COOLDOWN_DAYS",
        f"this person got an unanswered DM on {sent_at:%Y-%m-%d}; the next one may go after {until} "
        "(CRM_RECIPIENT_COOLDOWN_DAYS)",
        extra={"next_allowed_at": (sent_at + timedelta(days=days)).isoformat()},
    )


async def one_first_dm_until_answered(facts: Facts) -> Deny | None:
    """A cold DM (the person never wrote in its conversation) is one per person until they answer it: after the
    cooldown, another watch may not open a second cold conversation with someone who ignored the first. Following
    up in the same conversation is a sequence's business, not a second first DM."""
    attempt = facts.attempt
    if not facts.settings.one_first_dm_until_answered or attempt.channel != Channel.DM.value:
        return None
    if attempt.conversation_id is not None and await _answered_since(facts, attempt.conversation_id, None):
        return None  # the person wrote in this conversation: this is an answer, not a cold DM
    inbound = aliased(Message)
    answered = (
        select(inbound.id)
        .where(
            inbound.conversation_id == Message.conversation_id,
            inbound.direction == Direction.INBOUND.value,
        )
        .exists()
    )
    query = (
        select(Message.sent_at)
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(
            Conversation.contact_id == facts.contact.id,
            Message.direction == Direction.OUTBOUND.value,
            Message.channel == Channel.DM.value,
            Message.status == MessageStatus.SENT.value,
            ~answered,
        )
    )
    if attempt.conversation_id is not None:
        query = query.where(Message.conversation_id != attempt.conversation_id)
    unanswered = (await facts.session.exec(query.order_by(col(Message.sent_at)).limit(1))).first()
    if unanswered is None:
        return None
    return Deny(
        "one_first_dm",
        "CRM_ONE_FIRST_DM_UNTIL_ANSWERED",
        f"this person has not answered the cold DM sent on {unanswered:%Y-%m-%d}; no other watch may open a "
        "conversation with them until they do (CRM_ONE_FIRST_DM_UNTIL_ANSWERED)",
    )
