"""Mention intake, one batch at a time: every door (`crm listen import`, the API's JSONL import, the inbound
webhook, polling) hands its validated mentions to `ingest_batch`, which stores them through the bulk path, commits,
then enqueues their follow-up jobs and returns one `IngestReport`.

Commit, then enqueue: a job must find its rows, and a batch that never committed must leave no job behind. The
job ids are stable, so enqueueing a batch's jobs again is a no-op. A run killed between batches loses nothing:
committed batches are skipped as duplicates when it is re-run, and leads that were committed but never got their
scoring job are enqueued again by `enqueue_unscored`.

With no queue (the embedded defaults outside `crm serve`), `InProcess` does the jobs' work in this process after
each commit instead, so no door leaves a lead unscored.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

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
from listeners.schemas import MentionImportReport
from listeners.store import BATCH_SIZE, batched, save_mentions

if TYPE_CHECKING:
    from scoring.registry import ModelCache

ENQUEUE_CONCURRENCY = 50
# The store quarantines what its own checks or the database refuse, with the reason on the quarantined row.
REFUSED_BY_STORE = "refused when stored (the quarantine row gives the reason)"
BeforeCommit = Callable[[AsyncSession], Awaitable[None]]
# The counts two reports add up by (the quarantine reasons and lead ids are merged).
SUMMED = (
    "received",
    "stored",
    "duplicates",
    "matched",
    "new_leads",
    "quarantined",
    "reposts",
    "suppressed",
    "batches",
    "scored",
)


@dataclass
class IngestReport:
    """What intake did with a batch, or (added up) with a run of batches."""

    received: int = 0  # items handed in, valid or not
    stored: int = 0
    duplicates: int = 0
    matched: int = 0
    new_leads: int = 0
    quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    reposts: int = 0
    suppressed: int = 0  # authors who were erased or opted out: skipped, only counted
    batches: int = 0
    scored: int = 0  # leads scored in this process (no queue)
    lead_ids: list[int] = field(default_factory=list, repr=False)  # the new leads

    def add(self, other: IngestReport) -> None:
        for name in SUMMED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.lead_ids.extend(other.lead_ids)
        for reason, times in other.quarantine_reasons.items():
            self.quarantine_reasons[reason] = self.quarantine_reasons.get(reason, 0) + times

    def quarantine(self, reason: str, times: int = 1) -> None:
        self.quarantined += times
        self.quarantine_reasons[reason] = self.quarantine_reasons.get(reason, 0) + times

    def counts(self) -> dict[str, Any]:
        """Everything but the lead ids (a long run's list is no use on a terminal)."""
        return {k: v for k, v in asdict(self).items() if k != "lead_ids"}

    def public(self) -> MentionImportReport:
        """The API's view of it (the JSONL import and the webhook answer with the same fields)."""
        return MentionImportReport(
            stored=self.stored,
            duplicates=self.duplicates,
            matched=self.matched,
            new_leads=self.new_leads,
            quarantined=self.quarantined,
            suppressed=self.suppressed,
        )


def score_job_id(lead_id: int) -> str:
    return f"score:lead:{lead_id}:initial"


def analysis_job_id(mention_ids: list[int]) -> str:
    return f"analyse:mentions:{mention_ids[0]}:{mention_ids[-1]}:{len(mention_ids)}"


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
        await enqueue(queue, "analyse_mentions", job_id=analysis_job_id(mention_ids), mention_ids=mention_ids)


async def enqueue_unscored(session: AsyncSession, queue: ArqRedis, watch_id: int | None = None) -> int:
    """Re-enqueue scoring for leads (of this watch, or all) that never got a score (e.g. a run killed after a
    commit, or jobs lost with an embedded queue)."""
    from scoring.service import unscored_lead_ids  # deferred: scoring.service loads scikit-learn (seconds)

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
    from scoring.service import score_leads, unscored_lead_ids  # scikit-learn loads only when scoring here

    async with session_scope(sessionmaker) as session:
        lead_ids = list(await unscored_lead_ids(session, watch_id))
    return await score_leads(sessionmaker, lead_ids, cache)


@dataclass
class InProcess:
    """No queue to hand the follow-up jobs to: do their work here, after each commit, with one model cache."""

    sessionmaker: SessionMaker
    cache: ModelCache | None = None  # loaded on first use: a batch that opens no lead never needs scikit-learn

    async def run(self, lead_ids: list[int], mention_ids: list[int]) -> int:
        if self.cache is None and lead_ids:
            from scoring.registry import ModelCache  # scikit-learn loads only when something is scored here

            self.cache = ModelCache()
        return await process_here(self.sessionmaker, lead_ids, mention_ids, self.cache)


def _tallied(items: Iterable[RawMention | Rejected], report: IngestReport) -> Iterator[RawMention | Rejected]:
    """The items, counted as the store reads them, with why each rejected one is quarantined."""
    reasons: Counter[str] = Counter()
    for item in items:
        report.received += 1
        if isinstance(item, Rejected):
            reasons[item.reason] += 1
        yield item
    for reason, times in reasons.items():
        report.quarantine(reason, times)


async def ingest_batch(
    session: AsyncSession,
    watch: Watch,
    items: Iterable[RawMention | Rejected],
    *,
    source: str,
    queue: ArqRedis | None,
    here: InProcess | None = None,
    settings: Settings | None = None,
    matcher: WatchMatcher | None = None,
    batch_size: int = BATCH_SIZE,
    analyse: bool = True,
    before_commit: BeforeCommit | None = None,
) -> IngestReport:
    """Store one batch, commit it, then follow it up: enqueue `score_lead` for each new lead and `analyse_mentions`
    for the new mentions, or, with no queue but `here`, do that work in this process.

    `before_commit` runs in the batch's transaction after the mentions are stored (polling saves its cursor there,
    so the cursor never describes a page that was not stored). With `settings`, suppressed authors are skipped.
    """
    report = IngestReport(batches=1)
    result = await save_mentions(
        session,
        watch,
        _tallied(items, report),
        source=source,
        matcher=matcher,
        batch_size=batch_size,
        settings=settings,
    )
    if before_commit is not None:
        await before_commit(session)
    await session.commit()  # commit, then enqueue: the jobs must find the rows
    mention_ids = list(result.new_mentions) if analyse else []
    if queue is not None:
        await enqueue_scoring(queue, result.new_leads)
        await enqueue_analysis(queue, mention_ids)
    elif here is not None:
        report.scored = await here.run(result.new_leads, mention_ids)
    report.stored = len(result.new_mentions)
    report.duplicates = result.duplicates
    report.matched = result.matched
    report.new_leads = len(result.new_leads)
    report.lead_ids = list(result.new_leads)
    report.reposts = result.reposts
    report.suppressed = result.suppressed
    refused_by_store = result.quarantined - report.quarantined
    if refused_by_store > 0:
        report.quarantine(REFUSED_BY_STORE, refused_by_store)
    return report


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
    """Save a stream of mentions batch by batch (a transaction each, through `ingest_batch`); with `in_process` and
    no queue, the follow-up work is done here."""
    report = IngestReport()
    matcher = WatchMatcher.from_watch(watch)
    here = InProcess(sessionmaker) if in_process and queue is None else None
    for chunk in batched(items, batch_size):
        async with session_scope(sessionmaker) as session:
            part = await ingest_batch(
                session,
                watch,
                chunk,
                source=source,
                queue=queue,
                here=here,
                settings=settings,
                matcher=matcher,
                batch_size=batch_size,
                analyse=analyse,
            )
        report.add(part)
    return report
