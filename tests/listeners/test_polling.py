from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, func, select

from crm.db import make_sessionmaker, session_scope
from crm.models import Lead, ListenerCursor, Mention, QuarantinedPayload, Watch
from crm.queue import create_queue, enqueue
from crm.settings import Settings
from crm.worker import create_worker, startup
from listeners.jobs import cron_jobs, due_polls, poll_watch, schedule_polls
from listeners.polling import poll
from tests.listeners.platform_fakes import Sleeps, fixture

HN = "http://hn.test"


def recorded_hits() -> list[dict[str, Any]]:
    hits: dict[str, dict[str, Any]] = {}
    for record in fixture("hackernews", "hn_algolia_fixtures_2014.json"):
        if record["url"].startswith("/api/v1/search"):
            for hit in record["reply"]["hits"]:
                hits.setdefault(hit["objectID"], hit)
    return list(hits.values())


def later_copies(hits: list[dict[str, Any]], start: int) -> list[dict[str, Any]]:
    """New posts after the recorded ones: the same payloads under new ids, a minute apart after the newest."""
    newest = max(h["created_at_i"] for h in hits)
    out = []
    for n, hit in enumerate(hits):
        clone = copy.deepcopy(hit)
        clone["objectID"] = str(start + n)
        clone["created_at_i"] = newest + 60 * (n + 1)
        clone["created_at"] = None
        out.append(clone)
    return out


class FakeAlgolia:
    """search_by_date as Algolia answers it: newest first, numericFilters honoured, fixed-size pages."""

    def __init__(self, hits: list[dict[str, Any]], per_page: int = 100) -> None:
        self.hits = hits
        self.per_page = per_page
        self.fail_on_page: int | None = None
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        page = int(request.url.params.get("page", 0))
        if self.fail_on_page == page:
            return httpx.Response(503)
        low = re.search(r"created_at_i>(\d+)", request.url.params["numericFilters"])
        high = re.search(r"created_at_i<=(\d+)", request.url.params["numericFilters"])
        chosen = [
            h
            for h in self.hits
            if (low is None or h["created_at_i"] > int(low.group(1)))
            and (high is None or h["created_at_i"] <= int(high.group(1)))
        ]
        chosen.sort(key=lambda h: h["created_at_i"], reverse=True)
        pages = max(1, -(-len(chosen) // self.per_page))
        body = {
            "hits": chosen[page * self.per_page : (page + 1) * self.per_page],
            "nbHits": len(chosen),
            "page": page,
            "nbPages": pages,
            "hitsPerPage": self.per_page,
            "processingTimeMS": 1,
        }
        return httpx.Response(200, json=body)


def hn_settings(settings: Settings, **more: Any) -> Settings:
    return settings.model_copy(update={"hn_base_url": HN, "listener_max_retries": 1, **more})


async def make_watch(engine: AsyncEngine, **fields: Any) -> int:
    values = {"name": "polled", "keywords": ["apple"], "platforms": ["hackernews"], **fields}
    async with session_scope(make_sessionmaker(engine)) as session:
        watch = Watch(**values)
        session.add(watch)
        await session.flush()
        assert watch.id is not None
        return watch.id


async def stored_ids(engine: AsyncEngine) -> list[str]:
    async with session_scope(make_sessionmaker(engine)) as session:
        rows = await session.exec(select(Mention.external_id).where(col(Mention.platform) == "hackernews"))
        return sorted(rows)


async def cursor_row(engine: AsyncEngine, watch_id: int) -> ListenerCursor | None:
    async with session_scope(make_sessionmaker(engine)) as session:
        return (await session.exec(select(ListenerCursor).where(col(ListenerCursor.watch_id) == watch_id))).first()


async def run_poll(
    settings: Settings, engine: AsyncEngine, fake: FakeAlgolia, watch_id: int, platform: str = "hackernews"
):
    # A fresh client each time: nothing survives between polls but the database.
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake)) as client:
        return await poll(make_sessionmaker(engine), client, settings, watch_id, platform, sleep=Sleeps())


async def test_a_poll_stores_the_mentions_and_the_cursor_together(settings: Settings, engine: AsyncEngine) -> None:
    hits = recorded_hits()
    watch_id = await make_watch(engine)
    report = await run_poll(hn_settings(settings), engine, FakeAlgolia(hits), watch_id)
    assert report.errors == [] and report.pages == 1 and report.stored == len(hits)
    assert await stored_ids(engine) == sorted(h["objectID"] for h in hits)
    row = await cursor_row(engine, watch_id)
    assert row is not None and (row.platform, row.source) == ("hackernews", "apple")
    assert row.cursor == str(max(h["created_at_i"] for h in hits)) and row.state == {}
    assert report.new_leads  # "Apple" stories and comments match the watch


async def test_a_poll_interrupted_mid_walk_resumes_after_a_restart_with_no_gaps_and_no_duplicates(
    settings: Settings, engine: AsyncEngine
) -> None:
    configured = hn_settings(settings)
    first = recorded_hits()
    watch_id = await make_watch(engine)
    fake = FakeAlgolia(first, per_page=4)
    await run_poll(configured, engine, fake, watch_id)  # first poll: the newest page only, sets the mark
    baseline = await stored_ids(engine)
    mark = (await cursor_row(engine, watch_id)).cursor  # type: ignore[union-attr]

    newer = later_copies(first, start=90_000_000)  # 18 new posts: 5 pages of 4
    fake.hits = first + newer
    fake.fail_on_page = 2  # the platform falls over on the third page
    broken = await run_poll(configured, engine, fake, watch_id)
    assert broken.pages == 2 and broken.errors and "HTTP 503" in broken.errors[0]
    half = await cursor_row(engine, watch_id)
    assert half is not None and half.cursor == mark  # not advanced past what is missing
    assert half.state == {"high": max(h["created_at_i"] for h in newer), "page": 2}

    fake.fail_on_page = None  # "restart": new client, new connector, only the database remembers
    resumed = await run_poll(configured, engine, fake, watch_id)
    assert resumed.errors == [] and resumed.duplicates == 0
    assert await stored_ids(engine) == sorted(set(baseline) | {h["objectID"] for h in newer})
    done = await cursor_row(engine, watch_id)
    assert done is not None and done.cursor == str(max(h["created_at_i"] for h in newer)) and done.state == {}

    quiet = await run_poll(configured, engine, fake, watch_id)
    assert (quiet.stored, quiet.duplicates) == (0, 0)
    assert fake.requests[-1].url.params["numericFilters"] == f"created_at_i>{done.cursor}"


async def test_a_truncated_response_is_quarantined_and_the_cursor_stays(
    settings: Settings, engine: AsyncEngine
) -> None:
    watch_id = await make_watch(engine)
    truncated = httpx.Response(200, content=b'{"hits": [{"objectID": "1", "created_at_i": 14')
    report = await run_poll(hn_settings(settings), engine, lambda r: truncated, watch_id)  # type: ignore[arg-type]
    assert report.stored == 0 and "not valid JSON" in report.errors[0]
    async with session_scope(make_sessionmaker(engine)) as session:
        quarantined = (await session.exec(select(QuarantinedPayload))).all()
    assert [(q.source, q.body[:9]) for q in quarantined] == [("hackernews", '{"hits": ')]
    assert await cursor_row(engine, watch_id) is None


async def test_bad_items_are_quarantined_while_the_rest_of_the_page_is_stored(
    settings: Settings, engine: AsyncEngine
) -> None:
    hits = recorded_hits()
    hits[0] = {**hits[0], "author": 12.5}
    watch_id = await make_watch(engine)
    report = await run_poll(hn_settings(settings), engine, FakeAlgolia(hits), watch_id)
    assert report.stored == len(hits) - 1 and report.quarantined == 1
    async with session_scope(make_sessionmaker(engine)) as session:
        reasons = list(await session.exec(select(QuarantinedPayload.reason)))
    assert any("author must be a string" in r for r in reasons)


async def test_a_long_rate_limit_ends_the_poll_without_sleeping_and_without_moving_the_cursor(
    settings: Settings, engine: AsyncEngine
) -> None:
    watch_id = await make_watch(engine, keywords=["apple", "google"])
    limited = httpx.Response(429, headers={"retry-after": "3600"})
    report = await run_poll(hn_settings(settings), engine, lambda r: limited, watch_id)  # type: ignore[arg-type]
    assert report.sources == 1  # the second source is left for the next poll
    assert "resuming on a later poll" in report.errors[0]
    assert await cursor_row(engine, watch_id) is None


async def test_an_unconfigured_platform_or_an_inactive_watch_is_skipped(
    settings: Settings, engine: AsyncEngine
) -> None:
    watch_id = await make_watch(engine, platforms=["x"])
    report = await run_poll(settings, engine, FakeAlgolia([]), watch_id, platform="x")
    assert "not set" in report.skipped
    inactive = await make_watch(engine, name="off", active=False)
    assert (await run_poll(settings, engine, FakeAlgolia([]), inactive)).skipped == "the watch is inactive or gone"


async def test_the_poll_job_runs_in_the_worker_and_its_new_leads_get_scored(
    settings: Settings, engine: AsyncEngine
) -> None:
    configured = hn_settings(settings)
    watch_id = await make_watch(engine)
    fake = FakeAlgolia(recorded_hits())

    async def startup_with_fake_platform(ctx: dict[str, Any]) -> None:
        await startup(ctx)
        await ctx["http"].aclose()
        ctx["http"] = httpx.AsyncClient(transport=httpx.MockTransport(fake))

    queue = await create_queue(configured)
    try:
        await enqueue(
            queue, "poll_watch", job_id=f"poll:{watch_id}:hackernews:test", watch_id=watch_id, platform="hackernews"
        )
    finally:
        await queue.aclose()
    worker = create_worker(
        configured,
        burst=True,
        handle_signals=False,
        poll_delay=0.01,
        on_startup=startup_with_fake_platform,
        cron_jobs=[],
    )
    try:
        await worker.main()
        completed = worker.jobs_complete
    finally:
        await worker.close()
    async with session_scope(make_sessionmaker(engine)) as session:
        leads = (await session.exec(select(Lead).where(col(Lead.watch_id) == watch_id))).all()
        mentions = (await session.exec(select(func.count()).select_from(Mention))).one()
        unanalysed = (await session.exec(select(func.count()).where(col(Mention.sentiment).is_(None)))).one()
    assert leads and all(lead.score is not None for lead in leads)
    # The poll, a scoring job per new lead and the one page's analysis job.
    assert completed == 1 + len(leads) + 1 and mentions == len(recorded_hits()) and unanalysed == 0


def test_due_polls_picks_active_configured_platforms_whose_interval_elapsed(settings: Settings) -> None:
    now = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)
    fresh = Watch(id=1, name="a", platforms=["hackernews", "x", "nowhere"], poll_interval_seconds=300)
    stale = Watch(id=2, name="b", platforms=["hackernews"], poll_interval_seconds=300)
    last = {(1, "hackernews"): now - timedelta(seconds=60), (2, "hackernews"): now - timedelta(seconds=400)}
    due = due_polls([fresh, stale], last, settings, now)
    slot = int(now.timestamp()) // 300
    assert due == [(2, "hackernews", f"poll:2:hackernews:{slot}")]  # x has no token, "nowhere" no connector


def test_a_watch_without_platforms_is_polled_on_every_configured_platform_once(settings: Settings) -> None:
    now = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)
    anywhere = Watch(id=3, name="c", platforms=[], poll_interval_seconds=300)
    both = Watch(id=4, name="d", platforms=["bluesky", "jetstream"], poll_interval_seconds=300)
    firehose = settings.model_copy(update={"bluesky_firehose": True, "rss_feeds": ["http://feed.test/a.xml"]})
    assert [p for _, p, _ in due_polls([anywhere], {}, firehose, now)] == ["hackernews", "bluesky", "mastodon", "rss"]
    assert [p for _, p, _ in due_polls([both], {}, firehose, now)] == ["bluesky"]  # both read the firehose


async def test_the_scheduler_enqueues_each_due_poll_once_per_slot(settings: Settings, engine: AsyncEngine) -> None:
    due_watch = await make_watch(engine, name="due", platforms=["hackernews", "mastodon"])
    await make_watch(engine, name="paused", active=False)
    queue = await create_queue(settings)
    try:
        ctx = {"settings": settings, "sessionmaker": make_sessionmaker(engine), "redis": queue}
        assert await schedule_polls(ctx) == 2
        await schedule_polls(ctx)  # a second worker's cron in the same minute
        jobs = await queue.queued_jobs()
    finally:
        await queue.aclose()
    assert sorted((j.function, j.kwargs["watch_id"], j.kwargs["platform"]) for j in jobs) == [
        ("poll_watch", due_watch, "hackernews"),
        ("poll_watch", due_watch, "mastodon"),
    ]


def test_the_worker_runs_the_scheduler_every_minute_unless_polling_is_off(settings: Settings) -> None:
    assert cron_jobs(settings) == []
    jobs = cron_jobs(settings.model_copy(update={"listener_polling": True}))
    assert [job.name for job in jobs] == ["schedule_polls"]


async def test_a_poll_already_running_for_the_same_watch_and_platform_is_not_started_twice(
    settings: Settings, engine: AsyncEngine
) -> None:
    watch_id = await make_watch(engine)
    queue = await create_queue(settings)
    try:
        await queue.set(f"{settings.queue_name}:poll-lock:{watch_id}:hackernews", "1", ex=60)
        ctx = {"settings": settings, "sessionmaker": make_sessionmaker(engine), "redis": queue, "http": None}
        report = await poll_watch(ctx, watch_id, "hackernews")
    finally:
        await queue.aclose()
    assert report["skipped"] == "another poll of this watch and platform is running" and report["pages"] == 0
