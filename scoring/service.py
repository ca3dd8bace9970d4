"""Apply a scorer to leads: write LeadScore rows and the lead's current score with its reasons."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.models import Lead, LeadScore, Mention, MentionMatch, PlatformAccount, utcnow
from scoring import baseline


async def score_lead(session: AsyncSession, lead_id: int) -> LeadScore | None:
    """Score a lead from its best mention in its campaign; None if the lead is gone or has no mention."""
    lead = await session.get(Lead, lead_id)
    if lead is None or lead.deleted_at is not None:
        return None
    query = (
        select(Mention, MentionMatch)
        .join(MentionMatch, col(MentionMatch.mention_id) == col(Mention.id))
        .where(Mention.contact_id == lead.contact_id)
    )
    if lead.watch_id is not None:
        query = query.where(MentionMatch.watch_id == lead.watch_id)
    rows = (await session.exec(query)).all()
    if not rows:
        return None
    best: tuple[baseline.Scored, Mention] | None = None
    for mention, match in rows:
        account = await session.get(PlatformAccount, mention.account_id) if mention.account_id else None
        scored = baseline.score(
            baseline.BaselineInput(
                text=mention.text,
                competitors=tuple(match.matched_competitors),
                followers=account.followers if account else None,
                dm_open=account.dm_open if account else False,
            )
        )
        mention.score, mention.score_reasons = scored.score, list(scored.reasons)
        session.add(mention)
        if best is None or scored.score > best[0].score:
            best = (scored, mention)
    assert best is not None
    scored, mention = best
    row = LeadScore(
        lead_id=lead_id,
        mention_id=mention.id,
        model_version=scored.model_version,
        probability=scored.probability,
        score=scored.score,
        reasons=list(scored.reasons),
    )
    lead.score, lead.score_reasons, lead.model_version = scored.score, list(scored.reasons), scored.model_version
    lead.updated_at = utcnow()
    lead.version += 1
    session.add_all([row, lead])
    await session.flush()
    return row
