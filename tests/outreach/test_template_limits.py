"""Hostile DM templates: refused with a 422 naming the reason, bounded in time and memory, and never holding up the
web process while they run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from crm.settings import Settings
from outreach.compose.render_pool import RENDER_TIMEOUT_SECONDS, render_pool
from tests.conftest import Caller
from tests.live_server import served
from tests.outreach.test_send_policy import post, watch_with

NESTED_HUGE_RANGES = "{% for i in range(10**6) %}{% for j in range(10**6) %}x{% endfor %}{% endfor %}"
# Within every size limit, but 10^12 iterations: only the wall-clock timeout stops it.
ENDLESS_LOOPS = (
    "{% for i in range(10000) %}{% for j in range(10000) %}{% for k in range(10000) %}"
    "{% endfor %}{% endfor %}{% endfor %}"
)
# Each step doubles a string held in a namespace: no operator sees a large operand until memory runs out.
MEMORY_HOG = "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}x"


@pytest.fixture
async def lead(client: AsyncTestClient[Any], admin: Caller, settings: Settings) -> dict[str, Any]:
    settings.daily_dm_cap_per_rep = 0  # the tests draft many times for one lead
    [found] = await watch_with(client, admin, "templates", post("t1", "dana"))
    return found


async def draft_with(client: AsyncTestClient[Any], admin: Caller, lead: dict[str, Any], template: str) -> Any:
    return await client.post(f"/api/v1/leads/{lead['id']}/drafts", json={"template": template}, headers=admin.headers)


@asynccontextmanager
async def served_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A real server: a request must be served while another one waits on a template."""
    async with served(settings) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        yield http


async def test_a_hostile_template_is_refused_within_a_second_while_health_is_served(
    settings: Settings, admin: Caller, lead: dict[str, Any]
) -> None:
    async with served_client(settings) as http:
        drafts = f"/api/v1/leads/{lead['id']}/drafts"
        warm = await http.post(drafts, json={"template": "Hi {{ name }}"}, headers=admin.headers)
        assert warm.status_code == 201  # the workers are up

        async def timed_draft(template: str) -> tuple[httpx.Response, float]:
            started = time.monotonic()
            response = await http.post(drafts, json={"template": template}, headers=admin.headers)
            return response, time.monotonic() - started

        async def health_while(drafting: asyncio.Task[Any]) -> list[float]:
            latencies = []
            while not drafting.done():
                started = time.monotonic()
                assert (await http.get("/health")).status_code == 200
                latencies.append(time.monotonic() - started)
                await asyncio.sleep(0.02)
            return latencies

        quick = asyncio.create_task(timed_draft(NESTED_HUGE_RANGES))
        await health_while(quick)
        refused, fast = await quick
        endless = asyncio.create_task(timed_draft(ENDLESS_LOOPS))
        latencies = await health_while(endless)
        timed_out, slow = await endless

    assert refused.status_code == 422 and refused.headers["content-type"].startswith("application/problem+json")
    assert "range of 1,000,000 items" in refused.json()["detail"] and fast < 1.0
    assert timed_out.status_code == 422, timed_out.text
    assert timed_out.json()["template_error"] == "timeout" and "took too long" in timed_out.json()["detail"]
    assert RENDER_TIMEOUT_SECONDS <= slow < RENDER_TIMEOUT_SECONDS + 1.0
    # /health kept answering while the endless template ran: the event loop was never blocked.
    assert len(latencies) >= 10 and max(latencies) < 0.5, latencies


async def test_a_huge_string_is_refused_quickly(
    client: AsyncTestClient[Any], admin: Caller, lead: dict[str, Any]
) -> None:
    started = time.monotonic()
    refused = await draft_with(client, admin, lead, "{{ 'A'*100000000 }}")
    assert time.monotonic() - started < 1.0
    assert refused.status_code == 422
    assert refused.json()["template_error"] == "limit" and "100,000,000 characters" in refused.json()["detail"]


async def test_a_template_that_exhausts_memory_is_refused_and_the_next_one_renders(
    client: AsyncTestClient[Any], admin: Caller, lead: dict[str, Any]
) -> None:
    refused = await draft_with(client, admin, lead, MEMORY_HOG)
    assert refused.status_code == 422 and refused.json()["template_error"] == "memory"
    assert "too much memory" in refused.json()["detail"]
    assert (await draft_with(client, admin, lead, "Hi {{ name }}")).json()["body"] == "Hi Dana"


@pytest.mark.parametrize(
    ("template", "construct", "line"),
    [
        ("Hi\n{% include 'secrets.txt' %}", "{% include %}", 2),
        ("{% extends 'base.html' %}", "{% extends %}", 1),
        ("Hi\n\n{% import 'macros' as m %}", "{% import %}", 3),
        ("{% from 'macros' import greet %}", "{% from ... import %}", 1),
        ("{% block b %}x{% endblock %}\n{{ self.b() }}", "`self`", 2),
    ],
)
async def test_a_template_that_loads_other_templates_is_a_422_naming_the_line(
    client: AsyncTestClient[Any], admin: Caller, lead: dict[str, Any], template: str, construct: str, line: int
) -> None:
    refused = await draft_with(client, admin, lead, template)
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["template_error"] == "forbidden"
    assert f"line {line}: {construct} is not allowed" in problem["detail"]


async def test_a_syntax_error_is_a_422_naming_the_line(
    client: AsyncTestClient[Any], admin: Caller, lead: dict[str, Any]
) -> None:
    refused = await draft_with(client, admin, lead, "Hi {{ name }},\n{% if competitor %}no end")
    assert refused.status_code == 422
    assert refused.json()["template_error"] == "syntax" and "line 2:" in refused.json()["detail"]


async def test_a_refused_template_leaves_no_draft_behind(
    client: AsyncTestClient[Any], admin: Caller, lead: dict[str, Any]
) -> None:
    await draft_with(client, admin, lead, "{{ 'A'*100000000 }}")
    messages = (await client.get(f"/api/v1/leads/{lead['id']}/messages", headers=admin.headers)).json()
    assert messages == []


async def test_templates_queue_for_the_pool_rather_than_each_starting_a_process() -> None:
    pool = render_pool()
    replies = await asyncio.gather(*(pool.render("{{ n }}", {"n": i}) for i in range(3 * pool.size)))
    assert [r["body"] for r in replies] == [str(i) for i in range(3 * pool.size)]
    assert len(pool._alive) <= pool.size
