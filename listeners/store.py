"""Mention store: save each mention once per (platform, external id), upsert its author, open the lead."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.contacts import open_lead, upsert_account
from crm.models import Mention, MentionMatch, QuarantinedPayload, Watch
from listeners.base import RawMention
from listeners.intake import Rejected
from listeners.matching import fold, match_watch


@dataclass
class SaveResult:
    new_mentions: list[int] = field(default_factory=list)
    duplicates: int = 0
    matched: int = 0
    new_leads: list[int] = field(default_factory=list)
    quarantined: int = 0


def content_hash(text: str) -> str:
    """Same words, same hash: reposts and cross-posts of one text link to the first copy."""
    return hashlib.sha256(" ".join(fold(text).split()).encode()).hexdigest()


def quarantine(session: AsyncSession, source: str, reason: str, body: str, watch_id: int | None = None) -> None:
    session.add(QuarantinedPayload(source=source, reason=reason, body=body, watch_id=watch_id))


async def save_mentions(
    session: AsyncSession, watch: Watch, items: Iterable[RawMention | Rejected], *, source: str = "file"
) -> SaveResult:
    """Store new mentions for a watch; known ones are skipped, bad ones quarantined. Flushes, never commits."""
    assert watch.id is not None
    result = SaveResult()
    for item in items:
        if isinstance(item, Rejected):
            quarantine(session, source, f"line {item.line}: {item.reason}", item.body, watch.id)
            result.quarantined += 1
            continue
        existing = (
            await session.exec(
                select(Mention.id).where(Mention.platform == item.platform, Mention.external_id == item.external_id)
            )
        ).first()
        if existing is not None:
            result.duplicates += 1
            continue
        a = item.author
        account = await upsert_account(
            session,
            item.platform,
            a.handle,
            display_name=a.display_name,
            external_id=a.external_id,
            followers=a.followers,
            following=a.following,
            posts_count=a.posts_count,
            verified=a.verified,
            dm_open=a.dm_open,
            bio=a.bio,
            profile_url=a.profile_url,
        )
        match = match_watch(item.text, watch.keywords, watch.competitors, watch.excluded_terms)
        digest = content_hash(item.text)
        original = (await session.exec(select(Mention.id).where(Mention.content_hash == digest).limit(1))).first()
        mention = Mention(
            platform=item.platform,
            external_id=item.external_id,
            account_id=account.id,
            contact_id=account.contact_id,
            text=item.text,
            url=item.url,
            language=item.language,
            posted_at=item.created_at,
            likes=item.likes,
            reposts=item.reposts,
            replies=item.replies,
            quotes=item.quotes,
            in_reply_to=item.in_reply_to,
            quote_of=item.quote_of,
            content_hash=digest,
            duplicate_of_id=original,
            matched_terms=list(match.terms),
            matched_competitors=list(match.competitors),
            raw=item.raw,
        )
        session.add(mention)
        await session.flush()
        assert mention.id is not None and account.contact_id is not None
        result.new_mentions.append(mention.id)
        if not match or a.handle.lower() in {h.lower().lstrip("@") for h in watch.excluded_authors}:
            continue
        result.matched += 1
        session.add(
            MentionMatch(
                mention_id=mention.id,
                watch_id=watch.id,
                matched_terms=list(match.terms),
                matched_competitors=list(match.competitors),
            )
        )
        if original is not None:
            continue  # a repost of a known text is linked, not a new lead
        lead, created = await open_lead(
            session, account.contact_id, watch.id, platform=item.platform, mention_id=mention.id
        )
        if created:
            assert lead.id is not None
            result.new_leads.append(lead.id)
    await session.flush()
    return result
