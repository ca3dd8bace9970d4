from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from listeners.base import RawMention
from listeners.intake import Rejected
from listeners.platforms.http import BadResponse
from listeners.platforms.reddit import Reddit, reddit_mention
from tests.listeners.platform_fakes import (
    cassette_body,
    collect,
    json_response,
    make_connector,
    make_settings,
    make_watch,
)

CREDENTIALS = {
    "reddit_base_url": "http://oauth.reddit.test",
    "reddit_auth_url": "http://www.reddit.test",
    "reddit_client_id": "app-id",
    "reddit_client_secret": "app-secret",
    "reddit_user_agent": "test:warmline:1 (by /u/tests)",
}


@pytest.fixture(autouse=True)
def _fresh_tokens() -> Iterator[None]:
    Reddit._tokens.clear()
    yield
    Reddit._tokens.clear()


def search_listing() -> dict[str, Any]:
    return copy.deepcopy(cassette_body("reddit", "TestSubreddit.test_search.json", "/search"))


def comment_listing() -> dict[str, Any]:
    return copy.deepcopy(
        cassette_body("reddit", "TestSubredditStreams.test_comments__with_pause.json", "comments/?limit=100")
    )


def newest_first(listing: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(listing["data"]["children"], key=lambda c: c["data"]["created_utc"], reverse=True)


def listing_of(children: list[dict[str, Any]], after: str | None) -> dict[str, Any]:
    return {
        "kind": "Listing",
        "data": {"modhash": "", "dist": len(children), "children": children, "after": after, "before": None},
    }


def reddit_api(pages: list[dict[str, Any]], seen: list[httpx.Request]):
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/api/v1/access_token":
            return json_response({"access_token": "tok-1", "token_type": "bearer", "expires_in": 86400, "scope": "*"})
        return json_response(pages.pop(0))

    return handler


def test_a_recorded_submission_becomes_a_mention_with_title_text_permalink_and_score() -> None:
    child = next(c for c in search_listing()["data"]["children"] if c["data"]["name"] == "t3_4at068")
    mention = reddit_mention(child)
    assert isinstance(mention, RawMention)
    assert mention.external_id == "t3_4at068"
    assert mention.text.startswith(child["data"]["title"])
    assert mention.url.startswith("https://www.reddit.com/r/p18s/comments/4at068/")
    assert mention.likes == 15 and mention.author.handle == "nmtake"
    assert mention.created_at.tzinfo is not None and mention.created_at.timestamp() == 1458221634.0


def test_a_recorded_comment_keeps_its_parent_as_reply_context() -> None:
    child = comment_listing()["data"]["children"][0]
    mention = reddit_mention(child)
    assert isinstance(mention, RawMention)
    assert mention.text == child["data"]["body"]
    assert mention.in_reply_to == "t1_dg7dqfd"


def test_deleted_posts_are_skipped_not_stored() -> None:
    child = comment_listing()["data"]["children"][0]
    child["data"]["author"] = "[deleted]"
    assert reddit_mention(child) is None


async def test_the_connector_gets_an_app_only_token_and_sends_it_with_a_descriptive_user_agent() -> None:
    seen: list[httpx.Request] = []
    reddit, _ = make_connector(Reddit, reddit_api([search_listing()], seen), **CREDENTIALS)
    sources = reddit.sources(make_watch(["praw", "oauth search"]))
    assert sources == ['search:praw OR "oauth search"']
    pages = await collect(reddit, make_watch(["praw", "oauth search"]), sources[0])
    token, search = seen
    assert token.method == "POST" and token.headers["authorization"].startswith("Basic ")
    assert b"grant_type=client_credentials" in token.content
    assert search.headers["authorization"] == "bearer tok-1"
    assert search.headers["user-agent"] == "test:warmline:1 (by /u/tests)"
    assert search.url.params["sort"] == "new" and search.url.params["q"] == 'praw OR "oauth search"'
    assert len([i for i in pages[0].items if isinstance(i, RawMention)]) == 6
    assert pages[0].cursor == repr(1458221634.0)


async def test_a_later_poll_follows_after_until_it_reaches_posts_it_has_seen() -> None:
    children = newest_first(search_listing())
    low = children[3]["data"]["created_utc"]
    seen: list[httpx.Request] = []
    pages_ = [listing_of(children[:2], "t3_page2"), listing_of(children[2:5], "t3_page3")]
    reddit, _ = make_connector(Reddit, reddit_api(pages_, seen), **CREDENTIALS)
    pages = await collect(reddit, make_watch(["praw"]), "r/redditdev", cursor=repr(low))
    assert [r.url.path for r in seen] == ["/api/v1/access_token", "/r/redditdev/new", "/r/redditdev/new"]
    assert seen[2].url.params["after"] == "t3_page2"
    assert pages[0].state == {"high": children[0]["data"]["created_utc"], "after": "t3_page2"}
    assert pages[1].done and pages[1].cursor == repr(children[0]["data"]["created_utc"])
    stored = [m.external_id for p in pages for m in p.items if isinstance(m, RawMention)]
    assert stored == [c["data"]["name"] for c in children[:3]]  # older than the cursor: not passed on again


async def test_the_token_is_reused_across_polls() -> None:
    seen: list[httpx.Request] = []
    reddit, _ = make_connector(Reddit, reddit_api([search_listing(), search_listing()], seen), **CREDENTIALS)
    await collect(reddit, make_watch(["praw"]), "r/redditdev")
    await collect(reddit, make_watch(["praw"]), "r/redditdev")
    assert [r.url.path for r in seen].count("/api/v1/access_token") == 1


async def test_a_429_with_reddits_reset_header_is_waited_out() -> None:
    seen: list[httpx.Request] = []
    answers = [
        json_response(
            {"message": "Too Many Requests"}, 429, **{"x-ratelimit-reset": "7", "x-ratelimit-remaining": "0"}
        ),
        json_response(comment_listing()),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/api/v1/access_token":
            return json_response({"access_token": "tok", "expires_in": 3600})
        return answers.pop(0)

    reddit, sleeps = make_connector(Reddit, handler, **CREDENTIALS)
    pages = await collect(reddit, make_watch(["kakapo"]), "r/kakapo")
    assert sleeps and 7 <= sleeps[0] < 8
    assert len(pages[0].items) == 16


async def test_unknown_kinds_and_wrong_types_are_rejected_while_the_rest_is_kept() -> None:
    listing = comment_listing()
    children = listing["data"]["children"][:3]
    children[1] = {"kind": "t5", "data": {"display_name": "kakapo"}}
    children[2]["data"]["created_utc"] = "soon"
    children[0]["data"]["a_field_reddit_added_later"] = True
    seen: list[httpx.Request] = []
    reddit, _ = make_connector(Reddit, reddit_api([listing_of(children, None)], seen), **CREDENTIALS)
    items = (await collect(reddit, make_watch(["kakapo"]), "r/kakapo"))[0].items
    assert [type(i) for i in items] == [RawMention, Rejected, Rejected]
    assert "unexpected listing kind 't5'" in items[1].reason  # type: ignore[union-attr]


def test_reddit_is_only_configured_with_a_client_id_and_secret() -> None:
    assert not Reddit.configured(make_settings())
    assert Reddit.configured(make_settings(**CREDENTIALS))


async def test_a_rejected_token_is_replaced_once() -> None:
    seen: list[httpx.Request] = []
    answers = [httpx.Response(401), json_response(comment_listing())]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/api/v1/access_token":
            return json_response({"access_token": f"tok-{len(seen)}", "expires_in": 3600})
        return answers.pop(0)

    reddit, _ = make_connector(Reddit, handler, **CREDENTIALS)
    pages = await collect(reddit, make_watch(["kakapo"]), "r/kakapo")
    assert [r.url.path for r in seen].count("/api/v1/access_token") == 2
    assert seen[-1].headers["authorization"] == "bearer tok-3" and pages[0].items


async def test_a_truncated_listing_is_a_bad_response_that_keeps_the_body_for_quarantine() -> None:
    seen: list[httpx.Request] = []
    text = json.dumps(search_listing())[:700]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/api/v1/access_token":
            return json_response({"access_token": "tok-1", "token_type": "bearer", "expires_in": 86400})
        return httpx.Response(200, text=text)

    reddit, _ = make_connector(Reddit, handler, **CREDENTIALS)
    with pytest.raises(BadResponse, match="truncated") as caught:
        await collect(reddit, make_watch(["kakapo"]), reddit.sources(make_watch(["kakapo"]))[0])
    assert caught.value.body == text
