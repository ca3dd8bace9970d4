"""Per-API-key rate limits: a fixed one-minute window counted in Redis (INCR + EXPIRE), reported in standard headers."""

from __future__ import annotations

import time
from dataclasses import dataclass

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from redis.asyncio import Redis

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


async def spend(redis: Redis, namespace: str, key: ApiKey, *, now: float | None = None) -> Quota:
    """Count one request against the key's window; raise RateLimited (429 + Retry-After) past the limit."""
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    counter = f"{namespace}:ratelimit:{key.id}:{window}"
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(counter)
        pipe.expire(counter, WINDOW_SECONDS * 2)
        count, _ = await pipe.execute()
    reset = max(1, WINDOW_SECONDS - int(now % WINDOW_SECONDS))
    quota = Quota(
        limit=key.rate_limit_per_minute, remaining=max(0, key.rate_limit_per_minute - int(count)), reset=reset
    )
    if int(count) > key.rate_limit_per_minute:
        raise RateLimited(
            f"this API key allows {key.rate_limit_per_minute} requests per minute; retry in {reset} s",
            headers={**quota.headers(), "Retry-After": str(reset)},
        )
    return quota


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
