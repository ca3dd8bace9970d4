from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest

from listeners.base import RawMention
from listeners.intake import Rejected
from listeners.platforms.http import BadResponse
from listeners.platforms.x import X
from tests.listeners.platform_fakes import (
    cassette_body,
    collect,
    fixture,
    json_response,
    make_connector,
    make_settings,
    make_watch,
)

SETTINGS = {"x_base_url": "http://api.x.test", "x_bearer_token": "bearer-123"}


def search_with_users() -> dict[str, Any]:
    return copy.deepcopy(fixture("x", "apis__searches__search_tweets_query.json"))


def quotes_with_metrics() -> dict[str, Any]:
    return copy.deepcopy(fixture("x", "apis__tweet__tweet_quote_tweets_resp.json"))


def recording(answers: list[httpx.Response]):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    return handler, seen


async def test_recent_search_sends_the_bearer_token_and_asks_for_authors_with_their_metrics() -> None:
    handler, seen = recording([json_response(search_with_users())])
    x, _ = make_connector(X, handler, **SETTINGS)
    watch = make_watch(["public_metrics", "recent search"])
    pages = await collect(x, watch, x.sources(watch)[0])
    request = seen[0]
    assert request.url.path == "/2/tweets/search/recent"
    assert request.headers["authorization"] == "Bearer bearer-123"
    assert request.url.params["query"] == '(public_metrics OR "recent search") -is:retweet'
    assert request.url.params["expansions"] == "author_id"
    assert "public_metrics" in request.url.params["user.fields"]
    assert "since_id" not in request.url.params
    assert pages[0].cursor == "1276035977375477760"  # meta.newest_id


async def test_each_tweet_is_joined_to_its_author_from_includes_users() -> None:
    handler, _ = recording([json_response(search_with_users())])
    x, _ = make_connector(X, handler, **SETTINGS)
    items = (await collect(x, make_watch(), "q"))[0].items
    first = items[0]
    assert isinstance(first, RawMention)
    assert first.external_id == "1276035977375477760"
    assert first.author.handle == "happycamper" and first.author.display_name.startswith("Emily")
    assert first.author.account_created_at is not None
    assert first.url == "https://x.com/happycamper/status/1276035977375477760"
    assert first.in_reply_to == "1275653067283759104"
    assert first.language == "en" and first.created_at.tzinfo is not None


async def test_public_metrics_become_engagement_counts() -> None:
    body = quotes_with_metrics()
    handler, _ = recording([json_response(body)])
    x, _ = make_connector(X, handler, **SETTINGS)
    items = [i for i in (await collect(x, make_watch(), "q"))[0].items if isinstance(i, RawMention)]
    tweet = next(t for t in body["data"] if t["public_metrics"]["like_count"] or t["public_metrics"]["retweet_count"])
    mention = next(m for m in items if m.external_id == tweet["id"])
    assert mention.likes == tweet["public_metrics"]["like_count"]
    assert mention.reposts == tweet["public_metrics"]["retweet_count"]
    assert mention.replies == tweet["public_metrics"]["reply_count"]


async def test_tweets_without_an_expanded_author_are_rejected_with_a_reason() -> None:
    # The recorded tweepy cassette asked for default fields only: no author_id, no includes.
    body = cassette_body("x", "search_recent_tweets.json", "search/recent")
    handler, _ = recording([json_response(body)])
    x, _ = make_connector(X, handler, **SETTINGS)
    items = (await collect(x, make_watch(), "q"))[0].items
    assert items and all(isinstance(i, Rejected) and "author_id is missing" in i.reason for i in items)


async def test_a_later_poll_uses_since_id_and_follows_next_token_then_moves_the_cursor_to_the_newest_id() -> None:
    first = fixture("x", "apis__searches__search_tweets_for_nyc.json")  # has meta.next_token
    second = search_with_users()
    second["meta"].pop("next_token", None)
    handler, seen = recording([json_response(first), json_response(second)])
    x, _ = make_connector(X, handler, **SETTINGS)
    pages = await collect(x, make_watch(), "q", cursor="1200000000000000000")
    assert [r.url.params.get("since_id") for r in seen] == ["1200000000000000000"] * 2
    assert "next_token" not in seen[0].url.params
    assert seen[1].url.params["next_token"] == first["meta"]["next_token"]
    assert pages[0].state == {"newest": first["meta"]["newest_id"], "next_token": first["meta"]["next_token"]}
    assert pages[0].cursor == "1200000000000000000" and not pages[0].done
    assert pages[1].done and pages[1].cursor == first["meta"]["newest_id"]


async def test_an_empty_result_keeps_the_cursor() -> None:
    handler, _ = recording([json_response({"meta": {"result_count": 0}})])
    x, _ = make_connector(X, handler, **SETTINGS)
    pages = await collect(x, make_watch(), "q", cursor="555")
    assert pages[0].items == [] and pages[0].cursor == "555"


async def test_a_429_is_waited_out_until_x_rate_limit_reset() -> None:
    import time

    reset = str(int(time.time()) + 40)
    handler, _ = recording(
        [
            json_response(
                {"title": "Too Many Requests"}, 429, **{"x-rate-limit-reset": reset, "x-rate-limit-remaining": "0"}
            ),
            json_response(search_with_users()),
        ]
    )
    x, sleeps = make_connector(X, handler, **SETTINGS)
    await collect(x, make_watch(), "q")
    assert len(sleeps) == 1 and 25 <= sleeps[0] <= 41


async def test_wrong_types_inside_a_tweet_are_rejected_and_odd_metrics_tolerated() -> None:
    body = search_with_users()
    body["data"][0]["text"] = {"oops": 1}
    body["data"][1]["public_metrics"] = "n/a"
    body["data"][2]["future_field"] = [1, 2]
    handler, _ = recording([json_response(body)])
    x, _ = make_connector(X, handler, **SETTINGS)
    items = (await collect(x, make_watch(), "q"))[0].items
    assert isinstance(items[0], Rejected) and "text must be a string" in items[0].reason
    assert all(isinstance(i, RawMention) for i in items[1:])


def test_x_is_only_configured_with_a_bearer_token() -> None:
    assert not X.configured(make_settings())
    assert X.configured(make_settings(**SETTINGS))


async def test_a_truncated_search_body_is_a_bad_response_and_unknown_fields_are_tolerated() -> None:
    body = search_with_users()
    body["meta"]["a_future_field"] = [1, 2]
    body["data"][0]["edit_controls"] = {"editable_until": "2030-01-01T00:00:00Z", "edits_remaining": 5}
    body["includes"]["users"][0]["most_recent_tweet_id"] = "1"
    handler, _ = recording([json_response(body), httpx.Response(200, text=json.dumps(body)[:250])])
    x, _ = make_connector(X, handler, **SETTINGS)
    items = (await collect(x, make_watch(["nyc"]), "nyc"))[0].items
    assert items and all(isinstance(i, RawMention) for i in items)
    with pytest.raises(BadResponse, match="truncated"):
        await collect(x, make_watch(["nyc"]), "nyc")
