"""arq jobs for listening: `schedule_polls` (cron, every minute) enqueues `poll_watch` for each active watch and
platform whose poll interval has elapsed, with a job id per watch, platform and time slot so it runs once per slot.
A poll hands each page to the one intake path, which enqueues the page's scoring and analysis jobs after commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from arq.cron import CronJob, cron
from arq.worker import func
from sqlmodel import col, select

from crm.db import session_scope
from crm.models import ListenerCursor, Watch, utcnow
from crm.queue import enqueue
from crm.settings import Settings
from listeners.platforms import REGISTRY
from listeners.polling import PollReport, connector_name, poll

LOCK_SECONDS = 1800  # the poll job's own timeout: a crashed worker's lock expires with it
MIN_INTERVAL = 60  # the cron's own period; a shorter poll interval would only repeat the same slot
ALL_PLATFORMS = list(dict.fromkeys(cls.platform for cls in REGISTRY.values()))


async def poll_watch(ctx: dict[str, Any], watch_id: int, platform: str) -> dict[str, Any]:
    """One poll; a lock per watch and platform keeps a second poll (another slot, a manual run) from overlapping."""
    settings: Settings = ctx["settings"]
    redis = ctx["redis"]
    lock = f"{settings.queue_name}:poll-lock:{watch_id}:{platform}"
    if not await redis.set(lock, "1", nx=True, ex=LOCK_SECONDS):
        return PollReport(watch_id, platform, skipped="another poll of this watch and platform is running").as_dict()
    try:
        report = await poll(ctx["sessionmaker"], ctx["http"], settings, watch_id, platform, queue=redis)
    finally:
        await redis.delete(lock)
    return report.as_dict()


def due_polls(
    watches: list[Watch], last_polled: dict[tuple[int, str], datetime], settings: Settings, now: datetime
) -> list[tuple[int, str, str]]:
    """(watch id, platform, job id) for every active watch/platform pair whose interval has elapsed."""
    due = []
    for watch in watches:
        assert watch.id is not None
        interval = max(watch.poll_interval_seconds, MIN_INTERVAL)
        # No platforms listed means every platform (the watch's matcher reads it the same way).
        wanted = [p.strip().lower() for p in watch.platforms if p.strip()] or ALL_PLATFORMS
        polled: set[str] = set()
        for platform in dict.fromkeys(wanted):
            cls = REGISTRY.get(connector_name(platform, settings))
            if cls is None or not cls.configured(settings) or cls.name in polled:
                continue
            polled.add(cls.name)
            last = last_polled.get((watch.id, cls.name))
            # A few seconds of slack so a poll that finished just after the cron tick is not pushed a whole slot.
            if last is not None and now - last < timedelta(seconds=interval - 5):
                continue
            slot = int(now.timestamp()) // interval
            due.append((watch.id, platform, f"poll:{watch.id}:{platform}:{slot}"))
    return due


async def schedule_polls(ctx: dict[str, Any]) -> int:
    """Cron: enqueue the due polls; the stable job id makes a second scheduler (another worker) a no-op."""
    settings: Settings = ctx["settings"]
    async with session_scope(ctx["sessionmaker"]) as session:
        watches = list(await session.exec(select(Watch).where(col(Watch.active) == sa.true())))
        rows = await session.exec(
            select(ListenerCursor.watch_id, ListenerCursor.platform, sa.func.max(ListenerCursor.updated_at)).group_by(
                col(ListenerCursor.watch_id), col(ListenerCursor.platform)
            )
        )
        last_polled = {(watch_id, platform): at for watch_id, platform, at in rows if at is not None}
    due = due_polls(watches, last_polled, settings, utcnow())
    for watch_id, platform, job_id in due:
        await enqueue(ctx["redis"], "poll_watch", job_id=job_id, watch_id=watch_id, platform=platform)
    return len(due)


def cron_jobs(settings: Settings) -> list[CronJob]:
    """The listener's cron entries for the worker; none when polling is switched off (tests, API-only workers)."""
    if not settings.listener_polling:
        return []
    return [cron(schedule_polls, name="schedule_polls", second=0, unique=True, run_at_startup=False, timeout=50)]


# One try: a failed or timed-out poll is simply the next slot's work, resumed from the cursor.
FUNCTIONS = [
    func(poll_watch, name="poll_watch", max_tries=1, timeout=LOCK_SECONDS),  # type: ignore[arg-type]
    func(schedule_polls, name="schedule_polls", max_tries=1, timeout=50),  # type: ignore[arg-type]
]
