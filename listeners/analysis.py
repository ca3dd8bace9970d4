"""The `analyse_mentions` job: sentiment (VADER) and the languages the cheap vote left open (lingua), after commit.

Both cost 100-1500 us per text, several times the whole bulk store path, so they run here in the worker, off the
event loop, instead of in `save_mentions`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.db import session_scope
from crm.models import Mention
from listeners.normalise import detect_language
from scoring.sentiment import vader_compound

MENTION = Mention.__table__  # type: ignore[attr-defined]


def _analyse(rows: list[tuple[int, str, str | None, float | None]]) -> list[dict[str, Any]]:
    updates = []
    for mention_id, text, language, score in rows:
        updates.append(
            {
                "key": mention_id,
                "sentiment": vader_compound(text) if score is None else score,
                "language": detect_language(text) if language is None else language,
            }
        )
    return updates


async def analyse(session: AsyncSession, mention_ids: list[int]) -> int:
    """Fill sentiment and missing languages for these mentions; returns how many rows were updated."""
    found = await session.exec(
        select(Mention.id, Mention.text, Mention.language, Mention.sentiment).where(
            col(Mention.id).in_(mention_ids), col(Mention.sentiment).is_(None)
        )
    )
    rows = [(int(i), text, language, score) for i, text, language, score in found if i is not None]
    if not rows:
        return 0
    updates = await asyncio.to_thread(_analyse, rows)
    conn = await session.connection()
    await conn.execute(
        sa.update(MENTION)
        .where(MENTION.c.id == sa.bindparam("key"))
        .values(sentiment=sa.bindparam("sentiment"), language=sa.bindparam("language")),
        updates,
    )
    return len(updates)


async def analyse_mentions(ctx: dict[str, Any], mention_ids: list[int]) -> int:
    async with session_scope(ctx["sessionmaker"]) as session:
        return await analyse(session, mention_ids)
