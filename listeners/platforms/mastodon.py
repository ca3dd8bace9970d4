"""Mastodon hashtag timelines: min_id forward paging through Link headers, and the streaming API's SSE updates."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from crm.models import Watch
from listeners.base import Author, PayloadError, RawMention
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
from listeners.platforms.http import BadResponse

LIMIT = 40  # the server's maximum for timelines


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


def _newest(statuses: list[Any], current: str) -> str:
    """Mastodon ids are snowflake-like numbers in strings: compare numerically, not as text."""
    ids = [int(s["id"]) for s in statuses if isinstance(s, dict) and str(s.get("id", "")).isdigit()]
    best = max(ids, default=0)
    return str(best) if best and (not current.isdigit() or best > int(current)) else current


class Mastodon(Connector):
    name = "mastodon"
    platform = "mastodon"

    def sources(self, watch: Watch) -> list[str]:
        tags = [tag_for(t) for t in search_terms(watch)]
        return list(dict.fromkeys(t for t in tags if t))

    def headers(self) -> dict[str, str]:
        token = self.settings.mastodon_token.get_secret_value()
        return {"authorization": f"Bearer {token}"} if token else {}

    async def pages(self, watch: Watch, source: str, cursor: str, state: dict[str, Any]) -> AsyncGenerator[Page, None]:
        """min_id returns the page right after the cursor, so each page moves the cursor forward with no gap."""
        url: str | None = f"{self.settings.mastodon_base_url.rstrip('/')}/api/v1/timelines/tag/{source}"
        params: dict[str, Any] | None = {"limit": LIMIT, **({"min_id": cursor} if cursor else {})}
        while url:
            response = await self.http.request("GET", url, params=params, headers=self.headers())
            try:
                statuses = json.loads(response.content)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise BadResponse(f"mastodon: timeline is not valid JSON (truncated?): {exc}", response.text) from exc
            if not isinstance(statuses, list):
                raise BadResponse("mastodon: timeline is not a list", response.text[:100_000])
            items = normalise_all(statuses, mastodon_mention, "status")
            new_cursor = _newest(statuses, cursor)
            # rel="prev" carries min_id of the newest status on this page: the way forward in time.
            prev = response.links.get("prev", {}).get("url")
            more = bool(cursor) and bool(statuses) and len(statuses) >= LIMIT
            if more:
                url, params = (prev, None) if prev else (url, {"limit": LIMIT, "min_id": new_cursor})
            yield Page(items, cursor=new_cursor, state={}, done=not more)
            cursor = new_cursor
            if not more:
                return


async def stream_updates(lines: AsyncIterator[str]) -> AsyncIterator[Item | str]:
    """Parse the streaming API's server-sent events: `update` yields a mention, `delete` the deleted status id."""
    event, data = "", []
    index = 0
    async for raw_line in lines:
        line = raw_line.rstrip("\r\n")
        if line.startswith(":"):
            continue  # heartbeat comment
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
        elif line == "":
            if event and data:
                index += 1
                payload = "\n".join(data)
                if event == "delete":
                    yield payload.strip()
                elif event in ("update", "status.update"):
                    try:
                        status = json.loads(payload)
                    except json.JSONDecodeError as exc:
                        yield reject(index, f"stream update is not valid JSON: {exc.msg}", payload)
                        event, data = "", []
                        continue
                    for item in normalise_all([status], mastodon_mention, "status"):
                        yield item
            event, data = "", []


class MastodonStream:
    """The streaming API (`/api/v1/streaming/hashtag`) for a live deployment; polling covers gaps after restarts."""

    def __init__(self, connector: Mastodon) -> None:
        self.connector = connector

    async def hashtag(self, tag: str) -> AsyncIterator[Item | str]:
        settings = self.connector.settings
        url = f"{settings.mastodon_base_url.rstrip('/')}/api/v1/streaming/hashtag"
        client = self.connector.http.client
        async with client.stream("GET", url, params={"tag": tag}, headers=self.connector.headers()) as response:
            if response.status_code != 200:
                raise BadResponse(f"mastodon: streaming answered HTTP {response.status_code}")
            async for item in stream_updates(response.aiter_lines()):
                yield item
