from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from listeners.base import RawMention
from listeners.intake import Rejected
from listeners.platforms.http import BadResponse
from listeners.platforms.mastodon import LIMIT, Mastodon, MastodonStream, mastodon_mention, stream_updates
from tests.listeners.platform_fakes import cassette_body, collect, json_response, make_connector, make_watch

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


async def test_the_hashtag_stream_reads_server_sent_events_over_http() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/streaming/hashtag" and request.url.params["tag"] == "hoot"
        return httpx.Response(200, text=sse_text(), headers={"content-type": "text/event-stream"})

    mastodon, _ = make_connector(Mastodon, handler, **SETTINGS)
    assert isinstance(mastodon, Mastodon)
    items = [i async for i in MastodonStream(mastodon).hashtag("hoot")]
    assert any(isinstance(i, RawMention) for i in items)
