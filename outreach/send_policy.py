"""The checks a DM must pass before it is drafted and again when it is recorded as sent: do-not-contact and erased
people, the suppression list, the recipient cooldown and the rep's daily cap.

`ensure_may_send` is the one function every door asks (the API, the board, jobs), at draft time and at send time:
a person may opt out, be erased or be messaged from another campaign between the two. Unsolicited promotional DMs
get accounts restricted and reported, so the limits hold whether a rep sends by hand or a connector sends: a
refusal names the rule, the figure and the setting behind it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.contacts.privacy import is_suppressed
from crm.errors import OutreachBlocked
from crm.models import Contact, Conversation, Direction, Lead, Message, MessageStatus, PlatformAccount, User, utcnow
from crm.settings import Settings


async def ensure_may_send(
    session: AsyncSession,
    settings: Settings,
    lead: Lead,
    author: User,
    *,
    conversation_id: int | None,
    sending: bool,
) -> Contact:
    """Every rule, in the order a rep can act on them; returns the contact. `sending` is the mark-sent check."""
    contact = ensure_contactable(await session.get(Contact, lead.contact_id))
    await ensure_not_suppressed(session, settings, contact)
    await ensure_recipient_cooled_down(session, settings, contact, conversation_id)
    await ensure_within_daily_cap(session, settings, author, sending=sending)
    return contact


def ensure_contactable(contact: Contact | None) -> Contact:
    """Refuse people who were erased or asked not to be contacted, on every channel."""
    if contact is None or contact.deleted_at is not None:
        raise OutreachBlocked("the lead's contact no longer exists")
    if contact.do_not_contact:
        raise OutreachBlocked("this person is on the do-not-contact list")
    return contact


async def ensure_not_suppressed(session: AsyncSession, settings: Settings, contact: Contact) -> None:
    """Refuse a person any of whose identifiers is on the suppression list (an erased or suppressed person who is
    back under another record: the intake check only sees identifiers as they arrive)."""
    identifiers: list[tuple[str, str | None]] = [("email", contact.email), ("external_id", contact.external_id)]
    accounts = await session.exec(select(PlatformAccount).where(PlatformAccount.contact_id == contact.id))
    for account in accounts:
        identifiers.append(("handle", f"{account.platform}:{account.handle}"))
        if account.external_id:
            identifiers.append(("account_id", f"{account.platform}:{account.external_id}"))
    for kind, value in identifiers:
        if await is_suppressed(session, settings, kind, value):
            raise OutreachBlocked(
                f"this person's {kind.replace('_', ' ')} is on the suppression list (erased or opted out)",
                extra={"suppressed": kind},
            )


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
            col(Message.status).in_(statuses),
            dated >= since,
        )
    )
    return int(found.one())


async def ensure_within_daily_cap(session: AsyncSession, settings: Settings, user: User, *, sending: bool) -> None:
    """At most `daily_dm_cap_per_rep` DMs per rep in any 24 hours (0 turns the cap off).

    A draft counts what was sent or drafted; a send counts what actually went out, so a rep can send the drafts
    the cap let them write, but not more than the cap in a day even if it was lowered or the drafts are old.
    """
    cap = settings.daily_dm_cap_per_rep
    if cap == 0 or user.id is None:
        return
    since = utcnow() - timedelta(hours=24)
    if sending:
        sent = await dms_by_rep_since(session, user.id, since, sent_only=True)
        if sent >= cap:
            raise OutreachBlocked(
                f"you have sent {sent} DMs in the last 24 hours and the cap is {cap} (CRM_DAILY_DM_CAP_PER_REP)"
            )
        return
    used = await dms_by_rep_since(session, user.id, since)
    if used >= cap:
        raise OutreachBlocked(
            f"you have {used} DMs sent or drafted in the last 24 hours and the cap is {cap} (CRM_DAILY_DM_CAP_PER_REP)"
        )


async def ensure_recipient_cooled_down(
    session: AsyncSession, settings: Settings, contact: Contact, conversation_id: int | None
) -> None:
    """No new unanswered DM to a person who got one from another conversation within `recipient_cooldown_days`.

    A person who answered is in a live conversation, so following up there is allowed; two campaigns cold-messaging
    the same person in one week is what gets an account reported.
    """
    days = settings.recipient_cooldown_days
    if days == 0 or contact.id is None:
        return
    since = utcnow() - timedelta(days=days)
    recent = (
        await session.exec(
            select(Message.conversation_id, Message.sent_at)
            .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
            .where(
                Conversation.contact_id == contact.id,
                Message.direction == Direction.OUTBOUND.value,
                Message.status == MessageStatus.SENT.value,
                col(Message.sent_at) >= since,
            )
            .order_by(col(Message.sent_at).desc())
            .limit(1)
        )
    ).first()
    if recent is None or recent[0] == conversation_id or recent[1] is None:
        return
    other_conversation, sent_at = recent[0], recent[1]
    answered = (
        await session.exec(
            select(Message.id).where(
                Message.conversation_id == other_conversation,
                Message.direction == Direction.INBOUND.value,
                col(Message.received_at) >= sent_at,
            )
        )
    ).first()
    if answered is None:
        until = (sent_at + timedelta(days=days)).strftime("%Y-%m-%d %H:%M UTC")
        raise OutreachBlocked(
            f"this person got an unanswered DM on {sent_at:%Y-%m-%d}; the next one may go after {until} "
            "(CRM_RECIPIENT_COOLDOWN_DAYS)"
        )
