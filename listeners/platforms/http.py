"""The one place platform HTTP calls go through: rate-limit headers, Retry-After, backoff with jitter, bounded retries.

Every connector asks `PlatformHttp.request` for a response; it returns a 2xx/304 or raises a PlatformError.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

Sleep = Callable[[float], Awaitable[None]]
RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}
# Values at or above this are epoch seconds (X, GitHub style); below it, seconds from now (Reddit style).
EPOCH_THRESHOLD = 1_000_000_000


class PlatformError(Exception):
    """A platform call that did not yield usable data; the message is safe to show and to log."""


class NotConfigured(PlatformError):
    """The connector lacks a token or base URL in settings."""


class RateLimited(PlatformError):
    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PlatformUnavailable(PlatformError):
    """Transport errors or 5xx answers outlasted the retries."""


class BadResponse(PlatformError):
    """A 4xx answer, or a body that is not the JSON/XML the platform documents (truncated, wrong shape)."""

    def __init__(self, message: str, body: str = "") -> None:
        super().__init__(message)
        self.body = body  # kept so the poll can quarantine what it could not read


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 60.0
    # A wait longer than this is not slept through: the poll stops and the next scheduled poll resumes from the cursor.
    max_wait: float = 900.0
    max_bytes: int = 10 * 1024 * 1024


def _header_seconds(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After / *-RateLimit-Reset value: delta seconds, epoch seconds or a date."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)  # HTTP-date (Retry-After)
        except (TypeError, ValueError):
            try:
                when = datetime.fromisoformat(text.replace("Z", "+00:00"))  # Mastodon sends ISO 8601
            except ValueError:
                return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, when.timestamp() - now)
    if number >= EPOCH_THRESHOLD:
        return max(0.0, number - now)
    return max(0.0, number)


def wait_from_headers(headers: httpx.Headers, now: float | None = None) -> float | None:
    """How long the platform asks us to wait, if it says so (Retry-After first, then the reset headers)."""
    at = time.time() if now is None else now
    for name in ("retry-after", "x-ratelimit-reset", "x-rate-limit-reset", "ratelimit-reset"):
        seconds = _header_seconds(headers.get(name), at)
        if seconds is not None:
            return seconds
    return None


def remaining_from_headers(headers: httpx.Headers) -> float | None:
    for name in ("x-ratelimit-remaining", "x-rate-limit-remaining", "ratelimit-remaining"):
        value = headers.get(name)
        if value is not None:
            try:
                return float(value)
            except ValueError:
                return None
    return None


@dataclass
class PlatformHttp:
    """An injected httpx client plus the retry policy and the per-platform pause learnt from rate-limit headers."""

    client: httpx.AsyncClient
    platform: str
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Sleep = asyncio.sleep
    clock: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)
    paused_until: float = 0.0
    requests: int = 0

    def backoff(self, attempt: int) -> float:
        """Full jitter: a random wait up to base*2^attempt, so many workers do not retry in step."""
        ceiling = min(self.policy.max_delay, self.policy.base_delay * (2**attempt))
        return self.rng.uniform(0, ceiling)

    async def _wait(self, seconds: float, why: str) -> None:
        if seconds > self.policy.max_wait:
            raise RateLimited(
                f"{self.platform}: {why}; asked to wait {seconds:.0f} s, resuming on a later poll", seconds
            )
        if seconds > 0:
            await self.sleep(seconds)

    async def request(self, method: str, url: str, *, max_bytes: int | None = None, **kwargs: Any) -> httpx.Response:
        """Send with retries; returns a 2xx or 304 response (body read, at most max_bytes), raises a PlatformError."""
        for attempt in range(self.policy.max_retries + 1):
            await self._respect_pause()
            try:
                self.requests += 1
                response = await self._send(method, url, max_bytes or self.policy.max_bytes, dict(kwargs))
            except httpx.TransportError as exc:
                await self._after_transport_error(exc, attempt)
                continue
            if response.status_code < 300 or response.status_code == 304:
                self._learn(response)
                return response
            await self._after_failure(response, attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    @asynccontextmanager
    async def stream(self, method: str, url: str, **kwargs: Any) -> AsyncIterator[httpx.Response]:
        """An open streaming response (2xx), reached with the same waits and retries as `request`; closed on exit.

        For long-lived bodies (server-sent events): the caller reads it and decides what a dropped connection means.
        """
        for attempt in range(self.policy.max_retries + 1):
            await self._respect_pause()
            try:
                self.requests += 1
                request = self.client.build_request(method, url, **kwargs)
                response = await self.client.send(request, stream=True)
            except httpx.TransportError as exc:
                await self._after_transport_error(exc, attempt)
                continue
            if response.status_code < 300:
                self._learn(response)
                try:
                    yield response
                finally:
                    await response.aclose()
                return
            await response.aread()
            await response.aclose()
            await self._after_failure(response, attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _respect_pause(self) -> None:
        pause = self.paused_until - self.clock()
        if pause > 0:  # the last response said the window is used up: wait for the reset instead of a 429
            await self._wait(pause, "rate-limit window exhausted")

    async def _after_transport_error(self, exc: httpx.TransportError, attempt: int) -> None:
        if attempt == self.policy.max_retries:
            raise PlatformUnavailable(f"{self.platform}: {type(exc).__name__} after {attempt + 1} tries") from exc
        await self._wait(self.backoff(attempt), "network error")

    async def _after_failure(self, response: httpx.Response, attempt: int) -> None:
        """Waits before the next try of a retryable answer; raises when the answer is final or tries are used up."""
        if response.status_code not in RETRYABLE_STATUS:
            raise BadResponse(f"{self.platform}: HTTP {response.status_code} from {response.request.url.path}")
        asked = wait_from_headers(response.headers, self.clock())
        if attempt == self.policy.max_retries:
            if response.status_code == 429:
                raise RateLimited(f"{self.platform}: still rate limited after {attempt + 1} tries", asked)
            raise PlatformUnavailable(f"{self.platform}: HTTP {response.status_code} after {attempt + 1} tries")
        # Jitter on top of the platform's own figure keeps a fleet of workers from returning at the same instant.
        wait = asked + self.rng.uniform(0, self.policy.base_delay) if asked is not None else self.backoff(attempt)
        await self._wait(wait, f"HTTP {response.status_code}")

    async def _send(self, method: str, url: str, max_bytes: int, kwargs: dict[str, Any]) -> httpx.Response:
        # Streamed so that an oversized body is refused after max_bytes instead of being held in memory whole.
        auth = kwargs.pop("auth", httpx.USE_CLIENT_DEFAULT)
        follow = kwargs.pop("follow_redirects", httpx.USE_CLIENT_DEFAULT)
        request = self.client.build_request(method, url, **kwargs)
        response = await self.client.send(request, stream=True, auth=auth, follow_redirects=follow)
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise BadResponse(f"{self.platform}: response of {declared} bytes is over the {max_bytes} byte cap")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise BadResponse(f"{self.platform}: response is over the {max_bytes} byte cap")
                chunks.append(chunk)
        finally:
            await response.aclose()
        # The body is already decoded, so the rebuilt response must not claim a content-encoding.
        headers = [(k, v) for k, v in response.headers.multi_items() if k not in ("content-encoding", "content-length")]
        return httpx.Response(response.status_code, headers=headers, content=b"".join(chunks), request=request)

    def _learn(self, response: httpx.Response) -> None:
        remaining = remaining_from_headers(response.headers)
        if remaining is not None and remaining < 1:
            reset = wait_from_headers(response.headers, self.clock())
            if reset is not None:
                self.paused_until = self.clock() + reset

    async def get_json(self, url: str, **kwargs: Any) -> Any:
        return decode_json(await self.request("GET", url, **kwargs), self.platform)


def decode_json(response: httpx.Response, platform: str) -> Any:
    """The JSON body, or BadResponse naming the problem (a truncated body is the usual one)."""
    try:
        return json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        body = response.content.decode("utf-8", "replace")
        raise BadResponse(f"{platform}: response body is not valid JSON (truncated?): {exc}", body) from exc
