"""Mastodon hashtag timelines and the hashtag stream.

A watch's first read backfills the tag timeline newest-first with `max_id` (Link rel="next") down to a configured depth;
later reads page forward from the durable cursor with `min_id` (Link rel="prev"), so each page moves the cursor with no
gap. Optionally a poll then listens to the streaming API (server-sent events), reconnecting with backoff and filling
what it missed through the timeline from the last status it saw.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx

from crm.models import Watch
from listeners.base import Author, PayloadError, RawMention
from listeners.intake import Rejected
from listeners.platforms.connector import (
    Connector,
    Item,
    Page,
    count,
    html_to_text,
    normalise_all,
    obj,
    reach,
    reject,
    search_terms,
    text_of,
    timestamp,
)
from listeners.platforms.http import BadResponse, PlatformUnavailable

LIMIT = 40  # the server's maximum for timelines
STREAM_BATCH = 100  # stream events per page saved
STREAM_FLUSH_SECONDS = 1.0  # a quiet stream still saves what it has this often
MAX_RECONNECTS = 5  # consecutive failed stream connections before the poll gives up
KNOWN_URIS = 50_000  # status id -> uri pairs remembered to turn a stream's delete (an id) into a stored external id


def tag_for(term: str) -> str:
    return re.sub(r"[^\w]", "", term.casefold())


def mastodon_mention(status: Any) -> RawMention | None:
    status = obj(status, "status")
    if status.get("reblog"):
        return None  # a boost repeats someone else's post; the original author is the lead
    account = obj(status.get("account"), "account")
    acct = text_of(account.get("acct"), "account.acct")
    profile = text_of(account.get("url"), "account.url", required=False)
    if "@" not in acct and profile:  # a local account: qualify it so handles are unique across instances
        acct = f"{acct}@{urlsplit(profile).hostname}"
    body = html_to_text(text_of(status.get("content"), "content", required=False))
    warning = text_of(status.get("spoiler_text"), "spoiler_text", required=False)
    text = "\n\n".join(p for p in (warning, body) if p)
    if not text:
        raise PayloadError("status has no text")
    quote = status.get("quote")
    quoted = quote.get("quoted_status") if isinstance(quote, dict) else None
    created = account.get("created_at")
    return RawMention(
        platform="mastodon",
        external_id=text_of(status.get("uri"), "uri", required=False) or text_of(status.get("id"), "id"),
        text=text,
        url=text_of(status.get("url"), "url", required=False) or text_of(status.get("uri"), "uri", required=False),
        created_at=timestamp(status.get("created_at"), "created_at"),
        author=Author(
            handle=acct,
            display_name=text_of(account.get("display_name"), "display_name", required=False),
            external_id=text_of(account.get("id"), "account.id", required=False) or None,
            followers=reach(account.get("followers_count")),
            following=reach(account.get("following_count")),
            posts_count=reach(account.get("statuses_count")),
            bio=html_to_text(text_of(account.get("note"), "note", required=False)),
            profile_url=profile,
            account_created_at=timestamp(created, "account.created_at") if isinstance(created, str) else None,
        ),
        language=text_of(status.get("language"), "language", required=False) or None,
        likes=count(status.get("favourites_count")),
        reposts=count(status.get("reblogs_count")),
        replies=count(status.get("replies_count")),
        quotes=count(status.get("quotes_count")),
        in_reply_to=text_of(status.get("in_reply_to_id"), "in_reply_to_id", required=False) or None,
        quote_of=str(quoted["id"]) if isinstance(quoted, dict) and quoted.get("id") else None,
        raw=status,
    )


def status_id(status: Any) -> str | None:
    value = status.get("id") if isinstance(status, dict) else None
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) and str(value) else None


def newer(a: str, b: str) -> bool:
    """Whether id a is newer than id b: Mastodon ids are numbers in strings (compare numerically), others sort as text."""
    if a.isdigit() and b.isdigit():
        return int(a) > int(b)
    return (len(a), a) > (len(b), b)


def newest_id(ids: Iterable[str | None], current: str) -> str:
    best = current
    for value in ids:
        if value and (not best or newer(value, best)):
            best = value
    return best


def link_param(response: httpx.Response, rel: str, name: str) -> str | None:
    """A paging parameter from the Link header; the URL itself is not followed, so a link cannot lead elsewhere."""
    url = response.links.get(rel, {}).get("url")
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get(name)
    return values[-1] if values and values[-1] else None


# --------------------------------------------------------------------------- server-sent events


@dataclass
class SseParser:
    """Server-sent events, line by line: `feed` returns (event, data) when a blank line ends an event."""

    event: str = ""
    data: list[str] = field(default_factory=list)

    def feed(self, raw_line: str) -> tuple[str, str] | None:
        line = raw_line.rstrip("\r\n")
        if line.startswith(":"):
            return None  # a comment: Mastodon's heartbeat (":thump") keeps idle connections open
        if line == "":
            found = (self.event or "message", "\n".join(self.data)) if self.data else None
            self.event, self.data = "", []
            return found
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self.event = value
        elif name == "data":
            self.data.append(value)
        return None  # id, retry and unknown fields are not used


def stream_item(event: str, data: str, index: int) -> Item | str | None:
    """An SSE event as a mention (update), a deleted status id (delete), a rejected payload, or None (other events)."""
    if event == "delete":
        return data.strip() or None
    if event not in ("update", "status.update"):
        return None  # notifications, announcements, filters_changed: not posts
    try:
        status = json.loads(data)
    except json.JSONDecodeError as exc:
        return reject(index, f"stream update is not valid JSON: {exc.msg}", data)
    items = normalise_all([status], mastodon_mention, "status")
    if items and isinstance(items[0], Rejected):
        return Rejected(index, items[0].reason, items[0].body)  # numbered by its place in the stream
    return items[0] if items else None


async def stream_updates(lines: AsyncIterator[str]) -> AsyncIterator[Item | str]:
    """Mentions, deleted ids and rejects from SSE lines (the stream without reconnects; used by tests and tools)."""
    parser = SseParser()
    index = 0
    async for line in lines:
        found = parser.feed(line)
        if found is not None:
            index += 1
            item = stream_item(*found, index)
            if item is not None:
                yield item


# --------------------------------------------------------------------------- the connector


class Mastodon(Connector):
    name = "mastodon"
    platform = "mastodon"
    # Stream deletes name a status by its instance-local id; stored mentions are keyed by the status uri.
    _uris: ClassVar[OrderedDict[str, str]] = OrderedDict()

    def sources(self, watch: Watch) -> list[str]:
        tags = [tag_for(t) for t in search_terms(watch)]
        return list(dict.fromkeys(t for t in tags if t))

    def headers(self) -> dict[str, str]:
        token = self.settings.mastodon_token.get_secret_value()
        return {"authorization": f"Bearer {token}"} if token else {}

    @property
    def base(self) -> str:
        return self.settings.mastodon_base_url.rstrip("/")

    def remember(self, statuses: list[Any]) -> None:
        for status in statuses:
            sid, uri = status_id(status), status.get("uri") if isinstance(status, dict) else None
            if sid and isinstance(uri, str):
                self._uris[f"{self.base}|{sid}"] = uri
                self._uris.move_to_end(f"{self.base}|{sid}")
        while len(self._uris) > KNOWN_URIS:
            self._uris.popitem(last=False)

    def uri_of(self, sid: str) -> str | None:
        return self._uris.get(f"{self.base}|{sid}")

    async def timeline(self, tag: str, params: dict[str, Any]) -> tuple[httpx.Response, list[Any]]:
        url = f"{self.base}/api/v1/timelines/tag/{tag}"
        response = await self.http.request("GET", url, params=params, headers=self.headers())
        try:
            statuses = json.loads(response.content)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadResponse(f"mastodon: timeline is not valid JSON (truncated?): {exc}", response.text) from exc
        if not isinstance(statuses, list):
            raise BadResponse("mastodon: timeline is not a list", response.text[:100_000])
        self.remember(statuses)
        return response, statuses

    async def pages(self, watch: Watch, source: str, cursor: str, state: dict[str, Any]) -> AsyncGenerator[Page, None]:
        walk = self.forward(source, cursor) if cursor else self.backfill(source, state)
        async for page in walk:
            cursor = page.cursor
            yield page
        if self.settings.mastodon_stream_seconds > 0:
            until = asyncio.get_running_loop().time() + self.settings.mastodon_stream_seconds
            async for page in HashtagStream(self, source, cursor, until=until).pages():
                yield page

    async def backfill(self, tag: str, state: dict[str, Any]) -> AsyncGenerator[Page, None]:
        """Newest first with max_id, down to the configured depth; the cursor is set only once the walk ends.

        Until then each page's state (the newest id seen first, the next max_id) lets a later poll carry on, and
        posts that arrive meanwhile are newer than that newest id: the first forward read picks them up.
        """
        depth = self.settings.mastodon_backfill_statuses
        high: str = state.get("high") or ""
        max_id: str | None = state.get("max_id")
        fetched = int(state.get("fetched", 0))
        while True:
            limit = max(1, min(LIMIT, depth - fetched))
            response, statuses = await self.timeline(tag, {"limit": limit, **({"max_id": max_id} if max_id else {})})
            ids = [status_id(s) for s in statuses]
            high = high or newest_id(ids, "")
            items = normalise_all(statuses, mastodon_mention, "status") if depth else []
            fetched += len(statuses)
            oldest = [i for i in ids if i]
            max_id = link_param(response, "next", "max_id") or (min(oldest, key=_sort_key) if oldest else None)
            if not statuses or fetched >= depth or len(statuses) < limit or not max_id:
                yield Page(items, cursor=high, state={}, done=True)
                return
            yield Page(items, cursor="", state={"high": high, "max_id": max_id, "fetched": fetched}, done=False)

    async def forward(self, tag: str, cursor: str) -> AsyncGenerator[Page, None]:
        """min_id returns the page right after the cursor (oldest first), so every page moves the cursor forward."""
        while True:
            response, statuses = await self.timeline(tag, {"limit": LIMIT, "min_id": cursor})
            items = normalise_all(statuses, mastodon_mention, "status")
            # rel="prev" carries min_id of the newest status on this page: the way forward in time.
            new_cursor = newest_id([link_param(response, "prev", "min_id"), *map(status_id, statuses)], cursor)
            more = len(statuses) >= LIMIT and new_cursor != cursor
            yield Page(items, cursor=new_cursor, done=not more)
            if not more:
                return
            cursor = new_cursor


def _sort_key(value: str) -> tuple[int, int | str]:
    return (0, int(value)) if value.isdigit() else (1, value)


_EOF = object()


class HashtagStream:
    """`/api/v1/streaming/hashtag?tag=` for a bounded time, as pages with a cursor like the timeline's.

    The stream is opened before the gap since the last seen status is filled through the timeline, so nothing falls
    between the two; statuses seen twice (the fill and the stream overlap) are passed on once. A dropped connection
    or a stream the server ends is reopened after a backoff with jitter, and filled again from the last seen id.
    """

    def __init__(self, connector: Mastodon, tag: str, cursor: str, *, until: float) -> None:
        self.connector = connector
        self.tag = tag
        self.cursor = cursor
        self.until = until
        self.seen: set[str] = set()
        self.reconnects = 0
        self.index = 0

    @property
    def url(self) -> str:
        base = (self.connector.settings.mastodon_streaming_url or self.connector.settings.mastodon_base_url).rstrip("/")
        return f"{base}/api/v1/streaming/hashtag"

    def left(self) -> float:
        return self.until - asyncio.get_running_loop().time()

    async def pages(self) -> AsyncGenerator[Page, None]:
        http = self.connector.http
        while self.left() > 0:
            delivered = False
            try:
                async with http.stream(
                    "GET",
                    self.url,
                    params={"tag": self.tag},
                    headers={**self.connector.headers(), "accept": "text/event-stream"},
                    timeout=httpx.Timeout(10.0, read=None),
                ) as response:
                    if self.cursor:  # what was posted while we were not listening
                        async for page in self.connector.forward(self.tag, self.cursor):
                            page.items = self._unseen(page.items)
                            self.cursor = page.cursor
                            page.done, page.live = False, True
                            yield page
                    async for page in self._read(response):
                        delivered = True
                        yield page
                if self.left() <= 0:
                    return
            except (httpx.TransportError, httpx.StreamError):
                pass  # dropped mid-stream: reconnect below
            # A connection that delivered events was healthy: only consecutive failures count towards giving up.
            self.reconnects = 1 if delivered else self.reconnects + 1
            if self.reconnects > MAX_RECONNECTS:
                raise PlatformUnavailable(f"mastodon: the hashtag stream failed {MAX_RECONNECTS} times in a row")
            await http.sleep(min(http.backoff(self.reconnects), max(self.left(), 0)))

    async def _read(self, response: httpx.Response) -> AsyncGenerator[Page, None]:
        """Lines are pumped by a task into a queue so that waiting for the next one can time out safely."""
        queue: asyncio.Queue[object] = asyncio.Queue()
        pump = asyncio.create_task(self._pump(response, queue))
        parser = SseParser()
        items: list[Item] = []
        deleted: list[str] = []
        try:
            while True:
                wait = min(STREAM_FLUSH_SECONDS, self.left())
                line: object = None
                if wait > 0:
                    try:
                        line = await asyncio.wait_for(queue.get(), wait)
                    except TimeoutError:
                        line = None
                if isinstance(line, BaseException):
                    if items or deleted:
                        yield self._page(items, deleted)
                    raise line
                ended = line is _EOF or self.left() <= 0
                if isinstance(line, str):
                    found = parser.feed(line)
                    if found is not None:
                        self._take(found, items, deleted)
                if (items or deleted) and (line is None or ended or len(items) >= STREAM_BATCH):
                    yield self._page(items, deleted)
                    items, deleted = [], []
                if ended:
                    return
        finally:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)

    @staticmethod
    async def _pump(response: httpx.Response, queue: asyncio.Queue[object]) -> None:
        try:
            async for line in response.aiter_lines():
                await queue.put(line)
            await queue.put(_EOF)
        except (httpx.TransportError, httpx.StreamError) as exc:
            await queue.put(exc)

    def _take(self, found: tuple[str, str], items: list[Item], deleted: list[str]) -> None:
        self.index += 1
        item = stream_item(*found, self.index)
        if isinstance(item, str):
            uri = self.connector.uri_of(item)
            if uri:
                deleted.append(uri)
            return
        if item is None:
            return
        if isinstance(item, RawMention):
            self.connector.remember([item.raw])
            sid = status_id(item.raw)
            if sid:
                self.cursor = newest_id([sid], self.cursor)
        items.extend(self._unseen([item]))

    def _unseen(self, items: list[Item]) -> list[Item]:
        fresh: list[Item] = []
        for item in items:
            if isinstance(item, RawMention):
                if item.external_id in self.seen:
                    continue
                self.seen.add(item.external_id)
            fresh.append(item)
        return fresh

    def _page(self, items: list[Item], deleted: list[str]) -> Page:
        return Page(list(items), cursor=self.cursor, deleted=list(deleted), done=False, live=True)
