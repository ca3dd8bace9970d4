from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, func, select

from crm.db import make_sessionmaker, session_scope
from crm.models import Lead, Mention, Watch
from crm.settings import Settings
from listeners.platforms.reddit import Reddit
from listeners.platforms.replay import LABEL, ReplayServer
from listeners.polling import poll
from tests.listeners.platform_fakes import Sleeps

PLATFORMS = ["hackernews", "reddit", "x", "mastodon", "rss"]


@pytest.fixture
async def replay() -> AsyncIterator[ReplayServer]:
    Reddit._tokens.clear()
    async with ReplayServer() as server:
        yield server
    Reddit._tokens.clear()


async def test_the_replay_serves_on_a_loopback_port_and_labels_itself(replay: ReplayServer) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{replay.base_url}/hn/api/v1/search_by_date", params={"query": "apple"})
        missing = await client.get(f"{replay.base_url}/nowhere")
    assert replay.base_url.startswith("http://127.0.0.1:")
    assert answer.status_code == 200 and answer.headers["x-replay"] == LABEL
    assert answer.json()["hits"]
    assert missing.status_code == 404 and "no recording" in missing.json()["error"]


async def test_every_connector_fills_a_watch_from_the_replay_and_a_second_poll_finds_nothing_new(
    replay: ReplayServer, settings: Settings, engine: AsyncEngine
) -> None:
    configured = settings.model_copy(update=replay.settings())
    sessionmaker = make_sessionmaker(engine)
    async with session_scope(sessionmaker) as session:
        watch = Watch(
            name="replayed", keywords=["api", "python", "apple", "course", "editor", "toot"], platforms=PLATFORMS
        )
        session.add(watch)
        await session.flush()
        watch_id = watch.id
    assert watch_id is not None
    async with httpx.AsyncClient() as client:
        first = {p: await poll(sessionmaker, client, configured, watch_id, p, sleep=Sleeps()) for p in PLATFORMS}
        second = {p: await poll(sessionmaker, client, configured, watch_id, p, sleep=Sleeps()) for p in PLATFORMS}
    assert {p: r.errors for p, r in first.items()} == {p: [] for p in PLATFORMS}
    assert all(r.stored > 0 for r in first.values()), {p: r.stored for p, r in first.items()}
    assert {p: (r.stored, r.duplicates) for p, r in second.items()} == {p: (0, 0) for p in PLATFORMS}
    async with session_scope(sessionmaker) as session:
        stored = dict(
            (await session.exec(select(Mention.platform, func.count()).group_by(col(Mention.platform)))).all()
        )
        leads = (await session.exec(select(func.count()).select_from(Lead))).one()
    assert set(stored) == set(PLATFORMS) and leads > 0
