from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from websockets.asyncio.server import ServerConnection, serve

from crm.db import make_sessionmaker, session_scope
from crm.models import ListenerCursor, Mention, PlatformAccount, Watch
from crm.settings import Settings
from listeners.base import RawMention
from listeners.intake import Rejected
from listeners.matching import WatchMatcher
from listeners.platforms.bluesky import Profiles
from listeners.platforms.jetstream import Jetstream
from listeners.polling import poll
from tests.listeners.platform_fakes import FIXTURES, Sleeps, collect, make_http, make_settings, make_watch

KEYWORDS = ["band", "video", "show"]


def recorded_events() -> list[str]:
    lines = (FIXTURES / "bluesky" / "jetstream_v1_capture_2026-07-04.jsonl").read_text(encoding="utf-8").splitlines()
    return sorted((line for line in lines if line.strip()), key=lambda line: json.loads(line)["time_us"])


def posts_matching(events: list[str]) -> set[str]:
    """The recorded post creates the watch matches (matching itself is tested with the matcher)."""
    matcher = WatchMatcher(keywords=KEYWORDS)
    found = set()
    for line in events:
        event = json.loads(line)
        commit = event.get("commit") or {}
        text = (commit.get("record") or {}).get("text", "")
        is_post = commit.get("collection") == "app.bsky.feed.post" and commit.get("operation") == "create"
        if is_post and text and matcher.match(text):
            found.add(f"at://{event['did']}/app.bsky.feed.post/{commit['rkey']}")
    assert len(found) >= 3  # the recorded sample has several: a test of nothing would pass too easily
    return found


@dataclass
class ReplayJetstream:
    """A real websockets server on 127.0.0.1 replaying recorded events from the requested cursor, like Jetstream."""

    events: list[str]
    drop_after: int | None = None  # close the first connection abruptly after this many events
    connections: list[dict[str, list[str]]] = field(default_factory=list)
    url: str = ""

    async def handler(self, socket: ServerConnection) -> None:
        assert socket.request is not None
        params = parse_qs(urlsplit(socket.request.path).query)
        self.connections.append(params)
        cursor = int(params["cursor"][0]) if "cursor" in params else 0
        sent = 0
        for line in self.events:
            if line.startswith('{"') and json.loads(line)["time_us"] < cursor:
                continue
            if self.drop_after is not None and len(self.connections) == 1 and sent == self.drop_after:
                await socket.close(code=1011, reason="upstream went away")
                return
            await socket.send(line)
            sent += 1
        await socket.wait_closed()


@pytest.fixture
async def jetstream() -> AsyncIterator[ReplayJetstream]:
    replay = ReplayJetstream(recorded_events())
    async with serve(replay.handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        replay.url = f"ws://127.0.0.1:{port}/subscribe"
        yield replay


def no_profiles(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"profiles": []})


def jetstream_client(
    url: str, profiles: Callable[[httpx.Request], httpx.Response] = no_profiles, **settings: Any
) -> tuple[Jetstream, Sleeps]:
    http, sleeps = make_http(profiles, "jetstream")
    values = {"jetstream_url": url, "jetstream_idle_seconds": 0.3, "bluesky_base_url": "http://bsky.test", **settings}
    return Jetstream(http, make_settings(**values)), sleeps


@pytest.fixture(autouse=True)
def _fresh_profiles() -> Iterator[None]:
    Profiles._cache.clear()
    yield
    Profiles._cache.clear()


def handle_for(did: str) -> str:
    return f"{did.removeprefix('did:plc:')[:8]}.bsky.test"


def some_profiles(known: set[str] | None = None) -> Callable[[httpx.Request], httpx.Response]:
    """getProfiles answering for the DIDs in `known` (all when None), the way the AppView omits unknown actors."""

    def answer(request: httpx.Request) -> httpx.Response:
        actors = request.url.params.get_list("actors")
        found = [a for a in actors if known is None or a in known]
        profiles = [{"did": d, "handle": handle_for(d), "displayName": "Someone", "followersCount": 42} for d in found]
        return httpx.Response(200, json={"profiles": profiles})

    return answer


def did_of(uri: str) -> str:
    return uri.split("/")[2]


async def test_the_firehose_is_read_from_a_local_server_and_only_matching_posts_are_kept(
    jetstream: ReplayJetstream,
) -> None:
    client, _ = jetstream_client(jetstream.url)
    pages = await collect(client, make_watch(KEYWORDS), "app.bsky.feed.post")
    mentions = [i for p in pages for i in p.items if isinstance(i, RawMention)]
    assert {m.external_id for m in mentions} == posts_matching(jetstream.events)
    assert all(m.platform == "bluesky" and m.author.handle.startswith("did:plc:") for m in mentions)
    assert all(m.created_at.tzinfo is not None for m in mentions)
    assert jetstream.connections[0]["wantedCollections"] == ["app.bsky.feed.post"]
    assert "cursor" not in jetstream.connections[0]
    assert pages[-1].cursor == str(json.loads(jetstream.events[-1])["time_us"])


async def test_deletes_arrive_as_ids_to_erase(jetstream: ReplayJetstream) -> None:
    client, _ = jetstream_client(jetstream.url)
    pages = await collect(client, make_watch(KEYWORDS), "app.bsky.feed.post")
    deleted = [d for p in pages for d in p.deleted]
    expected = [
        f"at://{e['did']}/app.bsky.feed.post/{e['commit']['rkey']}"
        for e in map(json.loads, jetstream.events)
        if e.get("commit", {}).get("operation") == "delete" and e["commit"]["collection"] == "app.bsky.feed.post"
    ]
    assert deleted == expected and deleted


async def test_a_later_read_rewinds_the_cursor_a_few_seconds(jetstream: ReplayJetstream) -> None:
    client, _ = jetstream_client(jetstream.url, jetstream_rewind_seconds=5)
    cursor = json.loads(jetstream.events[40])["time_us"]
    await collect(client, make_watch(KEYWORDS), "app.bsky.feed.post", cursor=str(cursor))
    assert jetstream.connections[0]["cursor"] == [str(cursor - 5_000_000)]


async def test_a_dropped_connection_is_reopened_from_the_last_event_rewound(jetstream: ReplayJetstream) -> None:
    jetstream.drop_after = 50
    client, sleeps = jetstream_client(jetstream.url, jetstream_rewind_seconds=1)
    pages = await collect(client, make_watch(KEYWORDS), "app.bsky.feed.post")
    assert len(jetstream.connections) == 2 and len(sleeps) == 1
    last_before_drop = json.loads(jetstream.events[49])["time_us"]
    assert jetstream.connections[1]["cursor"] == [str(last_before_drop - 1_000_000)]
    mentions = {i.external_id for p in pages for i in p.items if isinstance(i, RawMention)}
    assert mentions == posts_matching(jetstream.events)  # no gap across the drop


async def test_garbage_frames_are_rejected_and_the_stream_goes_on(jetstream: ReplayJetstream) -> None:
    jetstream.events = [
        "{not json",
        '{"did": "did:plc:x", "time_us": 1, "kind": "commit", "commit": {"collection": "app.bsky.feed.post", "operation": "create", "rkey": "r", "record": {"text": "a band", "createdAt": "soon"}}}',
        *jetstream.events[:5],
    ]
    client, _ = jetstream_client(jetstream.url)
    items = (await collect(client, make_watch(KEYWORDS), "app.bsky.feed.post"))[0].items
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert len(rejected) == 2
    assert rejected[0].reason.startswith("jetstream event is not valid JSON") and rejected[0].body == "{not json"
    assert "record.createdAt" in rejected[1].reason


async def test_a_firehose_poll_stores_posts_erases_deletes_and_a_restart_stores_nothing_twice(
    jetstream: ReplayJetstream, settings: Settings, engine: AsyncEngine
) -> None:
    configured = settings.model_copy(
        update={"bluesky_firehose": True, "jetstream_url": jetstream.url, "jetstream_idle_seconds": 0.3}
    )
    deleted_event = next(
        e
        for e in map(json.loads, jetstream.events)
        if e.get("commit", {}).get("operation") == "delete" and e["commit"]["collection"] == "app.bsky.feed.post"
    )
    deleted_uri = f"at://{deleted_event['did']}/app.bsky.feed.post/{deleted_event['commit']['rkey']}"
    sessionmaker = make_sessionmaker(engine)
    async with session_scope(sessionmaker) as session:
        watch = Watch(name="firehose", keywords=KEYWORDS, platforms=["bluesky"])
        session.add(watch)
        # A post stored earlier (say by search) that its author has since deleted.
        session.add(Mention(platform="bluesky", external_id=deleted_uri, text="band news", url="https://bsky.app/x"))
        await session.flush()
        watch_id = watch.id
    assert watch_id is not None
    async with httpx.AsyncClient() as client:
        first = await poll(sessionmaker, client, configured, watch_id, "bluesky", sleep=Sleeps())
        second = await poll(sessionmaker, client, configured, watch_id, "bluesky", sleep=Sleeps())
    assert first.errors == [] and first.stored == len(posts_matching(jetstream.events)) and first.erased == 1
    assert second.stored == 0  # the rewind replays a few seconds; the store skips what it has
    async with session_scope(sessionmaker) as session:
        erased = (await session.exec(select(Mention).where(col(Mention.external_id) == deleted_uri))).one()
        row = (await session.exec(select(ListenerCursor))).one()
    assert (erased.text, erased.url, erased.raw) == ("", "", {"deleted": True})
    assert (row.platform, row.cursor) == ("jetstream", str(json.loads(jetstream.events[-1])["time_us"]))
    assert "cursor" in jetstream.connections[-1]


async def test_authors_are_resolved_from_their_did_to_a_handle_when_the_profile_is_known(
    jetstream: ReplayJetstream,
) -> None:
    matching = sorted(posts_matching(jetstream.events))
    known = {did_of(matching[0])}
    client, _ = jetstream_client(jetstream.url, some_profiles(known))
    pages = await collect(client, make_watch(KEYWORDS), "app.bsky.feed.post")
    mentions = {i.external_id: i for p in pages for i in p.items if isinstance(i, RawMention)}
    assert set(mentions) == set(matching)  # resolving or not, no mention is lost
    resolved = mentions[matching[0]]
    assert (resolved.author.handle, resolved.author.external_id) == (
        handle_for(did_of(matching[0])),
        did_of(matching[0]),
    )
    assert resolved.author.followers == 42 and resolved.url.startswith(
        f"https://bsky.app/profile/{resolved.author.handle}/"
    )
    others = [m for uri, m in mentions.items() if did_of(uri) not in known]
    assert others and all(m.author.handle == m.author.external_id == did_of(m.external_id) for m in others)


async def test_a_failing_profile_lookup_keeps_every_mention_under_its_did(jetstream: ReplayJetstream) -> None:
    client, _ = jetstream_client(jetstream.url, lambda r: httpx.Response(400))
    pages = await collect(client, make_watch(KEYWORDS), "app.bsky.feed.post")
    mentions = [i for p in pages for i in p.items if isinstance(i, RawMention)]
    assert {m.external_id for m in mentions} == posts_matching(jetstream.events)
    assert all(m.author.handle == m.author.external_id for m in mentions)


async def firehose_poll(
    sessionmaker: Any, settings: Settings, jetstream: ReplayJetstream, watch_id: int, profiles: Any
) -> Any:
    configured = settings.model_copy(
        update={
            "bluesky_firehose": True,
            "jetstream_url": jetstream.url,
            "jetstream_idle_seconds": 0.3,
            "bluesky_base_url": "http://bsky.test",
        }
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(profiles)) as client:
        return await poll(sessionmaker, client, configured, watch_id, "bluesky", sleep=Sleeps())


async def test_accounts_are_keyed_by_did_so_a_later_resolution_renames_rather_than_duplicates(
    jetstream: ReplayJetstream, settings: Settings, engine: AsyncEngine
) -> None:
    matching = posts_matching(jetstream.events)
    authors = {did_of(uri) for uri in matching}
    sessionmaker = make_sessionmaker(engine)
    async with session_scope(sessionmaker) as session:
        watch = Watch(name="firehose", keywords=KEYWORDS, platforms=["bluesky"])
        session.add(watch)
        await session.flush()
        watch_id = watch.id
    assert watch_id is not None
    first = await firehose_poll(sessionmaker, settings, jetstream, watch_id, lambda r: httpx.Response(400))
    Profiles._cache.clear()
    again = await firehose_poll(sessionmaker, settings, jetstream, watch_id, some_profiles())
    assert first.stored == len(matching) and again.stored == 0
    async with session_scope(sessionmaker) as session:
        accounts = list(await session.exec(select(PlatformAccount).where(col(PlatformAccount.platform) == "bluesky")))
        linked = set(await session.exec(select(Mention.account_id).where(col(Mention.platform) == "bluesky")))
    assert {a.external_id for a in accounts} == authors and len(accounts) == len(authors)
    assert {a.handle for a in accounts} == {handle_for(d) for d in authors}
    assert linked == {a.id for a in accounts}


async def test_an_unresolved_post_joins_the_account_already_known_for_its_did(
    jetstream: ReplayJetstream, settings: Settings, engine: AsyncEngine
) -> None:
    matching = sorted(posts_matching(jetstream.events))
    did = did_of(matching[0])
    sessionmaker = make_sessionmaker(engine)
    async with session_scope(sessionmaker) as session:
        watch = Watch(name="firehose", keywords=KEYWORDS, platforms=["bluesky"])
        known = PlatformAccount(platform="bluesky", handle="known.bsky.social", external_id=did, followers=900)
        session.add_all([watch, known])
        await session.flush()
        watch_id, known_id = watch.id, known.id
    assert watch_id is not None
    report = await firehose_poll(sessionmaker, settings, jetstream, watch_id, lambda r: httpx.Response(503))
    assert report.stored == len(matching)
    async with session_scope(sessionmaker) as session:
        mention = (await session.exec(select(Mention).where(col(Mention.external_id) == matching[0]))).one()
        same_did = list(await session.exec(select(PlatformAccount).where(col(PlatformAccount.external_id) == did)))
    assert mention.account_id == known_id
    assert [(a.handle, a.followers) for a in same_did] == [("known.bsky.social", 900)]
