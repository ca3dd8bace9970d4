from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from crm.db import make_sessionmaker, session_scope
from crm.models import ListenerCursor, Mention, QuarantinedPayload, Watch
from crm.settings import Settings
from listeners.base import RawMention
from listeners.intake import Rejected
from listeners.platforms.http import BadResponse, PlatformUnavailable
from listeners.platforms.mastodon import LIMIT, MAX_RECONNECTS, Mastodon, SseParser, mastodon_mention, stream_updates
from listeners.polling import poll
from tests.listeners.platform_fakes import (
    Answer,
    LocalMastodon,
    Sleeps,
    cassette_body,
    collect,
    json_response,
    make_connector,
    make_http,
    make_settings,
    make_watch,
    sse,
)

SETTINGS = {"mastodon_base_url": "http://social.test", "mastodon_token": "masto-token"}


def tag_timeline() -> list[dict[str, Any]]:
    return copy.deepcopy(cassette_body("mastodon", "test_hashtag_tl.json", "timelines/tag/hoot"))


def sse_text() -> str:
    return cassette_body("mastodon", "test_stream_user_local.json", "streaming/user")


def numbered(status: dict[str, Any], n: int) -> dict[str, Any]:
    copy_ = copy.deepcopy(status)
    copy_["id"] = str(n)
    copy_["uri"] = f"http://social.test/statuses/{n}"
    return copy_


def test_a_recorded_status_becomes_a_mention_with_plain_text_and_a_qualified_handle() -> None:
    status = tag_timeline()[0]
    mention = mastodon_mention(status)
    assert isinstance(mention, RawMention)
    assert mention.text == "#hoot (hashtag toot)"
    assert mention.author.handle == "mastodonpy_test_2@localhost"
    assert mention.external_id == status["uri"]
    assert mention.url == status["url"]
    assert mention.language == "ja"
    assert (mention.author.followers, mention.author.posts_count) == (0, 3)
    assert mention.created_at.tzinfo is not None


def test_boosts_are_skipped_in_favour_of_the_original_post() -> None:
    status = tag_timeline()[0]
    boost = {**status, "reblog": copy.deepcopy(status)}
    assert mastodon_mention(boost) is None


async def test_the_tag_timeline_is_read_with_the_token_and_the_cursor_becomes_the_newest_id() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(tag_timeline())

    mastodon, _ = make_connector(Mastodon, handler, **SETTINGS)
    watch = make_watch(["hoot", "Lead Tracking"])
    assert mastodon.sources(watch) == ["hoot", "leadtracking"]
    pages = await collect(mastodon, watch, "hoot")
    assert seen[0].url.path == "/api/v1/timelines/tag/hoot"
    assert seen[0].headers["authorization"] == "Bearer masto-token"
    assert "min_id" not in seen[0].url.params
    assert pages[0].cursor == "117020593741189701" and pages[0].done


async def test_min_id_paging_follows_the_prev_link_forward_and_moves_the_cursor_each_page() -> None:
    base = tag_timeline()[0]
    full = [numbered(base, n) for n in range(100 + LIMIT, 100, -1)]  # a full page: newest first
    tail = [numbered(base, 200), numbered(base, 199)]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            link = f'<http://social.test/api/v1/timelines/tag/hoot?max_id=101>; rel="next", <http://social.test/api/v1/timelines/tag/hoot?min_id={100 + LIMIT}>; rel="prev"'
            return json_response(full, link=link)
        return json_response(tail)

    mastodon, _ = make_connector(Mastodon, handler, **SETTINGS)
    pages = await collect(mastodon, make_watch(["hoot"]), "hoot", cursor="100")
    assert seen[0].url.params["min_id"] == "100"
    assert seen[1].url.params["min_id"] == str(100 + LIMIT)
    assert [p.cursor for p in pages] == [str(100 + LIMIT), "200"]
    assert [p.done for p in pages] == [False, True]


async def test_a_truncated_timeline_is_a_bad_response() -> None:
    text = json.dumps(tag_timeline())[:300]
    mastodon, _ = make_connector(Mastodon, lambda r: httpx.Response(200, text=text), **SETTINGS)
    with pytest.raises(BadResponse, match="truncated"):
        await collect(mastodon, make_watch(["hoot"]), "hoot")


async def test_wrong_types_are_rejected_and_unknown_fields_tolerated() -> None:
    good, bad_account, bad_time = (tag_timeline()[0] for _ in range(3))
    good = {**good, "a_new_mastodon_field": {"x": 1}, "favourites_count": "7"}
    bad_account = {**bad_account, "account": "someone"}
    bad_time = {**bad_time, "created_at": 12.5e30}
    mastodon, _ = make_connector(Mastodon, lambda r: json_response([good, bad_account, bad_time]), **SETTINGS)
    items = (await collect(mastodon, make_watch(["hoot"]), "hoot"))[0].items
    assert isinstance(items[0], RawMention) and items[0].likes == 7
    assert isinstance(items[1], Rejected) and "account must be an object" in items[1].reason
    assert isinstance(items[2], Rejected) and "out of range" in items[2].reason


async def lines_of(text: str) -> AsyncIterator[str]:
    for line in text.splitlines():
        yield line


async def test_the_streaming_api_update_events_become_mentions_and_deletes_become_ids() -> None:
    text = sse_text() + "\nevent: delete\ndata: 117024248092393661\n\nevent: update\ndata: {broken\n\n"
    out = [item async for item in stream_updates(lines_of(text))]
    mentions = [o for o in out if isinstance(o, RawMention)]
    assert mentions and mentions[0].text == "it's cool guy"
    assert "117024248092393661" in [o for o in out if isinstance(o, str)]
    assert isinstance(out[-1], Rejected) and "not valid JSON" in out[-1].reason


def test_the_sse_parser_joins_data_lines_skips_heartbeats_and_ignores_unknown_fields() -> None:
    parser = SseParser()
    lines = [":thump", "event: update", "id: 7", 'data: {"a":', "data: 1}", "retry: 10", ""]
    assert [parser.feed(line) for line in lines][-1] == ("update", '{"a":\n1}')
    assert parser.feed(":thump") is None and parser.feed("") is None


# --------------------------------------------------------------------------- against a local Mastodon server


def statuses(first: int, last: int) -> list[dict[str, Any]]:
    base = tag_timeline()[0]
    return [numbered(base, n) for n in range(first, last + 1)]


def ids_of(pages: list[Any]) -> list[str]:
    return [i.raw["id"] for p in pages for i in p.items if isinstance(i, RawMention)]


def local_connector(server: LocalMastodon, **settings: Any) -> tuple[Mastodon, Sleeps]:
    http, sleeps = make_http(lambda r: httpx.Response(500), "mastodon")
    values = {"mastodon_base_url": server.base_url, "mastodon_backfill_statuses": 90, **settings}
    return Mastodon(http, make_settings(**values)), sleeps


async def test_a_first_read_backfills_newest_first_with_max_id_down_to_the_configured_depth() -> None:
    async with LocalMastodon(statuses(1001, 1100)) as server, httpx.AsyncClient() as client:
        mastodon, _ = local_connector(server)
        mastodon.http.client = client
        pages = await collect(mastodon, make_watch(["hoot"]), "hoot")
    requests = server.timeline("hoot")
    assert [q.get("max_id") for _, q in requests] == [None, "1061", "1021"]
    assert [q["limit"] for _, q in requests] == ["40", "40", "10"]
    assert ids_of(pages) == [str(n) for n in range(1100, 1010, -1)]  # the newest 90, once each
    # The cursor is set only when the walk is over; until then the state says where to carry on.
    assert [p.cursor for p in pages] == ["", "", "1100"]
    assert pages[0].state == {"high": "1100", "max_id": "1061", "fetched": 40}


async def test_a_backfill_stopped_part_way_carries_on_from_its_state() -> None:
    async with LocalMastodon(statuses(1001, 1100)) as server, httpx.AsyncClient() as client:
        mastodon, _ = local_connector(server)
        mastodon.http.client = client
        state = {"high": "1100", "max_id": "1061", "fetched": 40}
        pages = await collect(mastodon, make_watch(["hoot"]), "hoot", state=state)
    assert ids_of(pages) == [str(n) for n in range(1060, 1010, -1)]
    assert pages[-1].cursor == "1100"


async def test_later_reads_page_forward_with_min_id_from_the_cursor() -> None:
    async with LocalMastodon(statuses(1001, 1100)) as server, httpx.AsyncClient() as client:
        mastodon, _ = local_connector(server)
        mastodon.http.client = client
        pages = await collect(mastodon, make_watch(["hoot"]), "hoot", cursor="1050")
    assert [q.get("min_id") for _, q in server.timeline("hoot")] == ["1050", "1090"]
    assert sorted(ids_of(pages)) == [str(n) for n in range(1051, 1101)]
    assert [(p.cursor, p.done) for p in pages] == [("1090", False), ("1100", True)]


@pytest.mark.parametrize(
    ("headers", "waited"),
    [({"retry-after": "7"}, 7.0), ({"x-ratelimit-reset": "2100-01-01T00:00:07.000Z"}, None)],
    ids=["retry-after", "x-ratelimit-reset"],
)
async def test_a_429_from_the_instance_is_waited_out_as_its_headers_say(
    headers: dict[str, str], waited: float | None
) -> None:
    answer = Answer(429, {"x-ratelimit-remaining": "0", **headers}, b'{"error":"Too many requests"}')
    async with LocalMastodon(statuses(1001, 1005), timeline_answers=[answer]) as server, httpx.AsyncClient() as client:
        mastodon, sleeps = local_connector(server)
        mastodon.http.client = client
        mastodon.http.policy = replace(mastodon.http.policy, max_wait=10**10)
        pages = await collect(mastodon, make_watch(["hoot"]), "hoot")
    assert len(server.timeline("hoot")) == 2 and ids_of(pages)
    assert len(sleeps) == 1
    if waited is not None:  # the asked seconds plus a little jitter
        assert waited <= sleeps[0] <= waited + mastodon.http.policy.base_delay
    else:  # an ISO 8601 reset time far ahead: seconds until then
        assert sleeps[0] > 365 * 24 * 3600


async def test_polls_backfill_then_resume_from_the_durable_cursor_with_no_gaps_or_duplicates(
    settings: Settings, engine: AsyncEngine
) -> None:
    sessionmaker = make_sessionmaker(engine)
    async with session_scope(sessionmaker) as session:
        watch = Watch(name="tags", keywords=["hoot"], platforms=["mastodon"])
        session.add(watch)
        await session.flush()
        watch_id = watch.id
    assert watch_id is not None
    async with LocalMastodon(statuses(1001, 1100)) as server, httpx.AsyncClient() as client:
        configured = settings.model_copy(
            update={"mastodon_base_url": server.base_url, "mastodon_backfill_statuses": 90, "listener_max_pages": 1}
        )
        reports = [await poll(sessionmaker, client, configured, watch_id, "mastodon", sleep=Sleeps()) for _ in range(3)]
        for status in statuses(1101, 1145):
            server.post(status)
        reports += [
            await poll(sessionmaker, client, configured, watch_id, "mastodon", sleep=Sleeps()) for _ in range(3)
        ]
    assert [r.errors for r in reports] == [[]] * 6
    assert [r.stored for r in reports] == [40, 40, 10, 40, 5, 0]
    assert sum(r.duplicates for r in reports) == 0
    async with session_scope(sessionmaker) as session:
        stored = sorted(int(m.raw["id"]) for m in await session.exec(select(Mention)))
        cursor = (await session.exec(select(ListenerCursor))).one()
    assert stored == list(range(1011, 1146))
    assert (cursor.cursor, cursor.state) == ("1145", {})


# --------------------------------------------------------------------------- the hashtag stream


async def test_the_stream_reconnects_after_a_drop_and_fills_the_gap_through_the_timeline() -> None:
    first, missed, after = statuses(2001, 2003)
    server = LocalMastodon(
        statuses=[],
        sessions=[
            [
                lambda: server.until_timeline_read(2),  # the first read and the fill on connecting
                ":thump\n\n",
                sse("update", json.dumps(first)),
                "event: update\ndata: {broken\n\n",
                lambda: server.post(missed),  # posted just as the stream drops: only the timeline will have it
                LocalMastodon.DROP,
            ],
            [sse("update", json.dumps(missed)), sse("delete", "2001"), sse("update", json.dumps(after))],
        ],
    )
    async with server, httpx.AsyncClient() as client:
        mastodon, sleeps = local_connector(server, mastodon_stream_seconds=1.5)
        mastodon.http.client = client
        pages = await collect(mastodon, make_watch(["hoot"]), "hoot", cursor="2000")
    streams = [q for p, q in server.requests if p == "/api/v1/streaming/hashtag"]
    assert streams == [{"tag": "hoot"}, {"tag": "hoot"}]
    # Caught up to 2000, the stream opens, sees 2001 and drops; the reconnect fills the gap from 2001.
    assert [q.get("min_id") for _, q in server.timeline("hoot")] == ["2000", "2000", "2001"]
    # Each status once, in the order it was learnt of, though the fill and the stream both carried 2002.
    assert ids_of(pages) == ["2001", "2002", "2003"]
    rejected = [i for p in pages for i in p.items if isinstance(i, Rejected)]
    assert len(rejected) == 1 and rejected[0].body == "{broken"
    assert [d for p in pages for d in p.deleted] == [first["uri"]]
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= mastodon.http.policy.base_delay * 2
    assert pages[-1].cursor == "2003" and all(p.live for p in pages[1:])


async def test_a_rate_limited_stream_connection_waits_as_told_then_connects() -> None:
    event = statuses(3001, 3001)[0]
    server = LocalMastodon(
        sessions=[[sse("update", json.dumps(event))]],
        stream_answers=[Answer(429, {"retry-after": "3"}, b"{}")],
    )
    async with server, httpx.AsyncClient() as client:
        mastodon, sleeps = local_connector(server, mastodon_stream_seconds=0.8)
        mastodon.http.client = client
        pages = await collect(mastodon, make_watch(["hoot"]), "hoot")
    assert ids_of(pages) == ["3001"]
    assert 3 <= sleeps[0] <= 3 + mastodon.http.policy.base_delay


async def test_a_stream_that_keeps_failing_gives_up_after_bounded_reconnects() -> None:
    server = LocalMastodon(sessions=[[LocalMastodon.END] for _ in range(20)])
    async with server, httpx.AsyncClient() as client:
        mastodon, sleeps = local_connector(server, mastodon_stream_seconds=30)
        mastodon.http.client = client
        with pytest.raises(PlatformUnavailable, match="in a row"):
            await collect(mastodon, make_watch(["hoot"]), "hoot")
    assert len(sleeps) == MAX_RECONNECTS
    # Full jitter: each wait is random but under a ceiling that doubles with every failure in a row.
    assert all(0 <= wait <= mastodon.http.policy.base_delay * 2**n for n, wait in enumerate(sleeps, start=1))
    assert len(set(sleeps)) == len(sleeps)


async def test_a_streamed_poll_quarantines_malformed_events_and_keeps_the_cursor_at_the_last_status(
    settings: Settings, engine: AsyncEngine
) -> None:
    sessionmaker = make_sessionmaker(engine)
    async with session_scope(sessionmaker) as session:
        watch = Watch(name="streamed", keywords=["hoot"], platforms=["mastodon"])
        session.add(watch)
        await session.flush()
        watch_id = watch.id
    assert watch_id is not None
    old, live = statuses(4001, 4002)
    server = LocalMastodon(
        statuses=[old],
        sessions=[[sse("update", json.dumps(live)), 'event: update\ndata: {"id": "oops"}\n\n']],
    )
    async with server, httpx.AsyncClient() as client:
        configured = settings.model_copy(
            update={"mastodon_base_url": server.base_url, "mastodon_stream_seconds": 1.0, "listener_max_pages": 1}
        )
        report = await poll(sessionmaker, client, configured, watch_id, "mastodon", sleep=Sleeps())
    assert report.errors == [] and report.stored == 2 and report.quarantined == 1
    async with session_scope(sessionmaker) as session:
        cursor = (await session.exec(select(ListenerCursor))).one()
        quarantined = (await session.exec(select(QuarantinedPayload))).one()
    assert cursor.cursor == "4002"
    assert quarantined.body == '{"id": "oops"}' and "account" in quarantined.reason
