"""Bluesky post search (`app.bsky.feed.searchPosts`, sort=latest) with cursor paging and a createdAt high-water mark.

An app password, when set, buys an access token through `com.atproto.server.createSession` (kept per process).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import Any, ClassVar

from crm.models import Watch
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
from listeners.platforms.http import BadResponse, decode_json

LIMIT = 100
SESSION_SECONDS = 60 * 60  # access JWTs last about two hours; refresh well before


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
    handle = text_of(author.get("handle"), "author.handle")
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
            external_id=text_of(author.get("did"), "author.did", required=False) or None,
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


class Bluesky(Connector):
    name = "bluesky"
    platform = "bluesky"
    _sessions: ClassVar[dict[str, tuple[str, float]]] = {}

    def sources(self, watch: Watch) -> list[str]:
        return search_terms(watch)

    async def _headers(self) -> dict[str, str]:
        settings = self.settings
        password = settings.bluesky_app_password.get_secret_value()
        if not (settings.bluesky_handle and password):
            return {}
        key = f"{settings.bluesky_base_url}|{settings.bluesky_handle}"
        cached = self._sessions.get(key)
        if cached is None or cached[1] < time.time():
            # createSession is limited to 30 per 5 minutes: reuse the token for the whole process.
            response = await self.http.request(
                "POST",
                f"{settings.bluesky_base_url.rstrip('/')}/xrpc/com.atproto.server.createSession",
                json={"identifier": settings.bluesky_handle, "password": password},
            )
            body = decode_json(response, "bluesky")
            token = body.get("accessJwt") if isinstance(body, dict) else None
            if not isinstance(token, str):
                raise BadResponse("bluesky: createSession returned no accessJwt")
            cached = (token, time.time() + SESSION_SECONDS)
            self._sessions[key] = cached
        return {"authorization": f"Bearer {cached[0]}"}

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
