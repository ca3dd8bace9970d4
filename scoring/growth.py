"""Account history for the influencer model: follower/post snapshots recorded when ingestion sees new figures, and
follower growth over 7 and 30 days read back from them.

The mention store keeps at most one snapshot per account and SNAPSHOT_INTERVAL (its first figures, then a changed
figure once the last snapshot is older): an active author posts many times a day, and day-level history is all the
growth windows read. It decides with `due_snapshot` (and `snapshot_figures` for a new author's first figures) from
the figures it already holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.models import AccountSnapshot, utcnow

SNAPSHOT = AccountSnapshot.__table__  # type: ignore[attr-defined]
WINDOWS = (7, 30)
SNAPSHOT_INTERVAL = timedelta(days=1)
# A window is reported from a shorter history once it spans at least this share of it (new accounts still show
# a trend), named with the days it really covers.
MIN_WINDOW_SHARE = 0.5


async def _connection(db: AsyncConnection | AsyncSession) -> AsyncConnection:
    return await db.connection() if isinstance(db, AsyncSession) else db


def snapshot_figures(given: Sequence[int | None], last: Sequence[int | None] | None) -> tuple[int | None, ...] | None:
    """The (followers, following, posts_count) to snapshot when `given` arrives after `last`, or None when nothing
    changed. A figure the platform did not send (None) keeps its last known value."""
    if last is not None:
        merged = tuple(old if new is None else new for new, old in zip(given, last, strict=True))
        return None if merged == tuple(last) else merged
    return None if all(v is None for v in given) else tuple(given)


def snapshot_due_before(now: datetime) -> datetime:
    """An account whose last snapshot is older than this may get a new one (at most one per SNAPSHOT_INTERVAL)."""
    return now - SNAPSHOT_INTERVAL


def due_snapshot(
    given: Sequence[int | None], last: Sequence[int | None] | None, last_at: Any, due_before: Any
) -> tuple[int | None, ...] | None:
    """The figures to snapshot for an account seen again (`last`: its stored figures, `last_at`: its last
    snapshot's time, None if it has none), or None: nothing changed, or the last snapshot is too recent.

    `last_at` and `due_before` only need to compare with each other: the bulk store passes both in the driver's
    form (text on SQLite), as it reads them.
    """
    figures = snapshot_figures(given, last)
    if figures is None or (last_at is not None and not last_at < due_before):
        return None
    return figures


@dataclass(frozen=True)
class Growth:
    """Relative follower change over a window, e.g. 0.12 = +12%, measured over `days` (may be < the window)."""

    window: int
    rate: float
    days: float

    def reason(self) -> str:
        span = self.window if self.days >= self.window else max(1, round(self.days))
        sign = "+" if self.rate >= 0 else ""
        return f"followers {sign}{self.rate:.0%} in {span} days"


def follower_growth(
    history: Sequence[tuple[datetime, int | None]], current: int | None, now: datetime, window: int
) -> Growth | None:
    """Growth from the newest snapshot at least `window` days old (or the oldest one, when the history covers at
    least half the window) to `current` followers; None without a usable base."""
    if current is None:
        return None
    known = sorted((at, f) for at, f in history if f is not None and f > 0 and at <= now)
    if not known:
        return None
    cutoff = now - timedelta(days=window)
    older = [(at, f) for at, f in known if at <= cutoff]
    base_at, base = older[-1] if older else known[0]
    days = (now - base_at).total_seconds() / 86400
    if days < window * MIN_WINDOW_SHARE:
        return None
    return Growth(window, current / base - 1, days)


async def growth_by_account(
    db: AsyncConnection | AsyncSession,
    current: Mapping[int, int | None],
    *,
    now: datetime | None = None,
) -> dict[int, dict[int, Growth]]:
    """account id -> {7: Growth, 30: Growth} from its snapshots (windows without enough history are left out)."""
    if not current:
        return {}
    now = now or utcnow()
    conn = await _connection(db)
    table = SNAPSHOT.c
    # Snapshots inside the longest window, plus the newest one before it (the 30-day base).
    horizon = now - timedelta(days=max(WINDOWS))
    before = (
        sa.select(sa.func.max(table.id))
        .where(table.account_id.in_(list(current)), table.at <= horizon)
        .group_by(table.account_id)
    )
    rows = await conn.execute(
        sa.select(table.account_id, table.at, table.followers).where(
            table.account_id.in_(list(current)), sa.or_(table.at > horizon, table.id.in_(before))
        )
    )
    history: dict[int, list[tuple[datetime, int | None]]] = {}
    for account_id, at, followers in rows:
        history.setdefault(int(account_id), []).append((at, followers))
    out: dict[int, dict[int, Growth]] = {}
    for account_id, followers in current.items():
        found = {
            window: g
            for window in WINDOWS
            if (g := follower_growth(history.get(account_id, []), followers, now, window)) is not None
        }
        if found:
            out[account_id] = found
    return out
