"""X API v2 recent search with an app-only bearer token: since_id high-water mark, next_token paging, authors joined."""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator
from typing import Any

from crm.models import Watch
from crm.settings import Settings
from listeners.base import Author, PayloadError, RawMention
from listeners.platforms.connector import (
    Connector,
    Page,
    count,
    normalise_all,
    obj,
    reach,
    search_terms,
    source_key,
    sub,
    text_of,
    timestamp,
)
from listeners.platforms.http import BadResponse

TWEET_FIELDS = "created_at,author_id,public_metrics,lang,referenced_tweets,conversation_id,in_reply_to_user_id"
USER_FIELDS = "username,name,description,public_metrics,verified,created_at"
MAX_RESULTS = 100


def x_query(terms: list[str]) -> str:
    joined = " OR ".join(f'"{t}"' if " " in t else t for t in terms)
    # Retweets repeat someone else's words; the original is what a lead said.
    return f"({joined}) -is:retweet"


def x_mention(tweet: Any, users: dict[str, dict[str, Any]]) -> RawMention:
    tweet = obj(tweet, "tweet")
    tweet_id = text_of(tweet.get("id"), "id")
    author_id = text_of(tweet.get("author_id"), "author_id")
    user = users.get(author_id)
    if user is None:
        raise PayloadError(f"author {author_id} is not in includes.users (was expansions=author_id requested?)")
    username = text_of(user.get("username"), "username")
    user_metrics = sub(user, "public_metrics")
    metrics = sub(tweet, "public_metrics")
    refs = tweet.get("referenced_tweets") if isinstance(tweet.get("referenced_tweets"), list) else []
    ref_ids = {r.get("type"): str(r.get("id")) for r in refs if isinstance(r, dict) and r.get("id")}
    created = user.get("created_at")
    return RawMention(
        platform="x",
        external_id=tweet_id,
        text=text_of(tweet.get("text"), "text"),
        url=f"https://x.com/{username}/status/{tweet_id}",
        created_at=timestamp(tweet.get("created_at"), "created_at"),
        author=Author(
            handle=username,
            display_name=text_of(user.get("name"), "name", required=False),
            external_id=author_id,
            followers=reach(user_metrics.get("followers_count")),
            following=reach(user_metrics.get("following_count")),
            posts_count=reach(user_metrics.get("tweet_count")),
            verified=user.get("verified") is True,
            bio=text_of(user.get("description"), "description", required=False),
            profile_url=f"https://x.com/{username}",
            account_created_at=timestamp(created, "user.created_at") if isinstance(created, str) else None,
        ),
        language=text_of(tweet.get("lang"), "lang", required=False) or None,
        likes=count(metrics.get("like_count")),
        reposts=count(metrics.get("retweet_count")),
        replies=count(metrics.get("reply_count")),
        quotes=count(metrics.get("quote_count")),
        in_reply_to=ref_ids.get("replied_to"),
        quote_of=ref_ids.get("quoted"),
        raw={"tweet": tweet, "author": user},
    )


class X(Connector):
    name = "x"
    platform = "x"

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return bool(settings.x_bearer_token.get_secret_value())

    def sources(self, watch: Watch) -> list[str]:
        terms = search_terms(watch)
        return [source_key(x_query(terms))] if terms else []

    async def pages(self, watch: Watch, source: str, cursor: str, state: dict[str, Any]) -> AsyncGenerator[Page, None]:
        """since_id bounds the walk below; next_token walks down from the newest id seen on the first page."""
        url = f"{self.settings.x_base_url.rstrip('/')}/2/tweets/search/recent"
        headers = {"authorization": f"Bearer {self.settings.x_bearer_token.get_secret_value()}"}
        newest: str | None = state.get("newest")
        token: str | None = state.get("next_token")
        query = x_query(search_terms(watch))
        while True:
            params: dict[str, Any] = {
                "query": query,
                "max_results": MAX_RESULTS,
                "tweet.fields": TWEET_FIELDS,
                "expansions": "author_id",
                "user.fields": USER_FIELDS,
            }
            if cursor:
                params["since_id"] = cursor
            if token:
                params["next_token"] = token
            body = await self.http.get_json(url, params=params, headers=headers)
            if not isinstance(body, dict) or not isinstance(body.get("meta", {}), dict):
                raise BadResponse("x: search response is not an object with meta", str(body)[:100_000])
            meta: dict[str, Any] = body.get("meta", {})
            includes = sub(body, "includes")
            users = {
                str(u["id"]): u for u in includes.get("users", []) if isinstance(u, dict) and u.get("id") is not None
            }
            tweets = body.get("data", [])  # absent when nothing matched
            items = normalise_all(tweets, functools.partial(x_mention, users=users), "tweet")
            if newest is None:
                newest = str(meta["newest_id"]) if meta.get("newest_id") else (cursor or None)
            token = meta.get("next_token") if isinstance(meta.get("next_token"), str) else None
            if not cursor or not token:  # a first poll takes only the newest page
                yield Page(items, cursor=newest or "", state={}, done=True)
                return
            yield Page(items, cursor=cursor, state={"newest": newest, "next_token": token}, done=False)
