"""Ingestion runs: a stream of mentions saved batch by batch, each batch committed before its jobs are enqueued.

A run killed between batches loses nothing: committed batches are skipped as duplicates when it is re-run, and
leads that were committed but never got their scoring job are enqueued again by `enqueue_unscored`.

With no queue (the embedded defaults outside `crm serve`), `process_here` does the jobs' work in this process
after each commit instead, so no intake path leaves a lead unscored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from arq.connections import ArqRedis
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.db import SessionMaker, session_scope
from crm.models import Watch
from crm.queue import enqueue
from crm.settings import Settings
from listeners import analysis
from listeners.base import RawMention
from listeners.intake import Rejected
from listeners.matching import WatchMatcher
from listeners.store import BATCH_SIZE, SaveResult, batched, save_mentions

if TYPE_CHECKING:
    from scoring.registry import ModelCache

ENQUEUE_CONCURRENCY = 50


@dataclass
class IngestReport:
    stored: int = 0
    duplicates: int = 0
    matched: int = 0
    new_leads: int = 0
    quarantined: int = 0
    reposts: int = 0
    suppressed: int = 0
    batches: int = 0
    scored: int = 0

    def add(self, result: SaveResult) -> None:
        self.stored += len(result.new_mentions)
        self.duplicates += result.duplicates
        self.matched += result.matched
        self.new_leads += len(result.new_leads)
        self.quarantined += result.quarantined
        self.reposts += result.reposts
        self.suppressed += result.suppressed
        self.batches += 1


def score_job_id(lead_id: int) -> str:
    return f"score:lead:{lead_id}:initial"


async def enqueue_scoring(queue: ArqRedis, lead_ids: list[int]) -> None:
    """One `score_lead` job per lead, a few in flight at once; stable ids make a second enqueue a no-op."""
    for start in range(0, len(lead_ids), ENQUEUE_CONCURRENCY):
        chunk = lead_ids[start : start + ENQUEUE_CONCURRENCY]
        await asyncio.gather(
            *(enqueue(queue, "score_lead", job_id=score_job_id(lead_id), lead_id=lead_id) for lead_id in chunk)
        )


async def enqueue_analysis(queue: ArqRedis, mention_ids: list[int]) -> None:
    """Sentiment and the languages the cheap vote missed are filled in by a job, off the bulk path."""
    if mention_ids:
        job_id = f"analyse:mentions:{mention_ids[0]}:{mention_ids[-1]}:{len(mention_ids)}"
        await enqueue(queue, "analyse_mentions", job_id=job_id, mention_ids=mention_ids)


async def enqueue_unscored(session: AsyncSession, queue: ArqRedis, watch_id: int | None = None) -> int:
    """Re-enqueue scoring for leads (of this watch, or all) that never got a score (e.g. a run killed after a
    commit, or jobs lost with an embedded queue)."""
    from scoring.service import unscored_lead_ids

    lead_ids = list(await unscored_lead_ids(session, watch_id))
    await enqueue_scoring(queue, lead_ids)
    return len(lead_ids)


async def process_here(
    sessionmaker: SessionMaker, lead_ids: list[int], mention_ids: list[int], cache: ModelCache | None = None
) -> int:
    """What the `analyse_mentions` and `score_lead` jobs would do, done now; returns how many leads were scored."""
    from scoring.service import score_leads  # scikit-learn loads only when something is scored here

    if mention_ids:
        async with session_scope(sessionmaker) as session:
            await analysis.analyse(session, mention_ids)
    return await score_leads(sessionmaker, lead_ids, cache)


async def score_unscored_here(sessionmaker: SessionMaker, watch_id: int, cache: ModelCache | None = None) -> int:
    """Score this watch's leads that never got a score (an earlier run without a queue, or one killed mid-way)."""
    from scoring.service import score_leads, unscored_lead_ids

    async with session_scope(sessionmaker) as session:
        lead_ids = list(await unscored_lead_ids(session, watch_id))
    return await score_leads(sessionmaker, lead_ids, cache)


async def ingest(
    sessionmaker: SessionMaker,
    queue: ArqRedis | None,
    watch: Watch,
    items: Iterable[RawMention | Rejected],
    *,
    source: str,
    batch_size: int = BATCH_SIZE,
    analyse: bool = True,
    settings: Settings | None = None,
    in_process: bool = False,
) -> IngestReport:
    """Save a stream of mentions: commit each batch, then enqueue scoring (and analysis) for what it created, or,
    with `in_process` and no queue, score and analyse it here."""
    report = IngestReport()
    matcher = WatchMatcher.from_watch(watch)
    cache: ModelCache | None = None  # loaded on first use: the queue path never needs scikit-learn
    for chunk in batched(items, batch_size):
        async with session_scope(sessionmaker) as session:
            result = await save_mentions(
                session, watch, chunk, source=source, matcher=matcher, batch_size=batch_size, settings=settings
            )
        if queue is not None:  # committed: the jobs will find their rows
            await enqueue_scoring(queue, result.new_leads)
            if analyse:
                await enqueue_analysis(queue, result.new_mentions)
        elif in_process:
            if cache is None:
                from scoring.registry import ModelCache

                cache = ModelCache()
            report.scored += await process_here(
                sessionmaker, result.new_leads, result.new_mentions if analyse else [], cache
            )
        report.add(result)
    return report
