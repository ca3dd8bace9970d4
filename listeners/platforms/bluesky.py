"""Bluesky post search (`app.bsky.feed.searchPosts`, sort=latest) with cursor paging and a createdAt high-water mark,
and DID -> profile resolution (`app.bsky.actor.getProfiles`, batched and cached) for sources that only carry DIDs.

An app password, when set, buys an access token through `com.atproto.server.createSession` (kept per process).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Iterable
from datetime import timedelta
from typing import Any, ClassVar

import structlog

from crm.models import Watch
from crm.settings import Settings
from listeners.base import Author, RawMention
from listeners.platforms.connector import (
    Connector,
    Page,
    count,
    normalise_all,
    obj,
    reach,
    search_terms,
    sub,
    text_of,
    timestamp,
)
from listeners.platforms.http import BadResponse, PlatformError, PlatformHttp, decode_json

log = structlog.get_logger(__name__)
LIMIT = 100
SESSION_SECONDS = 60 * 60  # access JWTs last about two hours; refresh well before
INVALID_HANDLE = "handle.invalid"  # what the AppView shows when a handle no longer verifies: the DID is the identity
PROFILES_PER_CALL = 25  # getProfiles takes at most 25 actors
PROFILE_SECONDS = 6 * 60 * 60
MISSING_SECONDS = 60 * 60  # an account getProfiles does not return (deleted, taken down) is asked about again later
PROFILE_CACHE = 100_000


def post_url(handle_or_did: str, uri: str) -> str:
    return f"https://bsky.app/profile/{handle_or_did}/post/{uri.rsplit('/', 1)[-1]}"


def _ref_uri(value: Any) -> str | None:
    uri = value.get("uri") if isinstance(value, dict) else None
    return uri if isinstance(uri, str) and uri else None


def quoted_uri(embed: Any) -> str | None:
    """The quoted post of an app.bsky.embed.record or recordWithMedia embed, if any."""
    if not isinstance(embed, dict):
        return None
    record = embed.get("record")
    if isinstance(record, dict) and isinstance(record.get("record"), dict):  # recordWithMedia nests once more
        record = record["record"]
    return _ref_uri(record)


def bluesky_mention(post: Any) -> RawMention | None:
    post = obj(post, "post")
    uri = text_of(post.get("uri"), "uri")
    author = obj(post.get("author"), "author")
    record = obj(post.get("record"), "record")
    text = text_of(record.get("text"), "record.text", required=False)
    if not text.strip():
        return None  # an image-only post has no words to match
    did = text_of(author.get("did"), "author.did", required=False)
    handle = text_of(author.get("handle"), "author.handle", required=not did)
    if handle in ("", INVALID_HANDLE):
        handle = did  # two authors with an invalid handle must not become one account
    langs = record.get("langs")
    reply = sub(record, "reply")
    created = author.get("createdAt")
    return RawMention(
        platform="bluesky",
        external_id=uri,
        text=text,
        url=post_url(handle, uri),
        created_at=timestamp(record.get("createdAt") or post.get("indexedAt"), "record.createdAt"),
        author=Author(
            handle=handle,
            display_name=text_of(author.get("displayName"), "displayName", required=False),
            external_id=did or None,
            followers=reach(author.get("followersCount")),
            following=reach(author.get("followsCount")),
            posts_count=reach(author.get("postsCount")),
            dm_open=isinstance(author.get("associated"), dict)
            and (author["associated"].get("chat") or {}).get("allowIncoming") == "all",
            bio=text_of(author.get("description"), "description", required=False),
            profile_url=f"https://bsky.app/profile/{handle}",
            account_created_at=timestamp(created, "author.createdAt") if isinstance(created, str) else None,
        ),
        language=langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str) else None,
        likes=count(post.get("likeCount")),
        reposts=count(post.get("repostCount")),
        replies=count(post.get("replyCount")),
        quotes=count(post.get("quoteCount")),
        in_reply_to=_ref_uri(reply.get("parent")),
        quote_of=quoted_uri(record.get("embed")),
        raw=post,
    )


_sessions: dict[str, tuple[str, float]] = {}


async def session_headers(http: PlatformHttp, settings: Settings) -> dict[str, str]:
    """An Authorization header when an app password is set (one session per process), else none (public AppView)."""
    password = settings.bluesky_app_password.get_secret_value()
    if not (settings.bluesky_handle and password):
        return {}
    key = f"{settings.bluesky_base_url}|{settings.bluesky_handle}"
    cached = _sessions.get(key)
    if cached is None or cached[1] < time.time():
        # createSession is limited to 30 per 5 minutes: reuse the token for the whole process.
        response = await http.request(
            "POST",
            f"{settings.bluesky_base_url.rstrip('/')}/xrpc/com.atproto.server.createSession",
            json={"identifier": settings.bluesky_handle, "password": password},
        )
        body = decode_json(response, "bluesky")
        token = body.get("accessJwt") if isinstance(body, dict) else None
        if not isinstance(token, str):
            raise BadResponse("bluesky: createSession returned no accessJwt")
        cached = (token, time.time() + SESSION_SECONDS)
        _sessions[key] = cached
    return {"authorization": f"Bearer {cached[0]}"}


def profile_author(profile: Any) -> Author | None:
    """An Author from a profileView(Detailed); None when it has no usable DID and handle."""
    if not isinstance(profile, dict):
        return None
    did, handle = profile.get("did"), profile.get("handle")
    if not isinstance(did, str) or not did.startswith("did:"):
        return None
    if not isinstance(handle, str) or handle in ("", INVALID_HANDLE):
        handle = did
    created = profile.get("createdAt")
    associated = profile.get("associated")
    chat = associated.get("chat") if isinstance(associated, dict) else None
    try:
        account_created_at = timestamp(created, "createdAt") if isinstance(created, str) else None
    except ValueError:
        account_created_at = None
    display_name = profile.get("displayName")
    bio = profile.get("description")
    return Author(
        handle=handle,
        display_name=display_name if isinstance(display_name, str) else "",
        external_id=did,
        followers=reach(profile.get("followersCount")),
        following=reach(profile.get("followsCount")),
        posts_count=reach(profile.get("postsCount")),
        dm_open=isinstance(chat, dict) and chat.get("allowIncoming") == "all",
        bio=bio if isinstance(bio, str) else "",
        profile_url=f"https://bsky.app/profile/{handle}",
        account_created_at=account_created_at,
    )


class Profiles:
    """DID -> Author from `app.bsky.actor.getProfiles`, asked in batches of 25 and cached per process.

    Resolution is a nicety: when it fails (rate limit, outage, odd answer) the DID stays the author's identity.
    """

    _cache: ClassVar[OrderedDict[str, tuple[Author | None, float]]] = OrderedDict()

    def __init__(self, http: PlatformHttp, settings: Settings, clock: Any = time.time) -> None:
        self.http = http
        self.settings = settings
        self.clock = clock

    @classmethod
    def learn(cls, author: Author, now: float) -> None:
        assert author.external_id is not None
        cls._cache[author.external_id] = (author, now + PROFILE_SECONDS)
        cls._cache.move_to_end(author.external_id)
        while len(cls._cache) > PROFILE_CACHE:
            cls._cache.popitem(last=False)

    async def resolve(self, dids: Iterable[str]) -> dict[str, Author]:
        now = self.clock()
        found: dict[str, Author] = {}
        wanted: list[str] = []
        for did in dict.fromkeys(dids):
            cached = self._cache.get(did)
            if cached is not None and cached[1] > now:
                if cached[0] is not None:
                    found[did] = cached[0]
            else:
                wanted.append(did)
        url = f"{self.settings.bluesky_base_url.rstrip('/')}/xrpc/app.bsky.actor.getProfiles"
        for start in range(0, len(wanted), PROFILES_PER_CALL):
            batch = wanted[start : start + PROFILES_PER_CALL]
            try:
                body = await self.http.get_json(
                    url,
                    params=[("actors", did) for did in batch],
                    headers=await session_headers(self.http, self.settings),
                )
            except PlatformError as exc:
                log.warning("bluesky.profiles_unresolved", dids=len(wanted) - start, error=str(exc))
                break  # keep the DIDs; the next page tries again
            profiles = body.get("profiles") if isinstance(body, dict) else None
            if not isinstance(profiles, list):
                log.warning("bluesky.profiles_unreadable", body=str(body)[:200])
                break
            for author in filter(None, map(profile_author, profiles)):
                if author.external_id in batch:
                    found[author.external_id] = author
                    self.learn(author, now)
            for did in batch:
                if did not in found:  # not returned: deleted, deactivated or taken down
                    self._cache[did] = (None, now + MISSING_SECONDS)
        return found


class Bluesky(Connector):
    name = "bluesky"
    platform = "bluesky"

    def sources(self, watch: Watch) -> list[str]:
        return search_terms(watch)

    async def _headers(self) -> dict[str, str]:
        return await session_headers(self.http, self.settings)

    async def pages(self, watch: Watch, source: str, cursor: str, state: dict[str, Any]) -> AsyncGenerator[Page, None]:
        """`since` bounds the walk below; the API's own cursor pages down from the newest post of the first page."""
        url = f"{self.settings.bluesky_base_url.rstrip('/')}/xrpc/app.bsky.feed.searchPosts"
        high: str | None = state.get("high")
        page_cursor: str | None = state.get("cursor")
        while True:
            params: dict[str, Any] = {"q": source, "sort": "latest", "limit": LIMIT}
            if cursor:
                params["since"] = cursor
            if page_cursor:
                params["cursor"] = page_cursor
            body = await self.http.get_json(url, params=params, headers=await self._headers())
            if not isinstance(body, dict) or not isinstance(body.get("posts"), list):
                raise BadResponse("bluesky: searchPosts response has no posts list", str(body)[:100_000])
            posts: list[Any] = body["posts"]
            items = normalise_all(posts, bluesky_mention, "post")
            if high is None:
                newest = max((m.created_at for m in items if isinstance(m, RawMention)), default=None)
                # `since` is inclusive; a microsecond past the newest keeps the next poll from fetching it again.
                high = (newest + timedelta(microseconds=1)).isoformat(timespec="microseconds") if newest else cursor
            page_cursor = body.get("cursor") if isinstance(body.get("cursor"), str) else None
            if not cursor or not page_cursor or not posts:
                yield Page(items, cursor=high or "", state={}, done=True)
                return
            yield Page(items, cursor=cursor, state={"high": high, "cursor": page_cursor}, done=False)
