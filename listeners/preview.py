"""Query preview: run a watch definition against the newest stored mentions so a marketer can tune it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.models import Mention, PlatformAccount
from listeners.matching import WatchMatcher

DEFAULT_SCAN = 5000
MAX_SCAN = 100_000
MENTION = Mention.__table__  # type: ignore[attr-defined]
ACCOUNT = PlatformAccount.__table__  # type: ignore[attr-defined]
CHUNK = 2000


@dataclass(frozen=True, slots=True)
class PreviewHit:
    mention_id: int
    platform: str
    handle: str
    text: str
    url: str
    posted_at: datetime | None
    terms: tuple[str, ...]
    competitors: tuple[str, ...]


@dataclass
class PreviewResult:
    scanned: int = 0
    matched: int = 0
    hits: list[PreviewHit] = field(default_factory=list)


async def preview(
    session: AsyncSession, matcher: WatchMatcher, *, scan: int = DEFAULT_SCAN, limit: int = 20
) -> PreviewResult:
    """Match the newest `scan` mentions (newest first, read in keyset chunks); keep the first `limit` hits."""
    result = PreviewResult()
    conn = await session.connection()
    before: int | None = None
    while result.scanned < scan:
        query = (
            sa.select(
                MENTION.c.id,
                MENTION.c.platform,
                ACCOUNT.c.handle,
                MENTION.c.text,
                MENTION.c.url,
                MENTION.c.posted_at,
                MENTION.c.language,
            )
            .select_from(MENTION.outerjoin(ACCOUNT, ACCOUNT.c.id == MENTION.c.account_id))
            .order_by(MENTION.c.id.desc())
            .limit(min(CHUNK, scan - result.scanned))
        )
        if before is not None:
            query = query.where(MENTION.c.id < before)
        rows = (await conn.execute(query)).all()
        if not rows:
            break
        for mention_id, platform, handle, text, url, posted_at, language in rows:
            assert mention_id is not None
            before = mention_id
            result.scanned += 1
            found = matcher.match(text, author=handle, language=language, platform=platform)
            if not found:
                continue
            result.matched += 1
            if len(result.hits) < limit:
                result.hits.append(
                    PreviewHit(mention_id, platform, handle or "", text, url, posted_at, found.terms, found.competitors)
                )
    return result
