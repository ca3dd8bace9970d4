"""arq jobs for scoring; each takes ids and is safe to run twice (a rescore just writes a newer score row).

The worker's startup puts one ModelCache into ctx (`setup`), so each process loads an artifact once per version.
"""

from __future__ import annotations

from typing import Any

import structlog
from arq.cron import cron

from crm.db import session_scope
from crm.settings import Settings
from scoring.influencer import recently_active_accounts, score_accounts
from scoring.lifecycle import retrain_from_outcomes
from scoring.registry import ModelCache
from scoring.service import open_lead_ids, score_lead_and_authors, score_leads

log = structlog.get_logger(__name__)

RESCORE_BATCH = 200


def setup(ctx: dict[str, Any]) -> None:
    """Called from the worker's startup: one model cache per process."""
    ctx.setdefault("model_cache", ModelCache())


async def score_lead(ctx: dict[str, Any], lead_id: int) -> float | None:
    """Score the lead, then refresh the influencer score of the accounts behind it (same transaction)."""
    async with session_scope(ctx["sessionmaker"]) as session:
        row = await score_lead_and_authors(session, lead_id, ctx.get("model_cache"))
        return row.score if row else None


async def rescore_open_leads(ctx: dict[str, Any]) -> int:
    """Rescore every open lead with the active model (after a promotion or rollback), committing per batch."""
    async with session_scope(ctx["sessionmaker"]) as session:
        ids = list(await open_lead_ids(session))
    return await score_leads(ctx["sessionmaker"], ids, ctx.get("model_cache"), with_authors=False)


async def score_influencers(ctx: dict[str, Any], account_ids: list[int] | None = None) -> int:
    """Rescore the given accounts, or (cron) every account seen in the last 90 days, committing per batch.

    Growth and relevance move with time and new posts; the job only recomputes stored facts, so a second run
    (or two workers racing) writes the same values."""
    if account_ids is None:
        async with session_scope(ctx["sessionmaker"]) as session:
            account_ids = await recently_active_accounts(session)
    done = 0
    for start in range(0, len(account_ids), RESCORE_BATCH):
        async with session_scope(ctx["sessionmaker"]) as session:
            done += await score_accounts(session, account_ids[start : start + RESCORE_BATCH])
    log.info("influencers scored", accounts=done)
    return done


async def retrain_warm_lead(ctx: dict[str, Any]) -> str:
    """Cron: retrain on CRM outcomes when enough new labels exist; a promotion rescores the open leads."""
    settings: Settings = ctx["settings"]
    async with session_scope(ctx["sessionmaker"]) as session:
        outcome = await retrain_from_outcomes(
            session, settings.resolved_model_dir, min_new_labels=settings.scoring_retrain_min_labels
        )
    log.info("warm-lead retrain", status=outcome.status, version=outcome.version, labels=outcome.n_labels)
    if outcome.status == "promoted":
        await rescore_open_leads(ctx)
    return outcome.status


FUNCTIONS: list[Any] = [score_lead, rescore_open_leads, score_influencers, retrain_warm_lead]
CRON_JOBS: list[Any] = [
    cron(retrain_warm_lead, hour={3}, minute={17}, run_at_startup=False, unique=True),
    # Nightly, after the day's snapshots are in; `unique` keeps two workers from starting it at once.
    cron(score_influencers, hour={4}, minute={7}, run_at_startup=False, unique=True),
]
