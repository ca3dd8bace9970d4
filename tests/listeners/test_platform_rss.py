from __future__ import annotations

import httpx
import pytest

from listeners.base import RawMention
from listeners.intake import Rejected
from listeners.platforms.http import BadResponse
from listeners.platforms.rss import Rss
from tests.listeners.platform_fakes import FIXTURES, collect, make_connector, make_settings, make_watch

FEED = "http://feeds.test/heise.atom"


def feed_bytes(name: str) -> bytes:
    return (FIXTURES / "rss" / name).read_bytes()


def serve(name: str, seen: list[httpx.Request], etag: str = '"v1"') -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("if-none-match") == etag:
            return httpx.Response(304)
        return httpx.Response(
            200, content=feed_bytes(name), headers={"etag": etag, "last-modified": "Sat, 01 Apr 2017 10:00:00 GMT"}
        )

    return handler  # type: ignore[return-value]


@pytest.mark.parametrize("name", ["heise.atom", "gulp-atom.atom", "reddit.rss", "craigslist.rss"])
async def test_recorded_rss_and_atom_feeds_become_mentions_with_tz_aware_dates(name: str) -> None:
    seen: list[httpx.Request] = []
    rss, _ = make_connector(Rss, serve(name, seen), rss_feeds=[FEED])
    page = (await collect(rss, make_watch(), FEED))[0]
    mentions = [i for i in page.items if isinstance(i, RawMention)]
    assert mentions, [i.reason for i in page.items if isinstance(i, Rejected)]
    assert all(m.created_at.tzinfo is not None and m.text and m.external_id for m in mentions)
    assert all("<" not in m.text or ">" not in m.text for m in mentions[:3])
    assert page.cursor == max(m.created_at for m in mentions).isoformat()


async def test_the_second_fetch_is_conditional_and_a_304_changes_nothing() -> None:
    seen: list[httpx.Request] = []
    rss, _ = make_connector(Rss, serve("heise.atom", seen), rss_feeds=[FEED])
    first = (await collect(rss, make_watch(), FEED))[0]
    assert first.state == {"etag": '"v1"', "last_modified": "Sat, 01 Apr 2017 10:00:00 GMT"}
    second = (await collect(rss, make_watch(), FEED, cursor=first.cursor, state=first.state))[0]
    assert seen[1].headers["if-none-match"] == '"v1"'
    assert seen[1].headers["if-modified-since"] == "Sat, 01 Apr 2017 10:00:00 GMT"
    assert second.items == [] and second.cursor == first.cursor and second.state == first.state


async def test_entries_not_newer_than_the_cursor_are_skipped_when_the_feed_changed() -> None:
    seen: list[httpx.Request] = []
    rss, _ = make_connector(Rss, serve("heise.atom", seen, etag='"v2"'), rss_feeds=[FEED])
    everything = [i for i in (await collect(rss, make_watch(), FEED))[0].items if isinstance(i, RawMention)]
    dates = sorted(m.created_at for m in everything)
    middle = dates[len(dates) // 2]
    again = (await collect(rss, make_watch(), FEED, cursor=middle.isoformat(), state={"etag": '"v1"'}))[0]
    assert {m.created_at > middle for m in again.items if isinstance(m, RawMention)} == {True}
    assert len(again.items) == len([d for d in dates if d > middle])


async def test_a_malformed_feed_is_quarantined_whole_with_feedparsers_reason() -> None:
    broken = feed_bytes("heise.atom")[:4000]  # truncated mid-document
    rss, _ = make_connector(Rss, lambda r: httpx.Response(200, content=broken), rss_feeds=[FEED])
    page = (await collect(rss, make_watch(), FEED))[0]
    assert len(page.items) == 1 and isinstance(page.items[0], Rejected)
    assert page.items[0].reason.startswith("malformed feed")
    assert page.items[0].body.startswith("<?xml")


async def test_a_feed_over_the_size_cap_is_refused() -> None:
    rss, _ = make_connector(
        Rss, lambda r: httpx.Response(200, content=feed_bytes("heise.atom")), rss_feeds=[FEED], rss_max_bytes=2048
    )
    with pytest.raises(BadResponse, match="byte cap"):
        await collect(rss, make_watch(), FEED)


def test_rss_is_configured_by_listing_feeds_and_long_urls_still_fit_the_cursor_column() -> None:
    long_url = "http://feeds.test/" + "x" * 400
    rss, _ = make_connector(Rss, lambda r: httpx.Response(404), rss_feeds=[FEED, long_url])
    assert not Rss.configured(make_settings())
    sources = rss.sources(make_watch())
    assert sources[0] == FEED and len(sources[1]) <= 200 and sources[1] != sources[0]


async def test_a_moved_feed_is_followed_to_its_new_address() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/old.atom":
            return httpx.Response(301, headers={"location": "http://feeds.test/heise.atom"})
        return httpx.Response(200, content=feed_bytes("heise.atom"))

    rss, _ = make_connector(Rss, handler, rss_feeds=["http://feeds.test/old.atom"])
    page = (await collect(rss, make_watch(), "http://feeds.test/old.atom"))[0]
    assert page.items and all(isinstance(i, RawMention) for i in page.items)


async def test_a_429_from_the_feed_host_is_waited_out_as_retry_after_says() -> None:
    answers = [
        httpx.Response(429, headers={"retry-after": "12"}),
        httpx.Response(200, content=feed_bytes("heise.atom")),
    ]
    rss, sleeps = make_connector(Rss, lambda r: answers.pop(0), rss_feeds=[FEED])
    page = (await collect(rss, make_watch(), FEED))[0]
    assert page.items and all(isinstance(i, RawMention) for i in page.items)
    assert len(sleeps) == 1 and 12 <= sleeps[0] <= 12.5
