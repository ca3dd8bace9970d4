"""Security headers on every response: a Content-Security-Policy fitted to what the response is (a board page, the
API docs viewer, anything else), and nosniff, a referrer policy, no framing and no powerful browser features.

The board's pages need no inline script or style (htmx and board.js are files under /static), so their policy
allows 'self' only: text a stranger wrote into a mention cannot run even if it slipped past escaping. The docs
viewer under /schema renders its own inline bootstrap script and style, so it also gets 'unsafe-inline', still
limited to this site's own files.
"""

from __future__ import annotations

from litestar.types import Message, Scope

PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
DOCS_POLICY = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# JSON, CSV, files: nothing in them is ever run or loaded as a page.
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"
DOCS_PREFIX = "/schema"

COMMON_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


def content_security_policy(path: str, content_type: str) -> str:
    if path == DOCS_PREFIX or path.startswith(DOCS_PREFIX + "/"):
        return DOCS_POLICY
    if content_type.startswith("text/html"):
        return PAGE_POLICY
    return DATA_POLICY


async def add_security_headers(message: Message, scope: Scope) -> None:
    """A `before_send` hook, so it sees every response the app sends: errors, and the 404s and 405s Litestar answers
    before any middleware runs. A header a handler set itself is kept."""
    if message["type"] != "http.response.start":
        return
    headers = list(message.get("headers", []))
    present = {bytes(name).lower() for name, _ in headers}
    content_type = next((bytes(v).decode("latin-1") for k, v in headers if bytes(k).lower() == b"content-type"), "")
    policy = content_security_policy(scope.get("path", ""), content_type.lower())
    added = [*COMMON_HEADERS, (b"content-security-policy", policy.encode())]
    message["headers"] = [*headers, *((k, v) for k, v in added if k not in present)]
