from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from listeners.platforms.http import (
    BadResponse,
    PlatformUnavailable,
    RateLimited,
    decode_json,
    wait_from_headers,
)
from tests.listeners.platform_fakes import json_response, make_http


def sequence(*responses: httpx.Response):
    queue = list(responses)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0)

    return handler, seen


async def test_a_429_is_retried_after_the_retry_after_seconds_plus_a_little_jitter() -> None:
    handler, seen = sequence(json_response({}, 429, **{"retry-after": "3"}), json_response({"ok": True}))
    http, sleeps = make_http(handler)
    assert await http.get_json("https://api.example/x") == {"ok": True}
    assert len(seen) == 2
    assert len(sleeps) == 1 and 3 <= sleeps[0] < 3.5


async def test_retry_after_may_be_an_http_date() -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    handler, _ = sequence(
        json_response({}, 429, **{"retry-after": format_datetime(when, usegmt=True)}), json_response({})
    )
    http, sleeps = make_http(handler)
    await http.get_json("https://api.example/x")
    assert 20 < sleeps[0] <= 31


NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("header", "value", "expected"),
    [
        ("x-rate-limit-reset", str(int(NOW) + 60), 60),  # X: epoch seconds
        ("X-Ratelimit-Reset", "42", 42),  # Reddit: seconds until the window resets
        ("X-RateLimit-Reset", datetime.fromtimestamp(NOW + 90, UTC).isoformat(), 90),  # Mastodon: ISO 8601
        ("Retry-After", format_datetime(datetime.fromtimestamp(NOW + 30, UTC), usegmt=True), 30),  # HTTP-date
    ],
    # Fixed ids: the values depend on the clock, and pytest-xdist needs every worker to collect the same names.
    ids=["x-epoch-seconds", "reddit-seconds", "mastodon-iso8601", "retry-after-http-date"],
)
def test_each_platforms_reset_header_is_read_as_seconds_to_wait(header: str, value: str, expected: float) -> None:
    assert wait_from_headers(httpx.Headers({header: value}), now=NOW) == pytest.approx(expected, abs=0.01)


async def test_an_exhausted_window_pauses_the_next_call_until_the_reset_instead_of_provoking_a_429() -> None:
    handler, seen = sequence(
        json_response({"n": 1}, **{"x-ratelimit-remaining": "0", "x-ratelimit-reset": "12"}),
        json_response({"n": 2}),
    )
    http, sleeps = make_http(handler)
    await http.get_json("https://api.example/x")
    assert sleeps == []
    await http.get_json("https://api.example/x")
    assert len(sleeps) == 1
    assert 6 <= sleeps[0] <= 12  # the rest of the 12 s window (less the time a loaded machine took in between)
    assert len(seen) == 2


async def test_retries_are_bounded_and_a_persistent_429_becomes_rate_limited() -> None:
    handler, seen = sequence(*[json_response({}, 429, **{"retry-after": "1"}) for _ in range(3)])
    http, sleeps = make_http(handler, max_retries=2)
    with pytest.raises(RateLimited) as raised:
        await http.get_json("https://api.example/x")
    assert len(seen) == 3 and len(sleeps) == 2
    assert raised.value.retry_after == pytest.approx(1, abs=0.1)


async def test_a_wait_longer_than_the_limit_ends_the_poll_instead_of_sleeping() -> None:
    handler, seen = sequence(json_response({}, 429, **{"retry-after": "3600"}))
    http, sleeps = make_http(handler, max_wait=900)
    with pytest.raises(RateLimited, match="resuming on a later poll"):
        await http.get_json("https://api.example/x")
    assert sleeps == [] and len(seen) == 1


async def test_server_errors_back_off_exponentially_with_jitter_then_give_up() -> None:
    handler, seen = sequence(*[httpx.Response(503) for _ in range(4)])
    http, sleeps = make_http(handler, max_retries=3, base_delay=1.0)
    with pytest.raises(PlatformUnavailable, match="HTTP 503 after 4 tries"):
        await http.get_json("https://api.example/x")
    assert len(seen) == 4
    assert [s <= 2**i for i, s in enumerate(sleeps)] == [True, True, True]


async def test_network_errors_are_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        return json_response({"ok": 1})

    http, sleeps = make_http(handler)
    assert await http.get_json("https://api.example/x") == {"ok": 1}
    assert len(sleeps) == 1


async def test_a_client_error_is_not_retried() -> None:
    handler, seen = sequence(httpx.Response(401))
    http, _ = make_http(handler)
    with pytest.raises(BadResponse, match="HTTP 401"):
        await http.get_json("https://api.example/x")
    assert len(seen) == 1


async def test_a_body_over_the_size_cap_is_refused() -> None:
    handler, _ = sequence(httpx.Response(200, content=b"x" * 5000))
    http, _ = make_http(handler)
    with pytest.raises(BadResponse, match="byte cap"):
        await http.request("GET", "https://api.example/x", max_bytes=1000)


async def test_a_truncated_json_body_is_a_bad_response_that_keeps_the_body_for_quarantine() -> None:
    handler, _ = sequence(httpx.Response(200, content=b'{"hits": [{"objectID": "1", "auth'))
    http, _ = make_http(handler)
    with pytest.raises(BadResponse, match="not valid JSON") as raised:
        await http.get_json("https://api.example/x")
    assert raised.value.body.startswith('{"hits"')


def test_decode_json_reads_a_plain_body() -> None:
    assert decode_json(httpx.Response(200, content=b"[1]"), "t") == [1]
