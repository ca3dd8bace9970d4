"""A deterministic local replay of recorded public payloads (HN Algolia, Reddit, X v2, Mastodon, RSS/Atom, Bluesky
search and the Jetstream firehose), served on free loopback ports at each platform's own paths, so `crm demo` and tests
drive the real connectors offline.

It answers the way the platforms page and filter (numericFilters, after, since_id/next_token, min_id/max_id, since and
cursor, ETag); apart from HN's and Bluesky's query, it ignores the search text, so every recorded post is a candidate
and the watch's matching decides. Bluesky search answers are the recorded Jetstream post records in searchPosts'
postView envelope; the capture holds no handles, so authors carry the AppView's `handle.invalid` and getProfiles
knows no one: Bluesky authors appear under their DIDs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import uvicorn
from pydantic import SecretStr
from websockets.asyncio.server import Server, ServerConnection, serve

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Answer = tuple[int, dict[str, str], bytes]

REPLAY_DATA = Path(__file__).resolve().parents[1] / "replay_data"  # shipped as package data
FEEDS = ("heise.atom", "gulp-atom.atom", "reddit.rss")
LABEL = "Warmline replay: recorded public payloads, not live data"


@cache
def recorded(name: str) -> bytes:
    return (REPLAY_DATA / name).read_bytes()


def _json(body: Any, status: int = 200, **headers: str) -> Answer:
    return status, {"content-type": "application/json", **headers}, json.dumps(body).encode()


def _int(params: dict[str, str], name: str, default: int) -> int:
    value = params.get(name, "")
    return int(value) if value.isdigit() else default


def hackernews(params: dict[str, str]) -> Answer:
    hits = json.loads(recorded("hackernews.json"))["hits"]
    query = params.get("query", "").casefold()
    if query:  # Algolia matches the words of the title, text, URL and author; a substring test is close enough here
        fields = ("title", "story_text", "comment_text", "url", "author")
        hits = [h for h in hits if query in " ".join(str(h.get(f) or "") for f in fields).casefold()]
    filters = params.get("numericFilters", "")
    for op, value in re.findall(r"created_at_i(>|<=)(\d+)", filters):
        bound = int(value)
        hits = [h for h in hits if (h["created_at_i"] > bound if op == ">" else h["created_at_i"] <= bound)]
    hits.sort(key=lambda h: h["created_at_i"], reverse=True)
    per_page = max(1, min(_int(params, "hitsPerPage", 20), 1000))
    page = _int(params, "page", 0)
    pages = max(1, -(-len(hits) // per_page))
    return _json(
        {
            "hits": hits[page * per_page : (page + 1) * per_page],
            "nbHits": len(hits),
            "page": page,
            "nbPages": pages,
            "hitsPerPage": per_page,
            "exhaustiveNbHits": True,
            "query": params.get("query", ""),
            "params": urlencode(params),
            "processingTimeMS": 1,
        }
    )


def reddit(params: dict[str, str]) -> Answer:
    children = json.loads(recorded("reddit.json"))["data"]["children"]
    children.sort(key=lambda c: c["data"]["created_utc"], reverse=True)
    names = [c["data"]["name"] for c in children]
    start = names.index(params["after"]) + 1 if params.get("after") in names else 0
    limit = max(1, min(_int(params, "limit", 25), 100))
    chunk = children[start : start + limit]
    after = chunk[-1]["data"]["name"] if start + limit < len(children) and chunk else None
    return _json({"kind": "Listing", "data": {"after": after, "before": None, "dist": len(chunk), "children": chunk}})


def x_search(params: dict[str, str]) -> Answer:
    recorded_body = json.loads(recorded("x.json"))
    tweets = sorted(recorded_body["data"], key=lambda t: int(t["id"]), reverse=True)
    if params.get("since_id", "").isdigit():
        tweets = [t for t in tweets if int(t["id"]) > int(params["since_id"])]
    if not tweets:
        return _json({"meta": {"result_count": 0}})
    size = max(10, min(_int(params, "max_results", 10), 100))
    start = _int(params, "next_token", 0)
    chunk = tweets[start : start + size]
    authors = {t.get("author_id") for t in chunk}
    meta: dict[str, Any] = {"newest_id": tweets[0]["id"], "oldest_id": chunk[-1]["id"], "result_count": len(chunk)}
    if start + size < len(tweets):
        meta["next_token"] = str(start + size)
    users = [u for u in recorded_body["includes"]["users"] if u["id"] in authors]
    return _json({"data": chunk, "includes": {"users": users}, "meta": meta})


def mastodon(url: str, params: dict[str, str]) -> Answer:
    statuses = sorted(json.loads(recorded("mastodon.json")), key=lambda s: int(s["id"]))
    limit = max(1, min(_int(params, "limit", 20), 40))
    if params.get("min_id", "").isdigit():  # the page right after min_id, like Mastodon
        chunk = [s for s in statuses if int(s["id"]) > int(params["min_id"])][:limit]
    else:
        newer_than_max = (
            statuses
            if not params.get("max_id", "").isdigit()
            else [s for s in statuses if int(s["id"]) < int(params["max_id"])]
        )
        chunk = newer_than_max[-limit:]
    chunk.reverse()  # newest first on every page
    headers: dict[str, str] = {}
    if chunk:
        headers["link"] = (
            f'<{url}?{urlencode({"max_id": chunk[-1]["id"], "limit": limit})}>; rel="next", '
            f'<{url}?{urlencode({"min_id": chunk[0]["id"], "limit": limit})}>; rel="prev"'
        )
    status, base_headers, body = _json(chunk)
    return status, {**base_headers, **headers}, body


@cache
def jetstream_events() -> tuple[tuple[int, str], ...]:
    """(time_us, line) of the recorded Jetstream capture, oldest first."""
    lines = [line for line in recorded("jetstream.jsonl").decode().splitlines() if line.strip()]
    return tuple(sorted((json.loads(line)["time_us"], line) for line in lines))


@cache
def bluesky_posts() -> tuple[dict[str, Any], ...]:
    """postViews for the recorded post creates, newest first (what searchPosts with sort=latest returns)."""
    posts = []
    for _, line in jetstream_events():
        event = json.loads(line)
        commit = event.get("commit") or {}
        if commit.get("collection") != "app.bsky.feed.post" or commit.get("operation") != "create":
            continue
        record = commit["record"]
        posts.append(
            {
                "uri": f"at://{event['did']}/app.bsky.feed.post/{commit['rkey']}",
                "cid": commit.get("cid", ""),
                "author": {"did": event["did"], "handle": "handle.invalid"},
                "record": record,
                "replyCount": 0,
                "repostCount": 0,
                "likeCount": 0,
                "quoteCount": 0,
                "indexedAt": record.get("createdAt", ""),
                "labels": [],
            }
        )
    posts.sort(key=lambda p: p["record"].get("createdAt", ""), reverse=True)
    return tuple(posts)


def _instant(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def bluesky_search(params: dict[str, str]) -> Answer:
    query = params.get("q", "").casefold()
    posts = [p for p in bluesky_posts() if query in p["record"].get("text", "").casefold()]
    if params.get("since"):  # inclusive, like the AppView; compared as instants, not as text
        since = _instant(params["since"])
        posts = [p for p in posts if _instant(p["record"].get("createdAt", "")) >= since]
    limit = max(1, min(_int(params, "limit", 25), 100))
    start = _int(params, "cursor", 0)
    chunk = posts[start : start + limit]
    body: dict[str, Any] = {"posts": chunk, "hitsTotal": len(posts)}
    if start + limit < len(posts):
        body["cursor"] = str(start + limit)
    return _json(body)


def feed(name: str, if_none_match: str) -> Answer:
    body = recorded(name)
    etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
    if if_none_match == etag:
        return 304, {"etag": etag}, b""
    content_type = "application/atom+xml" if name.endswith(".atom") else "application/rss+xml"
    return 200, {"content-type": content_type, "etag": etag}, body


def route(method: str, path: str, params: dict[str, str], headers: dict[str, str]) -> Answer:
    if method == "GET" and path == "/hn/api/v1/search_by_date":
        return hackernews(params)
    if method == "POST" and path == "/reddit-auth/api/v1/access_token":
        return _json({"access_token": "replay-token", "token_type": "bearer", "expires_in": 86400, "scope": "*"})
    if method == "GET" and (path == "/reddit/search" or re.fullmatch(r"/reddit/r/\w+/new", path)):
        return reddit(params)
    if method == "GET" and path == "/x/2/tweets/search/recent":
        return x_search(params)
    if method == "GET" and path.startswith("/mastodon/api/v1/timelines/tag/"):
        return mastodon(f"http://{headers.get('host', '127.0.0.1')}{path}", params)
    if method == "GET" and path == "/bluesky/xrpc/app.bsky.feed.searchPosts":
        return bluesky_search(params)
    if method == "GET" and path == "/bluesky/xrpc/app.bsky.actor.getProfiles":
        return _json({"profiles": []})  # the capture has DIDs only; no recorded profile belongs to them
    if method == "GET" and path.startswith("/rss/") and path[5:] in FEEDS:
        return feed(path[5:], headers.get("if-none-match", ""))
    return _json({"error": f"the replay has no recording for {method} {path}"}, 404)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI app; usable in-process through httpx.ASGITransport or served by `ReplayServer`."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass  # the recorded answers do not depend on request bodies
    params = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
    headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
    status, answer_headers, body = route(scope["method"], scope["path"], params, headers)
    raw_headers = [(k.encode(), v.encode()) for k, v in {**answer_headers, "x-replay": LABEL}.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def jetstream(socket: ServerConnection) -> None:
    """The recorded firehose from the requested cursor (unix microseconds), like Jetstream's /subscribe."""
    assert socket.request is not None
    params = {k: v[-1] for k, v in parse_qs(socket.request.path.partition("?")[2]).items()}
    cursor = _int(params, "cursor", 0)
    wanted = set(parse_qs(socket.request.path.partition("?")[2]).get("wantedCollections", []))
    for time_us, line in jetstream_events():
        if time_us < cursor:
            continue
        if wanted and '"commit"' in line and json.loads(line)["commit"].get("collection") not in wanted:
            continue
        await socket.send(line)
    await socket.wait_closed()  # live Jetstream stays open; the client ends the read when it has been idle


class ReplayServer:
    """Serves `app` (HTTP) and the Jetstream replay (websocket) on 127.0.0.1 at free ports in an `async with` block."""

    def __init__(self) -> None:
        self.port = 0
        self.ws_port = 0
        self._task: asyncio.Task[None] | None = None
        self._server: Any = None
        self._ws: Server | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def jetstream_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/subscribe"

    def settings(self) -> dict[str, Any]:
        """Overrides for `Settings.model_copy(update=...)` pointing every polled connector at this replay.

        Credentials are placeholders the replay accepts; secrets are SecretStr because model_copy does not validate.
        """
        base = self.base_url
        return {
            "hn_base_url": f"{base}/hn",
            "reddit_base_url": f"{base}/reddit",
            "reddit_auth_url": f"{base}/reddit-auth",
            "reddit_client_id": "replay",
            "reddit_client_secret": SecretStr("replay"),
            "x_base_url": f"{base}/x",
            "x_bearer_token": SecretStr("replay"),
            "mastodon_base_url": f"{base}/mastodon",
            "rss_feeds": [f"{base}/rss/{name}" for name in FEEDS],
            "bluesky_base_url": f"{base}/bluesky",
            "jetstream_url": self.jetstream_url,
            "jetstream_idle_seconds": 1.0,  # the replay sends its recording at once, then stays quiet
        }

    async def __aenter__(self) -> ReplayServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False, ws="none", http="h11")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                await self._task  # raises what stopped it
            await asyncio.sleep(0.01)
        self._ws = await serve(jetstream, "127.0.0.1", 0, max_size=2**21)
        self.ws_port = next(iter(self._ws.sockets)).getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ws is not None:
            self._ws.close()
            await self._ws.wait_closed()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
