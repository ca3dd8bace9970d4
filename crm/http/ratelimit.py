"""Per-API-key rate limits: a fixed one-minute window counted in Redis (one Lua call per lease of counts), reported in
standard headers."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from crm.errors import RateLimited
from crm.models import ApiKey

WINDOW_SECONDS = 60
STATE_KEY = "rate_limit"


@dataclass(frozen=True)
class Quota:
    limit: int
    remaining: int
    reset: int  # seconds until the window ends

    def headers(self) -> dict[str, str]:
        values = {"Limit": str(self.limit), "Remaining": str(self.remaining), "Reset": str(self.reset)}
        # Both spellings: the IETF draft's RateLimit-* and the widespread X-RateLimit-*.
        return {f"{prefix}RateLimit-{name}": value for prefix in ("", "X-") for name, value in values.items()}


# Reserve tokens and start the window's expiry in one round trip (EVALSHA of a script cached in Redis). Returns the
# counter after the reservation: this caller holds the counts from (that - tokens + 1) up to that.
_RESERVE = """
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
if count == tonumber(ARGV[1]) then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return count
"""
_RESERVE_SHA = hashlib.sha1(_RESERVE.encode()).hexdigest()
# A process reserves this share of a key's limit at once (1 to LEASE_MAX counts) and hands the counts out to that
# key's requests without asking Redis again, so a busy key costs one round trip per lease instead of per request.
# A window never admits more than the limit, however many processes share it; a process may end a window holding
# unused counts, so another process's requests can be refused up to (lease - 1) counts early. Keys allowing fewer
# than 2 * LEASE_DIVISOR requests a minute are counted one by one.
LEASE_DIVISOR = 100
LEASE_MAX = 1000
LEASES_MAX = 10_000


@dataclass
class _Lease:
    window: int
    next: int  # the count the next request gets
    last: int  # the last count reserved


_leases: dict[tuple[str, int | None], _Lease] = {}


async def spend(redis: Redis, namespace: str, key: ApiKey, *, now: float | None = None) -> Quota:
    """Count one request against the key's window; raise RateLimited (429 + Retry-After) past the limit."""
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    held = _leases.get((namespace, key.id))
    if held is not None and held.window == window and held.next <= held.last:
        count = held.next
        held.next += 1
    else:
        count = await _reserve(redis, namespace, key, window)
    reset = max(1, WINDOW_SECONDS - int(now % WINDOW_SECONDS))
    quota = Quota(limit=key.rate_limit_per_minute, remaining=max(0, key.rate_limit_per_minute - count), reset=reset)
    if count > key.rate_limit_per_minute:
        raise RateLimited(
            f"this API key allows {key.rate_limit_per_minute} requests per minute; retry in {reset} s",
            headers={**quota.headers(), "Retry-After": str(reset)},
        )
    return quota


async def _reserve(redis: Redis, namespace: str, key: ApiKey, window: int) -> int:
    """Take a lease of counts from the window's counter in Redis; returns the first, for this request."""
    tokens = min(LEASE_MAX, max(1, key.rate_limit_per_minute // LEASE_DIVISOR))
    counter = f"{namespace}:ratelimit:{key.id}:{window}"
    args = (str(tokens), str(WINDOW_SECONDS * 2))
    try:
        last = int(await redis.evalsha(_RESERVE_SHA, 1, counter, *args))  # type: ignore[misc]
    except NoScriptError:  # a Redis restarted or flushed since: EVAL sends the script and caches it again
        last = int(await redis.eval(_RESERVE, 1, counter, *args))  # type: ignore[misc]
    first = last - tokens + 1
    slot = (namespace, key.id)
    held = _leases.get(slot)
    # Concurrent requests may each have reserved; the lease in use is only replaced once spent or out of its window.
    if first < last and (held is None or held.window != window or held.next > held.last):
        if len(_leases) >= LEASES_MAX:
            _leases.clear()
        _leases[slot] = _Lease(window, first + 1, last)
    return first


def rate_limit_headers_middleware(app: ASGIApp) -> ASGIApp:
    """Adds the caller's quota headers to every response, errors included, once the key has been counted."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await app(scope, receive, send)
            return

        async def send_with_quota(message: Message) -> None:
            if message["type"] == "http.response.start":
                quota = scope.get("state", {}).get(STATE_KEY)
                if isinstance(quota, Quota):
                    present = {k.lower() for k, _ in message.get("headers", [])}
                    extra = [
                        (k.lower().encode(), v.encode())
                        for k, v in quota.headers().items()
                        if k.lower().encode() not in present
                    ]
                    message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await app(scope, receive, send_with_quota)

    return middleware


SIGN_IN_FAILURES = 10
SIGN_IN_WINDOW_SECONDS = 15 * 60


async def check_sign_in(redis: Redis, namespace: str, email: str) -> None:
    """Refuse password attempts for an email after SIGN_IN_FAILURES failures in the window (guessing is slow)."""
    failures = await redis.get(f"{namespace}:signin-failures:{email}")
    if failures is not None and int(failures) >= SIGN_IN_FAILURES:
        ttl = max(1, int(await redis.ttl(f"{namespace}:signin-failures:{email}")))
        raise RateLimited("too many failed sign-ins for this email; try again later", headers={"Retry-After": str(ttl)})


async def sign_in_failed(redis: Redis, namespace: str, email: str) -> None:
    counter = f"{namespace}:signin-failures:{email}"
    if await redis.incr(counter) == 1:  # the window starts at the first failure
        await redis.expire(counter, SIGN_IN_WINDOW_SECONDS)
