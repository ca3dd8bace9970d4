"""arq jobs for scoring; each takes ids and is safe to run twice (a rescore just writes a newer score row)."""

from __future__ import annotations

from typing import Any

from crm.db import session_scope
from scoring.service import score_lead as score_lead_in_session


async def score_lead(ctx: dict[str, Any], lead_id: int) -> float | None:
    async with session_scope(ctx["sessionmaker"]) as session:
        row = await score_lead_in_session(session, lead_id)
        return row.score if row else None
