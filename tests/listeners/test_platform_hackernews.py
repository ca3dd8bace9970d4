from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from listeners.base import RawMention
from listeners.intake import Rejected
from listeners.platforms.hackernews import HackerNews, hn_mention
from listeners.platforms.http import BadResponse
from tests.listeners.platform_fakes import collect, fixture, json_response, make_connector, make_watch


def recorded_hits() -> list[dict[str, Any]]:
    """Every distinct story/comment hit in the recorded search responses, newest first like search_by_date."""
    hits: dict[str, dict[str, Any]] = {}
    for record in fixture("hackernews", "hn_algolia_fixtures_2014.json"):
        if record["url"].startswith("/api/v1/search"):
            for hit in record["reply"]["hits"]:
                hits.setdefault(hit["objectID"], hit)
    return sorted(hits.values(), key=lambda h: h["created_at_i"], reverse=True)


def search_reply(hits: list[dict[str, Any]], page: int = 0, pages: int = 1) -> dict[str, Any]:
    reply = copy.deepcopy(fixture("hackernews", "hn_algolia_fixtures_2014.json")[1]["reply"])
    reply.update(hits=hits, page=page, nbPages=pages, nbHits=len(hits), exhaustive={"nbHits": True}, serverTimeMS=3)
    return reply


def test_a_recorded_comment_hit_becomes_a_mention_with_a_tz_aware_time_and_its_item_url() -> None:
    comment = next(h for h in recorded_hits() if "comment" in h["_tags"])
    mention = hn_mention(comment)
    assert mention.platform == "hackernews"
    assert mention.external_id == comment["objectID"]
    assert mention.created_at.tzinfo is not None
    assert mention.created_at.timestamp() == comment["created_at_i"]
    assert mention.url == f"https://news.ycombinator.com/item?id={comment['objectID']}"
    assert mention.author.handle == comment["author"]
    assert "<p>" not in mention.text and mention.text
    assert mention.in_reply_to == str(comment["parent_id"])
    assert mention.raw is comment


def test_a_recorded_story_hit_keeps_its_title_and_points() -> None:
    story = next(h for h in recorded_hits() if "story" in h["_tags"] and h.get("points", 0) > 0)
    mention = hn_mention(story)
    assert mention.text.startswith(story["title"])
    assert mention.likes == story["points"]


async def test_the_first_poll_reads_only_the_newest_page_and_sets_the_cursor_to_its_newest_hit() -> None:
    hits = recorded_hits()
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return json_response(search_reply(hits, pages=5))

    hn, _ = make_connector(HackerNews, handler, hn_base_url="http://hn.test")
    pages = await collect(hn, make_watch(), "apple")
    assert len(requests) == 1
    assert requests[0].url.path == "/api/v1/search_by_date"
    assert requests[0].url.params["query"] == "apple"
    assert requests[0].url.params["numericFilters"] == "created_at_i>0"
    assert pages[0].done and pages[0].cursor == str(hits[0]["created_at_i"])
    assert {m.external_id for m in pages[0].items if isinstance(m, RawMention)} == {h["objectID"] for h in hits}


async def test_a_later_poll_walks_every_page_under_a_fixed_ceiling_and_then_advances_the_cursor() -> None:
    hits = recorded_hits()
    low = hits[-1]["created_at_i"]
    newer = hits[:-1]
    pages_of = [newer[:3], newer[3:]]
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        page = int(request.url.params["page"])
        return json_response(search_reply(pages_of[page], page=page, pages=2))

    hn, _ = make_connector(HackerNews, handler, hn_base_url="http://hn.test")
    pages = await collect(hn, make_watch(), "apple", cursor=str(low))
    high = newer[0]["created_at_i"]
    assert [r.url.params["numericFilters"] for r in requests] == [
        f"created_at_i>{low}",
        f"created_at_i>{low},created_at_i<={high}",
    ]
    # Mid-walk the cursor stays put and the state says where to resume; the last page moves the cursor.
    assert (pages[0].done, pages[0].cursor, pages[0].state) == (False, str(low), {"high": high, "page": 1})
    assert (pages[1].done, pages[1].cursor, pages[1].state) == (True, str(high), {})


async def test_a_walk_interrupted_after_the_first_page_resumes_from_its_saved_state() -> None:
    hits = recorded_hits()
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return json_response(search_reply(hits[3:], page=1, pages=2))

    hn, _ = make_connector(HackerNews, handler, hn_base_url="http://hn.test")
    pages = await collect(hn, make_watch(), "apple", cursor="100", state={"high": 999, "page": 1})
    assert requests[0].url.params["page"] == "1"
    assert requests[0].url.params["numericFilters"] == "created_at_i>100,created_at_i<=999"
    assert pages[-1].cursor == "999"


async def test_hits_with_wrong_types_are_rejected_and_the_rest_of_the_page_is_kept() -> None:
    hits = recorded_hits()[:3]
    bad_author = {**hits[1], "author": ["not", "a", "string"]}
    bad_time = {**hits[2], "created_at_i": "yesterday", "created_at": None}
    odd_points = {**hits[0], "points": "lots", "brand_new_field": {"x": 1}}  # tolerated: counts read as 0
    page = [odd_points, bad_author, bad_time, "not an object"]
    hn, _ = make_connector(HackerNews, lambda r: json_response(search_reply(page)), hn_base_url="http://hn.test")
    items = (await collect(hn, make_watch(), "apple"))[0].items
    kept = [i for i in items if isinstance(i, RawMention)]
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert [m.external_id for m in kept] == [hits[0]["objectID"]] and kept[0].likes == 0
    assert len(rejected) == 3
    assert "author must be a string" in rejected[0].reason
    assert "created_at_i" in rejected[1].reason
    assert "not an object" in rejected[2].body


async def test_a_truncated_search_response_raises_a_bad_response() -> None:
    hn, _ = make_connector(
        HackerNews, lambda r: httpx.Response(200, content=b'{"hits":[{"objectID":"1"'), hn_base_url="http://hn.test"
    )
    with pytest.raises(BadResponse, match="truncated"):
        await collect(hn, make_watch(), "apple")


async def test_a_response_without_a_hits_list_raises_a_bad_response() -> None:
    hn, _ = make_connector(HackerNews, lambda r: json_response({"hits": "none"}), hn_base_url="http://hn.test")
    with pytest.raises(BadResponse, match="no hits list"):
        await collect(hn, make_watch(), "apple")


async def test_a_429_from_algolia_is_waited_out_and_the_poll_continues() -> None:
    answers = [
        json_response({"message": "slow down"}, 429, **{"retry-after": "2"}),
        json_response(search_reply(recorded_hits())),
    ]
    hn, sleeps = make_connector(HackerNews, lambda r: answers.pop(0), hn_base_url="http://hn.test")
    pages = await collect(hn, make_watch(), "apple")
    assert len(sleeps) == 1 and sleeps[0] >= 2
    assert pages[0].items
