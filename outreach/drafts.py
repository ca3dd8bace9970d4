"""Drafting a message for a lead: the send policy first, then the draft written from what we know, then the record.

Every door that drafts (the API, the board, the CLI, later jobs) calls `create_draft`, so no draft exists that the
policy would have refused at the time it was written. What the draft is written from is read here: the lead's
first mention and score reasons, the person's accounts (names, handles, reach, influencer score) and recent posts,
the watch's competitors and offer, the sender profile and the author's signature, and the author's other drafts
of today (so the linter can tell when drafts start to read like a template).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.models import Contact, Direction, Lead, Mention, Message, PlatformAccount, User, Watch, utcnow
from crm.settings import Settings
from outreach.compose.lint import Finding, lint_draft
from outreach.compose.personalise import LeadFacts, Person, personalise
from outreach.compose.situations import LeadSignals, SituationContext
from outreach.compose.writer import Draft, DraftRequest, lint_kind, write_draft
from outreach.conversations import add_draft, conversation_for, find_conversation
from outreach.profile import sender_for
from outreach.send_policy import ensure_may_send

RECENT_POSTS = 5
# A process-wide generator for variant draws; tests pass a seeded one instead.
_RNG = random.Random()


@dataclass(frozen=True, slots=True)
class DraftResult:
    message: Message
    draft: Draft


@dataclass(frozen=True, slots=True)
class LeadMaterial:
    """What the database knows about the lead, as the writer's inputs."""

    facts: LeadFacts
    signals: LeadSignals
    platform: str


async def lead_material(session: AsyncSession, lead: Lead, contact_name: str) -> LeadMaterial:
    mention = await session.get(Mention, lead.first_mention_id) if lead.first_mention_id else None
    accounts = list(await session.exec(select(PlatformAccount).where(PlatformAccount.contact_id == lead.contact_id)))
    accounts.sort(key=lambda a: (a.platform != lead.platform, a.id or 0))  # the lead's own platform first
    main = accounts[0] if accounts else None
    watch = await session.get(Watch, lead.watch_id) if lead.watch_id else None
    recent: list[str] = []
    if accounts:
        rows = await session.exec(
            select(Mention.text)
            .where(col(Mention.account_id).in_([a.id for a in accounts]))
            .order_by(col(Mention.posted_at).desc(), col(Mention.id).desc())
            .limit(RECENT_POSTS)
        )
        recent = [text for text in rows if text]
    text = mention.text if mention else ""
    competitors = list(mention.matched_competitors) if mention else []
    keywords = list(watch.keywords) if watch else []
    # What their audience follows them for: the watch's terms their own posts use.
    topics = [k for k in keywords if any(k.casefold() in post.casefold() for post in recent)][:3]
    facts = LeadFacts(
        person=Person(
            display_name=contact_name,
            handles=tuple(a.handle for a in accounts),
            other_names=tuple(a.display_name for a in accounts if a.display_name),
        ),
        mention_text=text,
        competitors=competitors,
        recent_posts=recent,
        followers=main.followers if main else None,
        audience_topics=topics,
        offer=(watch.offer or "") if watch else "",
    )
    signals = LeadSignals(
        text=text,
        reasons=list(lead.score_reasons),
        competitors=competitors,
        influencer_score=main.influencer_score if main else None,
        influencer_tier=main.influencer_tier if main else None,
        authentic=main.authenticity_flag if main else None,
        sentiment=mention.sentiment if mention else None,
    )
    return LeadMaterial(facts, signals, lead.platform or "file")


async def todays_drafts(session: AsyncSession, author: User, excluding: int | None = None) -> list[str]:
    """The author's other outbound messages written today (UTC), for the linter's "reads like a template"."""
    start = datetime.combine(utcnow().date(), time.min, tzinfo=utcnow().tzinfo)
    query = select(Message.body).where(
        Message.author_user_id == author.id,
        Message.direction == Direction.OUTBOUND.value,
        col(Message.created_at) >= start,
    )
    if excluding is not None:
        query = query.where(Message.id != excluding)
    return list(await session.exec(query))


async def create_draft(
    session: AsyncSession,
    settings: Settings,
    lead: Lead,
    author: User,
    template: str | None = None,
    *,
    purpose: SituationContext | None = None,
    variant: str | None = None,
    rng: random.Random | None = None,
) -> DraftResult:
    """A draft written for the lead's situation, with the cue that chose it, its variant and its lint findings.

    The send policy is checked here, before the rep copies the text out to send it (and again when it is marked
    sent): do-not-contact, erased and suppressed people, the recipient cooldown and the rep's daily cap all refuse
    the draft with the rule that applied.
    """
    existing = await find_conversation(session, lead)
    contact = await ensure_may_send(
        session, settings, lead, author, conversation_id=existing.id if existing else None, sending=False
    )
    material = await lead_material(session, lead, contact.display_name)
    draft = await write_draft(
        DraftRequest(
            facts=material.facts,
            signals=material.signals,
            platform=material.platform,
            sender=await sender_for(session, settings, author),
            purpose=purpose,
            template=template,
            pinned_variant=variant,
            recent_drafts=await todays_drafts(session, author),
        ),
        rng or _RNG,
    )
    conversation = await conversation_for(session, lead, found=existing)
    message = await add_draft(session, conversation, draft.body, template=draft.template, author=author)
    message.situation, message.variant = draft.situation, draft.variant
    session.add(message)
    await session.flush()
    return DraftResult(message, draft)


async def lint_message(session: AsyncSession, message: Message, text: str, author: User) -> list[Finding]:
    """Findings for `text` as a new version of the message: its platform, the lead's facts, today's other drafts."""
    lead = await session.get(Lead, message.lead_id)
    contact = await session.get(Contact, lead.contact_id) if lead else None
    assert lead is not None and contact is not None  # a message's lead and contact are never deleted under it
    material = await lead_material(session, lead, contact.display_name)
    return lint_draft(
        text,
        platform=message.platform,
        kind=lint_kind(message.situation or ""),
        facts=personalise(material.facts).facts(),
        recent_drafts=await todays_drafts(session, author, excluding=message.id),
    )
