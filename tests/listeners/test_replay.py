from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, func, select
from websockets.asyncio.client import connect

from crm.db import SessionMaker, make_sessionmaker, session_scope
from crm.demo import REPLAY_POLLS, REPLAY_WATCH
from crm.models import Lead, Mention, PlatformAccount, Watch
from crm.settings import Settings
from listeners.platforms import REGISTRY
from listeners.platforms.bluesky import Profiles
from listeners.platforms.reddit import Reddit
from listeners.platforms.replay import LABEL, ReplayServer, jetstream_events
from listeners.polling import poll
from tests.listeners.platform_fakes import Sleeps

PLATFORMS = ["hackernews", "reddit", "x", "mastodon", "bluesky", "rss"]
KEYWORDS = ["api", "python", "apple", "course", "editor", "toot", "band", "video", "show"]


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    Reddit._tokens.clear()
    Profiles._cache.clear()
    yield
    Reddit._tokens.clear()
    Profiles._cache.clear()


@pytest.fixture
async def replay() -> AsyncIterator[ReplayServer]:
    async with ReplayServer() as server:
        yield server


async def make_watch(engine: AsyncEngine) -> tuple[SessionMaker, int]:
    sessionmaker = make_sessionmaker(engine)
    async with session_scope(sessionmaker) as session:
        watch = Watch(name="replayed", keywords=KEYWORDS, platforms=PLATFORMS)
        session.add(watch)
        await session.flush()
        assert watch.id is not None
        return sessionmaker, watch.id


async def test_the_replay_serves_on_a_loopback_port_and_labels_itself(replay: ReplayServer) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{replay.base_url}/hn/api/v1/search_by_date", params={"query": "apple"})
        missing = await client.get(f"{replay.base_url}/nowhere")
    assert replay.base_url.startswith("http://127.0.0.1:")
    assert answer.status_code == 200 and answer.headers["x-replay"] == LABEL
    assert answer.json()["hits"]
    assert missing.status_code == 404 and "no recording" in missing.json()["error"]


async def test_bluesky_search_answers_with_recorded_posts_newest_first_filtered_and_paged(replay: ReplayServer) -> None:
    url = f"{replay.base_url}/bluesky/xrpc/app.bsky.feed.searchPosts"
    async with httpx.AsyncClient() as client:
        everything = (await client.get(url, params={"q": "", "limit": 100})).json()
        first = (await client.get(url, params={"q": "", "limit": 5})).json()
        second = (await client.get(url, params={"q": "", "limit": 5, "cursor": first["cursor"]})).json()
        band = (await client.get(url, params={"q": "band"})).json()
    posts = everything["posts"]
    stamps = [p["record"]["createdAt"] for p in posts]
    assert posts and stamps == sorted(stamps, reverse=True) and "cursor" not in everything
    assert [p["uri"] for p in first["posts"] + second["posts"]] == [p["uri"] for p in posts[:10]]
    assert band["posts"] and all("band" in p["record"]["text"].casefold() for p in band["posts"])
    assert len(band["posts"]) < len(posts)


async def test_the_jetstream_replay_is_a_websocket_that_starts_at_the_cursor(replay: ReplayServer) -> None:
    events = jetstream_events()
    cursor = events[100][0]
    async with connect(f"{replay.jetstream_url}?cursor={cursor}", max_queue=None) as socket:  # closes without draining
        first = json.loads(await socket.recv())
    assert first["time_us"] == cursor


async def test_every_connector_fills_a_watch_from_the_replay_and_a_second_poll_finds_nothing_new(
    replay: ReplayServer, settings: Settings, engine: AsyncEngine
) -> None:
    configured = settings.model_copy(update=replay.settings())
    sessionmaker, watch_id = await make_watch(engine)
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


async def test_the_firehose_fills_a_watch_from_the_replayed_jetstream_and_search_finds_the_same_posts_known(
    replay: ReplayServer, settings: Settings, engine: AsyncEngine
) -> None:
    configured = settings.model_copy(update=replay.settings())
    sessionmaker, watch_id = await make_watch(engine)
    async with httpx.AsyncClient() as client:
        firehose = await poll(sessionmaker, client, configured, watch_id, "jetstream", sleep=Sleeps())
        again = await poll(sessionmaker, client, configured, watch_id, "jetstream", sleep=Sleeps())
        search = await poll(sessionmaker, client, configured, watch_id, "bluesky", sleep=Sleeps())
    assert firehose.errors == [] and firehose.stored > 0 and firehose.new_leads
    assert again.stored == 0  # the rewound cursor replays a few seconds; nothing is stored twice
    # Search finds the same recorded posts again: each one the firehose stored is a known duplicate now.
    assert search.errors == [] and search.duplicates >= firehose.stored
    async with session_scope(sessionmaker) as session:
        accounts = list(await session.exec(select(PlatformAccount).where(col(PlatformAccount.platform) == "bluesky")))
    # The capture has no handles and the replayed getProfiles knows no one: each author is kept under their DID.
    assert accounts and all(a.handle == a.external_id and a.handle.startswith("did:plc:") for a in accounts)


def test_the_demo_polls_every_connector_the_replay_configures(settings: Settings) -> None:
    configured = {
        name for name, cls in REGISTRY.items() if cls.configured(settings.model_copy(update=ReplayServer().settings()))
    }
    assert configured <= set(REPLAY_POLLS)
    assert set(REPLAY_POLLS) - {"jetstream"} == set(REPLAY_WATCH["platforms"])
