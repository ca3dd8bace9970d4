"""Domain errors raised anywhere in Warmline; the app maps each to an RFC 9457 problem response once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class WarmlineError(Exception):
    """Base for errors a caller can act on; `status` and `slug` shape the problem response."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        kept: Callable[[Any], None] | None = None,
    ):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}
        self.headers = headers or {}
        # What the refusal itself must leave behind (an audit row): added to the session once the refused unit of
        # work has rolled back (crm.db.roll_back), so the record is kept while the change is not.
        self.kept = kept


class InvalidInput(WarmlineError):
    status = 422
    slug = "invalid-input"
    title = "Invalid input"


class NotFound(WarmlineError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(WarmlineError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class InvalidTransition(Conflict):
    slug = "invalid-transition"
    title = "Stage change not allowed"


class NotAuthenticated(WarmlineError):
    status = 401
    slug = "not-authenticated"
    title = "Authentication required"


class PermissionDenied(WarmlineError):
    status = 403
    slug = "permission-denied"
    title = "Permission denied"


class PreconditionFailed(WarmlineError):
    status = 412
    slug = "precondition-failed"
    title = "Precondition failed"


class OutreachBlocked(WarmlineError):
    status = 409
    slug = "outreach-blocked"
    title = "Outreach not allowed"


class RateLimited(WarmlineError):
    status = 429
    slug = "rate-limited"
    title = "Too many requests"


class ServiceUnavailable(WarmlineError):
    status = 503
    slug = "service-unavailable"
    title = "Service unavailable"
