"""Every response carries the security headers; board pages a script-free Content-Security-Policy, which works
because no template carries an inline script, style or event handler."""

import re
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from crm.http.security_headers import DOCS_POLICY, PAGE_POLICY
from tests.conftest import Caller

TEMPLATES = Path(__file__).resolve().parents[2] / "crm" / "templates"
COMMON = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


def assert_common(response: Any) -> None:
    for name, value in COMMON.items():
        assert response.headers.get(name) == value, (str(response.url), name)
    assert "camera=()" in response.headers["permissions-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_pages_send_a_policy_that_allows_only_this_sites_scripts(client: AsyncTestClient[Any]) -> None:
    for path in ("/login", "/board"):
        response = await client.get(path)
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["content-security-policy"] == PAGE_POLICY
        assert_common(response)
    policy = PAGE_POLICY.split("; ")
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in PAGE_POLICY and "unsafe-eval" not in PAGE_POLICY


async def test_api_answers_and_errors_carry_the_headers_too(client: AsyncTestClient[Any], admin: Caller) -> None:
    for response in (
        await client.get("/api/v1/leads", headers=admin.headers),
        await client.get("/api/v1/leads/999", headers=admin.headers),
        await client.get("/api/v1/leads"),
        await client.get("/health"),
        await client.get("/static/board.css"),
        await client.get("/no/such/route"),
        await client.post("/login", data={"email": "x@example.com", "password": "x"}),  # no CSRF token: 403
    ):
        assert_common(response)
        assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


async def test_the_docs_viewer_may_run_its_own_inline_bootstrap_from_this_site_only(
    client: AsyncTestClient[Any],
) -> None:
    response = await client.get("/schema")
    assert response.headers["content-security-policy"] == DOCS_POLICY
    assert_common(response)
    assert "script-src 'self' 'unsafe-inline'" in DOCS_POLICY and "https:" not in DOCS_POLICY


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.rglob("*.j2")))
def test_no_template_needs_an_inline_script_or_style(template: str) -> None:
    text = next(TEMPLATES.rglob(template)).read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), "inline <script>"
    assert "<style" not in text and not re.search(r"\sstyle=", text), "inline style"
    assert not re.search(r"\son[a-z]+=", text), "inline event handler"
    assert "javascript:" not in text
