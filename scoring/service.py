"""Apply a scorer to leads: write LeadScore rows and the lead's current score with its reasons.

The active warm-lead model from the registry scores when one exists; otherwise the named baseline
("baseline-rules-1") does, and the lead's model_version always says which one it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.db import SessionMaker, session_scope
from crm.models import Lead, LeadScore, Mention, MentionMatch, Message, PlatformAccount, Stage, utcnow
from scoring import baseline
from scoring.artifacts import ModelLoadError
from scoring.dataset import mention_record
from scoring.influencer import score_accounts
from scoring.registry import ModelCache
from scoring.warm_lead import WarmLeadModel

log = structlog.get_logger(__name__)

# Per-process cache for callers that do not bring their own (the worker puts one into its ctx at startup).
DEFAULT_CACHE = ModelCache()


async def active_model(session: AsyncSession, cache: ModelCache | None = None) -> WarmLeadModel | None:
    """The active warm-lead model, or None (baseline) when none is active or its artifact cannot be loaded."""
    try:
        return await (cache or DEFAULT_CACHE).current(session)
    except ModelLoadError as exc:
        # A broken artifact must not stop scoring: fall back to the baseline, loudly.
        log.error("active model failed to load; scoring with the baseline", error=str(exc))
        return None


def _competitor_names(match: MentionMatch) -> list[str]:
    return [str(c) for c in match.matched_competitors]


async def score_lead(session: AsyncSession, lead_id: int, cache: ModelCache | None = None) -> LeadScore | None:
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
    model = await active_model(session, cache)
    prior = 0
    if model is not None:
        count = select(func.count()).select_from(Message).where(Message.lead_id == lead_id)
        prior = int((await session.exec(count)).one())
    best: tuple[baseline.Scored, Mention] | None = None
    scored_rows: list[tuple[baseline.Scored, Mention]] = []
    accounts: dict[int, PlatformAccount | None] = {}
    records: list[dict[str, Any]] = []
    for mention, match in rows:
        account = None
        if mention.account_id:
            if mention.account_id not in accounts:
                accounts[mention.account_id] = await session.get(PlatformAccount, mention.account_id)
            account = accounts[mention.account_id]
        if model is None:
            scored_rows.append(
                (
                    baseline.score(
                        baseline.BaselineInput(
                            text=mention.text,
                            competitors=tuple(match.matched_competitors),
                            followers=account.followers if account else None,
                            dm_open=account.dm_open if account else False,
                        )
                    ),
                    mention,
                )
            )
        else:
            names = _competitor_names(match)
            records.append(mention_record(mention, account, competitor=bool(names), competitors=names, prior=prior))
    if model is not None:
        for prediction, (mention, _match) in zip(model.score_records(records), rows, strict=True):
            scored_rows.append(
                (
                    baseline.Scored(
                        prediction.probability, prediction.score, prediction.reasons, prediction.model_version
                    ),
                    mention,
                )
            )
    for scored, mention in scored_rows:
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


async def open_lead_ids(session: AsyncSession) -> Sequence[int]:
    """Leads in open stages (not won/lost), the ones a new model version rescores."""
    closed = select(Stage.key).where(col(Stage.kind).in_(["won", "lost"]))
    query = select(Lead.id).where(col(Lead.deleted_at).is_(None), col(Lead.stage).not_in(closed)).order_by(col(Lead.id))
    return [int(i) for i in (await session.exec(query)).all() if i is not None]


async def unscored_lead_ids(session: AsyncSession, watch_id: int | None = None) -> Sequence[int]:
    """Live leads that never got a score (their job was lost, or no queue was there to take it)."""
    query = select(Lead.id).where(col(Lead.score).is_(None), col(Lead.deleted_at).is_(None)).order_by(col(Lead.id))
    if watch_id is not None:
        query = query.where(Lead.watch_id == watch_id)
    return [int(i) for i in (await session.exec(query)).all() if i is not None]


async def score_lead_and_authors(
    session: AsyncSession, lead_id: int, cache: ModelCache | None = None
) -> LeadScore | None:
    """Score the lead, then refresh the influencer score of the accounts behind it (same transaction)."""
    row = await score_lead(session, lead_id, cache)
    lead = await session.get(Lead, lead_id)
    if lead is not None:
        query = select(PlatformAccount.id).where(PlatformAccount.contact_id == lead.contact_id)
        await score_accounts(session, [i for i in (await session.exec(query)).all() if i is not None])
    return row


SCORE_BATCH = 200


async def score_leads(
    sessionmaker: SessionMaker, lead_ids: Sequence[int], cache: ModelCache | None = None, *, with_authors: bool = True
) -> int:
    """Score these leads in this process, committing per batch so a long run keeps what it did; returns how many
    got a score (a lead without a mention in its campaign gets none)."""
    cache = cache or ModelCache()
    done = 0
    for start in range(0, len(lead_ids), SCORE_BATCH):
        async with session_scope(sessionmaker) as session:
            for lead_id in lead_ids[start : start + SCORE_BATCH]:
                scorer = score_lead_and_authors if with_authors else score_lead
                if await scorer(session, lead_id, cache) is not None:
                    done += 1
    return done
