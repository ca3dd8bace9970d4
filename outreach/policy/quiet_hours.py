"""Quiet hours: no send lands in the middle of the recipient's night. Their zone comes from their platform profile
when a connector learnt it, else the workspace's (CRM_WORKSPACE_TIME_ZONE).

Only a send waits: drafting and approving at any hour is the rep's business. A refusal says when the next send may
go, in the person's time and in UTC, so the rep (or a scheduler) knows when to come back.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from outreach.policy.facts import Deny, Facts

# Where connectors keep an account's zone in its profile document (no column holds it yet).
PROFILE_ZONE_KEYS = ("time_zone", "timezone", "tz")


def parse_window(spec: str) -> tuple[time, time]:
    start, end = spec.split("-")
    return time.fromisoformat(start), time.fromisoformat(end)


def recipient_zone(facts: Facts) -> tuple[ZoneInfo, str]:
    """The person's zone and where it came from."""
    for account in sorted(facts.accounts, key=lambda a: a.platform != facts.attempt.platform):
        for key in PROFILE_ZONE_KEYS:
            name = account.profile.get(key)
            if isinstance(name, str) and name:
                try:
                    return ZoneInfo(name), f"their {account.platform} profile"
                except (ZoneInfoNotFoundError, ValueError):
                    continue  # a zone we cannot read is as good as none
    return ZoneInfo(facts.settings.workspace_time_zone), "the workspace's time zone (CRM_WORKSPACE_TIME_ZONE)"


def next_allowed(local: datetime, start: time, end: time) -> datetime | None:
    """The next local time outside the window [start, end) (which may wrap past midnight), or None if `local` is
    already outside it."""
    at = local.time().replace(tzinfo=None)
    wraps = start > end
    inside = (at >= start or at < end) if wraps else start <= at < end
    if not inside:
        return None
    day = local.date() if (not wraps or at < end) else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=local.tzinfo)


async def outside_quiet_hours(facts: Facts) -> Deny | None:
    spec, attempt = facts.settings.quiet_hours, facts.attempt
    if not spec or attempt.stage != "send":
        return None
    start, end = parse_window(spec)
    if start == end:
        return None
    zone, source = recipient_zone(facts)
    local = attempt.now.astimezone(zone)
    resume = next_allowed(local, start, end)
    if resume is None:
        return None
    resume_utc = resume.astimezone(ZoneInfo("UTC"))
    return Deny(
        "quiet_hours",
        "CRM_QUIET_HOURS",
        f"it is {local:%H:%M} for this person ({zone.key}, from {source}), inside the quiet hours {spec} "
        f"(CRM_QUIET_HOURS); the next allowed time is {resume:%Y-%m-%d %H:%M} their time "
        f"({resume_utc:%Y-%m-%d %H:%M} UTC)",
        extra={"next_allowed_at": resume_utc.isoformat()},
    )
