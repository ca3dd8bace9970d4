"""Hacker News through the Algolia search API: stories and comments newer than a created_at_i high-water mark."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from crm.models import Watch
from listeners.base import Author, PayloadError, RawMention
from listeners.platforms.connector import (
    Connector,
    Page,
    count,
    html_to_text,
    normalise_all,
    obj,
    search_terms,
    text_of,
    timestamp,
)
from listeners.platforms.http import BadResponse

HITS_PER_PAGE = 100


def hn_mention(hit: Any) -> RawMention:
    hit = obj(hit, "hit")
    object_id = text_of(hit.get("objectID"), "objectID")
    author = text_of(hit.get("author"), "author")
    created = hit.get("created_at_i", hit.get("created_at"))
    title = text_of(hit.get("title"), "title", required=False)
    body = text_of(hit.get("comment_text"), "comment_text", required=False) or text_of(
        hit.get("story_text"), "story_text", required=False
    )
    text = "\n\n".join(part for part in (title, html_to_text(body)) if part)
    if not text:
        raise PayloadError("hit has neither a title nor a text")
    parent = hit.get("parent_id")
    return RawMention(
        platform="hackernews",
        external_id=object_id,
        text=text,
        url=f"https://news.ycombinator.com/item?id={object_id}",
        created_at=timestamp(created, "created_at_i"),
        author=Author(handle=author, profile_url=f"https://news.ycombinator.com/user?id={author}"),
        likes=count(hit.get("points")),
        replies=count(hit.get("num_comments")),
        in_reply_to=str(parent) if isinstance(parent, int | str) and not isinstance(parent, bool) else None,
        raw=hit,
    )


class HackerNews(Connector):
    name = "hackernews"
    platform = "hackernews"

    def sources(self, watch: Watch) -> list[str]:
        return search_terms(watch)

    async def pages(self, watch: Watch, source: str, cursor: str, state: dict[str, Any]) -> AsyncGenerator[Page, None]:
        """Newest first, bounded above by the ceiling fixed on the first page so later pages cannot shift."""
        low = int(cursor) if cursor.isdigit() else None
        high: int | None = state.get("high")
        page_no = int(state.get("page", 0))
        url = f"{self.settings.hn_base_url.rstrip('/')}/api/v1/search_by_date"
        while True:
            filters = [f"created_at_i>{low or 0}"] + ([f"created_at_i<={high}"] if high is not None else [])
            params = {
                "query": source,
                "tags": "(story,comment)",
                "numericFilters": ",".join(filters),
                "hitsPerPage": HITS_PER_PAGE,
                "page": page_no,
            }
            body = await self.http.get_json(url, params=params)
            if not isinstance(body, dict) or not isinstance(body.get("hits"), list):
                raise BadResponse("hackernews: search response has no hits list", str(body)[:100_000])
            hits: list[Any] = body["hits"]
            items = normalise_all(hits, hn_mention, "hit")
            if high is None:
                stamps = [h.get("created_at_i") for h in hits if isinstance(h, dict)]
                high = max((s for s in stamps if isinstance(s, int) and not isinstance(s, bool)), default=low or 0)
            page_no += 1
            pages = body.get("nbPages")
            # A first poll takes only the newest page: the watch starts now, not at the beginning of HN.
            done = low is None or not hits or not isinstance(pages, int) or page_no >= pages
            if done:
                yield Page(items, cursor=str(high), state={}, done=True)
                return
            yield Page(items, cursor=str(low), state={"high": high, "page": page_no}, done=False)
