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

from crm.models import Lead, LeadScore, Mention, MentionMatch, Message, PlatformAccount, Stage, utcnow
from scoring import baseline
from scoring.artifacts import ModelLoadError
from scoring.dataset import mention_record
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
