from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from listeners.base import RawMention
from listeners.intake import Rejected
from listeners.platforms import bluesky
from listeners.platforms.bluesky import PROFILES_PER_CALL, Bluesky, Profiles, bluesky_mention
from listeners.platforms.http import BadResponse
from tests.listeners.platform_fakes import (
    collect,
    fixture,
    json_response,
    make_connector,
    make_http,
    make_settings,
    make_watch,
)

SETTINGS = {"bluesky_base_url": "http://bsky.test"}


@pytest.fixture(autouse=True)
def _fresh_sessions() -> Iterator[None]:
    bluesky._sessions.clear()
    Profiles._cache.clear()
    yield
    bluesky._sessions.clear()
    Profiles._cache.clear()


def post_view(
    text: str = "Looking for a HubSpot alternative", rkey: str = "3kaheyt6vpc22", at: str = "2023-09-28T12:49:36.735Z"
) -> dict[str, Any]:
    """The recorded postView from getPostThread, with text (the recorded post is image-only) and counts filled in."""
    post = copy.deepcopy(fixture("bluesky", "thread_view_post_with_embed_media.json")["thread"]["post"])
    post["uri"] = post["uri"].rsplit("/", 1)[0] + "/" + rkey
    post["record"]["text"] = text
    post["record"]["createdAt"] = at
    return post


def search_page(posts: list[dict[str, Any]], cursor: str | None = None) -> dict[str, Any]:
    return {"posts": posts, "hitsTotal": len(posts), **({"cursor": cursor} if cursor else {})}


def test_a_recorded_post_view_becomes_a_mention_with_counts_and_the_quoted_post() -> None:
    post = post_view()
    mention = bluesky_mention(post)
    assert isinstance(mention, RawMention)
    assert mention.external_id == post["uri"]
    assert mention.url == "https://bsky.app/profile/test.marshal.dev/post/3kaheyt6vpc22"
    assert mention.author.handle == "test.marshal.dev" and mention.author.dm_open
    assert mention.quote_of == "at://did:plc:kvwvcn5iqfooopmyzvb4qzba/app.bsky.feed.post/3kahesw26il2z"
    assert (mention.likes, mention.reposts, mention.replies) == (
        post["likeCount"],
        post["repostCount"],
        post["replyCount"],
    )
    assert mention.language == "en" and mention.created_at.tzinfo is not None


def test_the_recorded_image_only_post_is_skipped() -> None:
    recorded = fixture("bluesky", "thread_view_post_with_embed_media.json")["thread"]["post"]
    assert bluesky_mention(recorded) is None


async def test_search_posts_sorts_by_latest_and_the_cursor_lands_just_past_the_newest_post() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(search_page([post_view(rkey="b", at="2024-01-02T00:00:00Z"), post_view(rkey="a")], "next"))

    bluesky, _ = make_connector(Bluesky, handler, **SETTINGS)
    pages = await collect(bluesky, make_watch(["hubspot"]), "hubspot")
    assert seen[0].url.path == "/xrpc/app.bsky.feed.searchPosts"
    assert (seen[0].url.params["q"], seen[0].url.params["sort"]) == ("hubspot", "latest")
    assert "authorization" not in seen[0].headers
    assert len(seen) == 1 and pages[0].cursor == "2024-01-02T00:00:00.000001+00:00"


async def test_a_later_poll_pages_with_the_api_cursor_down_to_since() -> None:
    seen: list[httpx.Request] = []
    answers = [search_page([post_view(rkey="c", at="2024-02-01T00:00:00Z")], "p2"), search_page([post_view(rkey="b")])]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(answers.pop(0))

    bluesky, _ = make_connector(Bluesky, handler, **SETTINGS)
    pages = await collect(bluesky, make_watch(["hubspot"]), "hubspot", cursor="2024-01-01T00:00:00+00:00")
    assert [r.url.params.get("since") for r in seen] == ["2024-01-01T00:00:00+00:00"] * 2
    assert seen[1].url.params["cursor"] == "p2"
    assert pages[0].state == {"high": "2024-02-01T00:00:00.000001+00:00", "cursor": "p2"} and not pages[0].done
    assert pages[1].cursor == "2024-02-01T00:00:00.000001+00:00"


async def test_an_app_password_buys_one_session_token_that_is_reused() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("createSession"):
            return json_response({"accessJwt": "jwt-1", "refreshJwt": "r", "handle": "me.test", "did": "did:plc:me"})
        return json_response(search_page([post_view()]))

    bluesky, _ = make_connector(Bluesky, handler, bluesky_handle="me.test", bluesky_app_password="app-pass", **SETTINGS)
    await collect(bluesky, make_watch(["hubspot"]), "hubspot")
    await collect(bluesky, make_watch(["hubspot"]), "hubspot")
    paths = [r.url.path for r in seen]
    assert paths.count("/xrpc/com.atproto.server.createSession") == 1
    assert seen[-1].headers["authorization"] == "Bearer jwt-1"


async def test_wrong_types_are_rejected_and_unknown_fields_tolerated() -> None:
    odd = post_view()
    odd["labels"] = [{"val": "new-thing"}]
    odd["someFutureField"] = {"x": 1}
    no_author = post_view(rkey="x")
    no_author["author"] = None
    bad_date = post_view(rkey="y", at="last tuesday")
    bluesky, _ = make_connector(Bluesky, lambda r: json_response(search_page([odd, no_author, bad_date])), **SETTINGS)
    items = (await collect(bluesky, make_watch(["hubspot"]), "hubspot"))[0].items
    assert [type(i) for i in items] == [RawMention, Rejected, Rejected]
    assert "author must be an object" in items[1].reason  # type: ignore[union-attr]


def test_an_author_whose_handle_no_longer_verifies_is_kept_under_their_did() -> None:
    post = post_view()
    post["author"]["handle"] = "handle.invalid"
    mention = bluesky_mention(post)
    assert mention is not None
    assert mention.author.handle == mention.author.external_id == post["author"]["did"]


async def test_a_429_from_search_is_waited_out_and_a_truncated_body_is_a_bad_response() -> None:
    answers = [
        httpx.Response(429, headers={"ratelimit-reset": "4", "ratelimit-remaining": "0"}),
        json_response(search_page([post_view()])),
        httpx.Response(200, text='{"posts": [{"uri": "at://x", "auth'),
    ]
    bluesky_, sleeps = make_connector(Bluesky, lambda r: answers.pop(0), **SETTINGS)
    pages = await collect(bluesky_, make_watch(["hubspot"]), "hubspot")
    assert isinstance(pages[0].items[0], RawMention) and 4 <= sleeps[0] <= 4.5
    with pytest.raises(BadResponse, match="truncated") as caught:
        await collect(bluesky_, make_watch(["hubspot"]), "hubspot")
    assert caught.value.body.startswith('{"posts"')  # kept for the quarantine


def profile(did: str, handle: str, followers: int = 10) -> dict[str, Any]:
    return {"did": did, "handle": handle, "displayName": handle.title(), "followersCount": followers, "postsCount": 3}


async def test_profiles_are_resolved_in_batches_of_25_and_cached() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        actors = request.url.params.get_list("actors")
        return json_response({"profiles": [profile(d, f"{d[8:]}.bsky.social") for d in actors if d != "did:plc:gone"]})

    http, _ = make_http(handler, "bluesky")
    profiles = Profiles(http, make_settings(**SETTINGS))
    dids = [f"did:plc:n{n:03d}" for n in range(30)] + ["did:plc:gone"]
    first = await profiles.resolve(dids + dids[:3])
    again = await profiles.resolve(dids)
    assert [len(r.url.params.get_list("actors")) for r in seen] == [PROFILES_PER_CALL, 31 - PROFILES_PER_CALL]
    assert seen[0].url.path == "/xrpc/app.bsky.actor.getProfiles"
    assert first["did:plc:n007"].handle == "n007.bsky.social" and first["did:plc:n007"].followers == 10
    assert "did:plc:gone" not in first and again == first and len(seen) == 2


async def test_a_failed_resolution_returns_nothing_and_is_not_cached() -> None:
    answers = [httpx.Response(400), json_response({"profiles": [profile("did:plc:a", "a.test")]})]
    http, _ = make_http(lambda r: answers.pop(0), "bluesky")
    profiles = Profiles(http, make_settings(**SETTINGS))
    assert await profiles.resolve(["did:plc:a"]) == {}
    assert (await profiles.resolve(["did:plc:a"]))["did:plc:a"].handle == "a.test"
