"""Bluesky's Jetstream firehose over websockets: posts as JSON events, cursor = unix microseconds.

On (re)connect the cursor is rewound a few seconds for gapless playback; the store's unique key makes replays harmless.
Deletes arrive as operation=delete and are passed on so stored copies can be erased. Events carry only the author's
DID: that is the account's identity (external id), and the handle and reach come from getProfiles when it answers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError, InvalidHandshake, InvalidURI

from crm.models import Watch
from listeners.base import Author, PayloadError, RawMention
from listeners.matching import WatchMatcher
from listeners.platforms.bluesky import Profiles, post_url, quoted_uri
from listeners.platforms.connector import Connector, Item, Page, obj, reject, search_terms, sub, text_of, timestamp
from listeners.platforms.http import PlatformUnavailable

POST = "app.bsky.feed.post"
BATCH = 500
MAX_RECONNECTS = 3


def jetstream_mention(event: dict[str, Any]) -> RawMention | None:
    did = text_of(event.get("did"), "did")
    commit = obj(event.get("commit"), "commit")
    record = obj(commit.get("record"), "commit.record")
    rkey = text_of(commit.get("rkey"), "commit.rkey")
    text = text_of(record.get("text"), "record.text", required=False)
    if not text.strip():
        return None
    uri = f"at://{did}/{POST}/{rkey}"
    reply = sub(record, "reply")
    parent = sub(reply, "parent")
    langs = record.get("langs")
    return RawMention(
        platform="bluesky",
        external_id=uri,
        text=text,
        url=post_url(did, uri),
        created_at=timestamp(record.get("createdAt"), "record.createdAt"),
        # Events carry the DID only; the handle is resolved later (or never: the DID is the stable identity).
        author=Author(handle=did, external_id=did, profile_url=f"https://bsky.app/profile/{did}"),
        language=langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str) else None,
        in_reply_to=parent.get("uri") if isinstance(parent.get("uri"), str) else None,
        quote_of=quoted_uri(record.get("embed")),
        raw=event,
    )


class Jetstream(Connector):
    name = "jetstream"
    platform = "bluesky"

    def sources(self, watch: Watch) -> list[str]:
        return [POST] if search_terms(watch) else []  # without terms the whole firehose would be stored

    async def events(self, cursor_us: int | None, *, idle_seconds: float, max_events: int) -> AsyncIterator[Frame]:
        """Frames from the cursor on; reconnects (bounded) after a dropped connection, rewinding the cursor."""
        rewind_us = int(self.settings.jetstream_rewind_seconds * 1_000_000)
        last = cursor_us
        received = 0
        reconnects = 0
        while True:
            params: dict[str, Any] = {"wantedCollections": POST}
            if last is not None:
                params["cursor"] = max(0, last - rewind_us)
            url = str(httpx.URL(self.settings.jetstream_url).copy_merge_params(params))
            try:
                async with connect(url, open_timeout=10, close_timeout=2, max_size=2**21) as socket:
                    while received < max_events:
                        try:
                            message = await asyncio.wait_for(socket.recv(), idle_seconds)
                        except TimeoutError:
                            return  # caught up: nothing new within the idle window
                        received += 1
                        frame = Frame.read(message)
                        if frame.time_us is not None and (last is None or frame.time_us > last):
                            last = frame.time_us
                        yield frame
                    return
            except (ConnectionClosedError, OSError, InvalidHandshake, TimeoutError) as exc:
                reconnects += 1
                if reconnects > MAX_RECONNECTS:
                    raise PlatformUnavailable(f"jetstream: {type(exc).__name__} after {reconnects} connects") from exc
                await self.http.sleep(self.http.backoff(reconnects))
            except InvalidURI as exc:
                raise PlatformUnavailable(f"jetstream: bad CRM_JETSTREAM_URL: {exc}") from exc

    async def pages(self, watch: Watch, source: str, cursor: str, state: dict[str, Any]) -> AsyncGenerator[Page, None]:
        """Batches of matching posts; the cursor is the newest time_us seen, the firehose needs no other state."""
        matcher = WatchMatcher.from_watch(watch)
        newest = int(cursor) if cursor.isdigit() else None
        items: list[Item] = []
        deleted: list[str] = []
        seen = 0
        stream = self.events(
            newest, idle_seconds=self.settings.jetstream_idle_seconds, max_events=self.settings.jetstream_max_events
        )
        async for frame in stream:
            seen += 1
            if frame.time_us is not None and (newest is None or frame.time_us > newest):
                newest = frame.time_us
            item = _read(seen, frame, matcher, deleted)
            if item is not None:
                items.append(item)
            if seen % BATCH == 0:
                items = await self.with_profiles(items)
                yield Page(items, cursor=str(newest or ""), deleted=deleted, done=False, live=True)
                items, deleted = [], []
        items = await self.with_profiles(items)
        yield Page(items, cursor=str(newest) if newest is not None else cursor, deleted=deleted, done=True, live=True)

    async def with_profiles(self, items: list[Item]) -> list[Item]:
        """Mentions with the handle and reach of their DID's profile, where getProfiles knows it."""
        dids = [i.author.handle for i in items if isinstance(i, RawMention) and i.author.handle.startswith("did:")]
        if not dids:
            return items
        found = await Profiles(self.http, self.settings).resolve(dids)
        out: list[Item] = []
        for item in items:
            author = found.get(item.author.handle) if isinstance(item, RawMention) else None
            if isinstance(item, RawMention) and author is not None:
                item = replace(item, author=author, url=post_url(author.handle, item.external_id))
            out.append(item)
        return out


@dataclass(frozen=True, slots=True)
class Frame:
    """One websocket message, parsed once: the event (None if it is not JSON), its time_us, and the raw text."""

    event: Any
    time_us: int | None
    text: str
    error: str = ""

    @classmethod
    def read(cls, message: str | bytes) -> Frame:
        text = message if isinstance(message, str) else message.decode("utf-8", "replace")
        try:
            event = json.loads(text)
        except ValueError as exc:
            return cls(None, None, text, f"jetstream event is not valid JSON: {exc}")
        stamp = event.get("time_us") if isinstance(event, dict) else None
        return cls(event, stamp if isinstance(stamp, int) and not isinstance(stamp, bool) else None, text)


def _read(index: int, frame: Frame, matcher: WatchMatcher, deleted: list[str]) -> Item | None:
    """One event: a matching post becomes a mention, a deleted post an id to erase, anything else is skipped."""
    if frame.error:
        return reject(index, frame.error, frame.text)
    event = frame.event
    commit = event.get("commit") if isinstance(event, dict) else None
    if not isinstance(event, dict) or event.get("kind") != "commit" or not isinstance(commit, dict):
        return None  # identity and account events
    if commit.get("collection") != POST:
        return None
    if commit.get("operation") == "delete":
        if isinstance(event.get("did"), str) and isinstance(commit.get("rkey"), str):
            deleted.append(f"at://{event['did']}/{POST}/{commit['rkey']}")
        return None
    if commit.get("operation") != "create":
        return None
    try:
        mention = jetstream_mention(event)
    except PayloadError as exc:
        return reject(index, str(exc), event)
    # The firehose is every post on Bluesky: only those the watch matches are worth storing.
    if mention is None or not matcher.match(mention.text, language=mention.language, platform=mention.platform):
        return None
    return mention
