"""The normalised shape every connector produces: a RawMention with its author, ready for matching and storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Author:
    handle: str
    display_name: str = ""
    external_id: str | None = None
    followers: int | None = None
    following: int | None = None
    posts_count: int | None = None
    verified: bool = False
    dm_open: bool = False
    bio: str = ""
    profile_url: str = ""
    account_created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RawMention:
    platform: str
    external_id: str
    text: str
    url: str
    created_at: datetime
    author: Author
    language: str | None = None
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    quotes: int = 0
    in_reply_to: str | None = None
    quote_of: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


class PayloadError(ValueError):
    """A payload that cannot become a mention; the message is the quarantine reason."""
