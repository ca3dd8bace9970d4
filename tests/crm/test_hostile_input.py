"""Hostile request bodies and parameters get a 4xx problem document, never a 500; bad intake lines are quarantined."""

import json
import time
from typing import Any

import pytest
import structlog
from litestar.testing import AsyncTestClient
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.app import create_app
from crm.models import Mention, QuarantinedPayload
from crm.settings import Settings
from listeners.webhook import sign
from tests.conftest import Caller
from tests.listeners.builders import jsonl_record

NESTED_ARRAYS = b"[" * 10_000 + b"]" * 10_000
NESTED_OBJECTS = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
# Just past the limit but well within what a JSON parser takes: it must be refused by our check, not by luck.
NESTED_40 = b'{"display_name": "x", "extra": ' + b'{"a":' * 40 + b"1" + b"}" * 40 + b"}"
NOT_UTF8 = b'{"display_name": "caf\xe9"}'


def assert_problem(response: Any, statuses: tuple[int, ...] = (400, 422)) -> None:
    assert response.status_code in statuses, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == response.status_code


async def make_watch(client: AsyncTestClient[Any], admin: Caller) -> int:
    created = await client.post("/api/v1/watches", json={"name": "hostile", "keywords": ["crm"]}, headers=admin.headers)
    return int(created.json()["id"])


def signed(watch_id: int, body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {"X-Warmline-Timestamp": stamp, "X-Warmline-Signature": sign("test-webhook-secret", stamp, watch_id, body)}


@pytest.mark.parametrize(
    "body", [NESTED_ARRAYS, NESTED_OBJECTS, NESTED_40, NOT_UTF8], ids=["arrays", "objects", "40", "latin1"]
)
@pytest.mark.parametrize("path", ["/api/v1/contacts", "/api/v1/webhooks", "/api/v1/watches", "/api/v1/organisations"])
async def test_a_json_body_nested_too_deep_or_not_utf8_is_a_400_problem(
    client: AsyncTestClient[Any], admin: Caller, path: str, body: bytes
) -> None:
    response = await client.post(path, content=body, headers={**admin.headers, "content-type": "application/json"})
    assert_problem(response, (400,))
    assert "nested deeper" in response.json()["detail"] or "UTF-8" in response.json()["detail"]


@pytest.mark.parametrize("body", [NESTED_ARRAYS, NESTED_OBJECTS], ids=["arrays", "objects"])
async def test_a_mention_import_or_push_with_a_nesting_bomb_is_refused_whole(
    client: AsyncTestClient[Any], admin: Caller, session: AsyncSession, body: bytes
) -> None:
    watch_id = await make_watch(client, admin)
    lines = json.dumps(jsonl_record("ok-1")).encode() + b"\n" + body + b"\n"
    imported = await client.post(f"/api/v1/watches/{watch_id}/mentions/import", content=lines, headers=admin.headers)
    assert_problem(imported, (422,))
    assert "line 2 is nested deeper" in imported.json()["detail"]
    pushed = await client.post(f"/api/v1/webhooks/mentions/{watch_id}", content=body, headers=signed(watch_id, body))
    assert_problem(pushed, (422,))
    assert (await session.exec(select(Mention))).all() == []


async def test_a_lone_surrogate_in_one_import_line_quarantines_that_line_and_keeps_the_rest(
    client: AsyncTestClient[Any], admin: Caller, session: AsyncSession
) -> None:
    watch_id = await make_watch(client, admin)
    escaped = json.dumps(jsonl_record("bad-1")).replace("Looking", "Looking \\ud800")
    raw_bytes = json.dumps(jsonl_record("bad-2")).encode().replace(b"Looking", b"Looking \xed\xa0\x80")
    body = b"\n".join(
        [
            json.dumps(jsonl_record("ok-1")).encode(),
            escaped.encode(),
            raw_bytes,
            json.dumps(jsonl_record("ok-2")).encode(),
        ]
    )
    response = await client.post(f"/api/v1/watches/{watch_id}/mentions/import", content=body, headers=admin.headers)
    assert response.status_code == 200, response.text
    assert (response.json()["stored"], response.json()["quarantined"]) == (2, 2)
    held = {q.reason: q.body for q in (await session.exec(select(QuarantinedPayload))).all()}
    reasons = sorted(held)
    assert reasons[0].startswith("line 2: contains a lone UTF-16 surrogate")
    assert reasons[1].startswith("line 3: not valid UTF-8")
    assert held[reasons[0]] == escaped  # kept as sent, so a fixed replay can use it
    stored = {m.external_id for m in (await session.exec(select(Mention))).all()}
    assert stored == {"ok-1", "ok-2"}


async def test_a_lone_surrogate_in_one_pushed_mention_quarantines_only_that_mention(
    client: AsyncTestClient[Any], admin: Caller, session: AsyncSession
) -> None:
    watch_id = await make_watch(client, admin)
    good = json.dumps(jsonl_record("w-1"))
    bad = json.dumps(jsonl_record("w-2")).replace("Looking", "Looking \\udfff")
    body = f'{{"mentions": [{good}, {bad}]}}'.encode()
    response = await client.post(f"/api/v1/webhooks/mentions/{watch_id}", content=body, headers=signed(watch_id, body))
    assert response.status_code == 200, response.text
    assert (response.json()["stored"], response.json()["quarantined"]) == (1, 1)
    held = (await session.exec(select(QuarantinedPayload))).one()
    assert held.reason.startswith("line 2: contains a lone UTF-16 surrogate")
    assert json.loads(held.body)["id"] == "w-2"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/sync",
        "/api/v1/leads",
        "/api/v1/contacts",
        "/api/v1/contacts/export.csv",
        "/api/v1/leads/export.csv",
        "/api/v1/audit",
    ],
)
@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-01-01T00:00:00"])
async def test_a_time_parameter_out_of_range_or_without_zone_is_a_422_naming_it(
    client: AsyncTestClient[Any], admin: Caller, path: str, value: str
) -> None:
    name = "since" if path == "/api/v1/audit" else "updated_since"
    response = await client.get(path, params={name: value}, headers=admin.headers)
    assert_problem(response, (422,))
    assert response.json()["parameter"] == name


async def test_a_far_past_time_in_a_body_is_a_422_not_a_500(client: AsyncTestClient[Any], admin: Caller) -> None:
    contact = await client.post("/api/v1/contacts", json={"display_name": "Ada"}, headers=admin.headers)
    lead = await client.post("/api/v1/leads", json={"contact_id": contact.json()["id"]}, headers=admin.headers)
    assert lead.status_code == 201, lead.text
    task = await client.post(
        f"/api/v1/leads/{lead.json()['id']}/tasks",
        json={"title": "call", "due_at": "0001-01-01T00:00:00+14:00"},
        headers=admin.headers,
    )
    assert_problem(task, (400, 422))


async def test_an_unauthenticated_api_call_is_told_to_send_a_bearer_key_not_to_sign_in(
    client: AsyncTestClient[Any],
) -> None:
    response = await client.get("/api/v1/leads")
    assert response.status_code == 401
    detail = response.json()["detail"]
    assert "Authorization: Bearer <key>" in detail and "sign in" not in detail


async def test_a_csrf_refusal_is_logged_as_a_403_warning_without_a_traceback(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"log_level": "INFO"}))
    async with AsyncTestClient(app=app) as client:
        with structlog.testing.capture_logs() as logs:
            response = await client.post("/login", data={"email": "a@example.com", "password": "x"})
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "x-request-id" in response.headers
    refused = [line for line in logs if line["event"] == "request_refused"]
    assert refused and refused[0]["log_level"] == "warning" and refused[0]["status"] == 403
    assert "exc_info" not in refused[0]
    assert [line["status"] for line in logs if line["event"] == "request"] == [403]
    assert not [line for line in logs if line["log_level"] in ("error", "critical")]
