"""Reddit with an app-only OAuth token: a search for the watch's terms and optional subreddit listings, `after` paging."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from typing import Any, ClassVar

import httpx

from crm.models import Watch
from crm.settings import Settings
from listeners.base import Author, PayloadError, RawMention
from listeners.platforms.connector import Connector, Page, count, normalise_all, obj, search_terms, source_key, text_of
from listeners.platforms.connector import timestamp as to_datetime
from listeners.platforms.http import BadResponse, NotConfigured, decode_json

LIMIT = 100
DELETED = {"[deleted]", "[removed]"}


def reddit_query(terms: list[str]) -> str:
    return " OR ".join(f'"{t}"' if " " in t else t for t in terms)


def reddit_mention(child: Any) -> RawMention | None:
    child = obj(child, "child")
    kind = child.get("kind")
    data = obj(child.get("data"), "data")
    if kind not in ("t1", "t3"):
        raise PayloadError(f"unexpected listing kind {kind!r}")
    author = text_of(data.get("author"), "author")
    body = data.get("body") if kind == "t1" else data.get("selftext")
    if author in DELETED or body in DELETED:
        return None  # deleted on Reddit: its content policy asks us not to keep it
    name = text_of(data.get("name"), "name")
    title = text_of(data.get("title"), "title", required=False)
    text = "\n\n".join(p for p in (title, text_of(body, "body", required=False)) if p)
    if not text:
        raise PayloadError("post has neither a title nor a body")
    permalink = text_of(data.get("permalink"), "permalink", required=False)
    parent = data.get("parent_id") if kind == "t1" else None
    return RawMention(
        platform="reddit",
        external_id=name,
        text=text,
        url=f"https://www.reddit.com{permalink}" if permalink.startswith("/") else permalink,
        created_at=to_datetime(data.get("created_utc"), "created_utc"),
        author=Author(
            handle=author,
            external_id=text_of(data.get("author_fullname"), "author_fullname", required=False) or None,
            profile_url=f"https://www.reddit.com/user/{author}",
        ),
        likes=count(data.get("score")),
        replies=count(data.get("num_comments")),
        in_reply_to=parent if isinstance(parent, str) else None,
        raw=child,
    )


def _created(child: Any) -> float | None:
    data = child.get("data") if isinstance(child, dict) else None
    value = data.get("created_utc") if isinstance(data, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class Reddit(Connector):
    name = "reddit"
    platform = "reddit"
    # Tokens last about a day; one per client id per process saves a token call on every poll.
    _tokens: ClassVar[dict[str, tuple[str, float]]] = {}

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return bool(settings.reddit_client_id and settings.reddit_client_secret.get_secret_value())

    def sources(self, watch: Watch) -> list[str]:
        terms = search_terms(watch)
        found = [source_key(f"search:{reddit_query(terms)}")] if terms else []
        return found + [f"r/{sub.strip().removeprefix('r/')}" for sub in self.settings.reddit_subreddits if sub.strip()]

    async def _token(self) -> str:
        settings = self.settings
        key = f"{settings.reddit_auth_url}|{settings.reddit_client_id}"
        cached = self._tokens.get(key)
        if cached and cached[1] > time.time() + 60:
            return cached[0]
        if not self.configured(settings):
            raise NotConfigured("reddit: CRM_REDDIT_CLIENT_ID and CRM_REDDIT_CLIENT_SECRET are not set")
        response = await self.http.request(
            "POST",
            f"{settings.reddit_auth_url.rstrip('/')}/api/v1/access_token",
            data={"grant_type": "client_credentials"},
            auth=httpx.BasicAuth(settings.reddit_client_id, settings.reddit_client_secret.get_secret_value()),
            headers={"user-agent": settings.reddit_user_agent},
        )
        body = decode_json(response, "reddit")
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise BadResponse("reddit: the token response has no access_token")
        expires = body.get("expires_in")
        self._tokens[key] = (token, time.time() + (expires if isinstance(expires, int | float) else 3600))
        return token

    async def _get(self, url: str, params: dict[str, Any]) -> Any:
        for attempt in range(2):
            token = await self._token()
            headers = {"authorization": f"bearer {token}", "user-agent": self.settings.reddit_user_agent}
            try:
                return await self.http.get_json(url, params=params, headers=headers)
            except BadResponse as exc:
                if "HTTP 401" not in str(exc) or attempt:
                    raise
                self._tokens.clear()  # revoked or expired early: fetch a new token once
        raise AssertionError("unreachable")  # pragma: no cover

    async def pages(self, watch: Watch, source: str, cursor: str, state: dict[str, Any]) -> AsyncGenerator[Page, None]:
        """Newest first until the high-water created_utc; `after` and the pending ceiling survive a restart."""
        base = self.settings.reddit_base_url.rstrip("/")
        if source.startswith("search:"):
            terms = search_terms(watch)  # the source may be shortened; the query is rebuilt from the watch
            url, params = f"{base}/search", {"q": reddit_query(terms), "sort": "new", "type": "link"}
        else:
            url, params = f"{base}/{source}/new", {}
        low = float(cursor) if cursor else None
        high: float | None = state.get("high")
        after: str | None = state.get("after")
        while True:
            query = {**params, "limit": LIMIT, "raw_json": 1, **({"after": after} if after else {})}
            body = await self._get(url, query)
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, dict) or not isinstance(data.get("children"), list):
                raise BadResponse("reddit: response is not a Listing", str(body)[:100_000])
            children: list[Any] = data["children"]
            stamps = [stamp for stamp in map(_created, children) if stamp is not None]
            # Undated children go through so that normalising rejects them with a reason.
            fresh = [c for c in children if low is None or (_created(c) or float("inf")) > low]
            items = normalise_all(fresh, reddit_mention, "listing")
            if high is None:
                high = max(stamps, default=low or 0.0)
            after = data.get("after") if isinstance(data.get("after"), str) else None
            reached_old = low is not None and any(s <= low for s in stamps)
            if low is None or reached_old or not after or not children:
                yield Page(items, cursor=repr(float(high)), state={}, done=True)
                return
            yield Page(items, cursor=cursor, state={"high": high, "after": after}, done=False)
