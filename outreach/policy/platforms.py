"""What each platform lets a business send: X only DMs people who follow us, opened their DMs or wrote to us first;
Meta only answers inside its messaging window; Bluesky only reaches people whose chat is open; Hacker News and RSS
have no private messages; LinkedIn forbids automation. Where a DM is not allowed, a public reply under the person's
post is the first touch left, and the refusal says so.

Accounts that ignore these terms are restricted or banned, so the rules are on by default and only a sandbox that
never reaches real people turns them off (CRM_PLATFORM_DM_RULES).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select

from crm.models import Channel, Conversation, Direction, Message
from outreach.policy.facts import Deny, Facts

META = frozenset({"facebook", "instagram", "messenger", "whatsapp"})
NO_DMS = {"hackernews": "Hacker News has no private messages", "rss": "a feed has no private messages"}
OPEN_DMS_ONLY = frozenset({"bluesky"})
PUBLIC_FIRST = "a public reply to their post is the first touch allowed here"


async def last_heard_on(facts: Facts) -> datetime | None:
    """When the person last wrote to us on the message's platform, in any conversation."""
    found = await facts.session.exec(
        select(sa.func.max(col(Message.received_at)))
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(
            Conversation.contact_id == facts.contact.id,
            Message.platform == facts.attempt.platform,
            Message.direction == Direction.INBOUND.value,
        )
    )
    return found.one()


def follows_us(facts: Facts) -> bool:
    # No column holds the follow relation yet; connectors that learn it keep it in the account's profile document.
    account = facts.account
    return bool(account and account.profile.get("follows_us") is True)


def _deny(rule: str, explanation: str, setting: str = "CRM_PLATFORM_DM_RULES") -> Deny:
    return Deny(f"platform.{rule}", setting, f"{explanation} ({setting})", extra={"public_reply_allowed": True})


async def eligible_on_platform(facts: Facts) -> Deny | None:
    attempt, settings = facts.attempt, facts.settings
    if not settings.platform_dm_rules:
        return None
    if attempt.platform == "linkedin" and attempt.automated:
        return Deny(
            "platform.linkedin_manual_only",
            "CRM_PLATFORM_DM_RULES",
            "LinkedIn does not allow automated messages: send this one yourself on LinkedIn and mark it sent "
            "(CRM_PLATFORM_DM_RULES)",
        )
    if attempt.channel != Channel.DM.value:
        return None
    platform, account = attempt.platform, facts.account
    if platform in NO_DMS:
        return _deny("no_dms", f"{NO_DMS[platform]}; {PUBLIC_FIRST}")
    if platform == "x":
        if (account and account.dm_open) or follows_us(facts) or await last_heard_on(facts) is not None:
            return None
        return _deny(
            "x_first_contact",
            f"on X you may DM only people who follow you, opened their DMs or wrote to you first, and this person "
            f"did none of these; {PUBLIC_FIRST}",
        )
    if platform in OPEN_DMS_ONLY:
        if (account and account.dm_open) or await last_heard_on(facts) is not None:
            return None
        return _deny(
            "dms_closed", f"this person's {platform} messages are closed to people they do not follow; {PUBLIC_FIRST}"
        )
    if platform in META:
        hours = settings.meta_message_window_hours
        heard = await last_heard_on(facts)
        if heard is not None and attempt.now - heard <= timedelta(hours=hours):
            return None
        since = "has never written to you" if heard is None else f"last wrote {heard:%Y-%m-%d %H:%M} UTC"
        return _deny(
            "meta_window",
            f"on {platform} a business may message a person only within {hours} hours of their last message, and "
            f"this person {since}; {PUBLIC_FIRST}",
            setting="CRM_META_MESSAGE_WINDOW_HOURS",
        )
    return None
