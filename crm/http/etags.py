"""Optimistic concurrency for updatable records: ETags from the row version, If-Match checks, version bumps."""

from __future__ import annotations

from typing import Protocol

from crm.errors import PreconditionFailed
from crm.models import utcnow


class Versioned(Protocol):
    id: int | None
    version: int


def etag(kind: str, row: Versioned) -> str:
    return f'"{kind}-{row.id}-v{row.version}"'


def check_if_match(if_match: str | None, kind: str, row: Versioned) -> None:
    """A write that names a version (If-Match) must name the current one; 412 otherwise. No header: last write wins."""
    if if_match is None or if_match.strip() == "*":
        return
    current = etag(kind, row)
    given = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if current not in given:
        raise PreconditionFailed(
            f"{kind} {row.id} has changed since you read it; fetch it again and retry",
            extra={"current_etag": current},
        )


def touch(row: object) -> None:
    """Mark a row changed: bump its version and updated_at, so ETags and the sync feed see the write."""
    row.version += 1  # type: ignore[attr-defined]
    row.updated_at = utcnow()  # type: ignore[attr-defined]


def soft_delete(row: object) -> None:
    row.deleted_at = utcnow()  # type: ignore[attr-defined]
    touch(row)
