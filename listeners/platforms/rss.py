"""RSS and Atom feeds: conditional GET (ETag / Last-Modified) with a size cap, parsed from bytes by feedparser.

A feed feedparser flags as malformed (bozo) is quarantined whole; entries older than the cursor are skipped.
"""

from __future__ import annotations

import calendar
import hashlib
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import feedparser

from crm.models import Watch
from crm.settings import Settings
from listeners.base import Author, PayloadError, RawMention
from listeners.platforms.connector import Connector, Item, Page, html_to_text, normalise_all, reject, source_key

# Encoding mismatches and a wrong Content-Type (text/html, none) are reported as bozo though entries read fine.
BENIGN_BOZO = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)


def _when(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    return None


def rss_mention(entry: Any, feed_url: str, feed_title: str) -> RawMention:
    link = entry.get("link") or ""
    entry_id = entry.get("id") or link
    if not entry_id:
        raise PayloadError("entry has neither an id nor a link")
    if len(entry_id) > 200:  # Mention.external_id column size
        entry_id = "sha256:" + hashlib.sha256(entry_id.encode()).hexdigest()
    title = html_to_text(entry.get("title") or "")
    summary = html_to_text(entry.get("summary") or "")
    text = "\n\n".join(p for p in (title, summary) if p)
    if not text:
        raise PayloadError("entry has no title or summary")
    when = _when(entry)
    if when is None:
        raise PayloadError("entry has no published or updated date")
    host = urlsplit(feed_url).hostname or "feed"
    author_name = entry.get("author") or ""
    return RawMention(
        platform="rss",
        external_id=entry_id,
        text=text,
        url=link,
        created_at=when,
        author=Author(
            # A feed's authors are names, not accounts; scope them to the feed's host so two blogs' "admin" differ.
            handle=f"{author_name or feed_title or host}@{host}"[:200],
            display_name=author_name or feed_title,
            profile_url=feed_url,
        ),
        language=None,
        raw={
            "feed": feed_url,
            "entry": {k: v for k, v in entry.items() if isinstance(v, str | int | float | list | dict)},
        },
    )


class Rss(Connector):
    name = "rss"
    platform = "rss"

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return bool(settings.rss_feeds)

    def sources(self, watch: Watch) -> list[str]:
        return [source_key(url) for url in self.settings.rss_feeds]

    def _feed_url(self, source: str) -> str:
        return next((url for url in self.settings.rss_feeds if source_key(url) == source), source)

    async def pages(self, watch: Watch, source: str, cursor: str, state: dict[str, Any]) -> AsyncGenerator[Page, None]:
        url = self._feed_url(source)
        headers = {
            "user-agent": self.settings.reddit_user_agent,
            "accept": "application/atom+xml, application/rss+xml, */*",
        }
        if state.get("etag"):
            headers["if-none-match"] = state["etag"]
        if state.get("last_modified"):
            headers["if-modified-since"] = state["last_modified"]
        # Feeds move (http to https, new paths) more than APIs do; the worker's client does not follow by default.
        response = await self.http.request(
            "GET", url, headers=headers, max_bytes=self.settings.rss_max_bytes, follow_redirects=True
        )
        if response.status_code == 304:
            yield Page([], cursor=cursor, state=state)
            return
        validators = {
            key: value
            for key, value in (
                ("etag", response.headers.get("etag")),
                ("last_modified", response.headers.get("last-modified")),
            )
            if value
        }
        parsed = feedparser.parse(
            response.content, response_headers={k: v for k, v in response.headers.items() if k == "content-type"}
        )
        if parsed.bozo and not isinstance(parsed.get("bozo_exception"), BENIGN_BOZO):
            reason = f"malformed feed ({type(parsed.get('bozo_exception')).__name__}: {parsed.get('bozo_exception')})"
            body = response.content.decode("utf-8", "replace")[:500_000]
            yield Page([reject(0, reason, body)], cursor=cursor, state=validators)
            return
        since = datetime.fromisoformat(cursor) if cursor else None
        feed_title = str(parsed.feed.get("title") or "")
        entries = [e for e in parsed.entries if since is None or (_when(e) or datetime.max.replace(tzinfo=UTC)) > since]
        items: list[Item] = normalise_all(entries, lambda e: rss_mention(e, url, feed_title), "entry")
        newest = max((m.created_at for m in items if isinstance(m, RawMention)), default=since)
        yield Page(items, cursor=newest.isoformat() if newest else "", state=validators)
