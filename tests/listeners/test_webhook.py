import json
import time
from typing import Any

from litestar.testing import AsyncTestClient
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.models import QuarantinedPayload
from listeners.webhook import sign
from tests.conftest import Caller
from tests.listeners.builders import jsonl_record

SECRET = "test-webhook-secret"


async def make_watch(client: AsyncTestClient[Any], admin: Caller) -> int:
    created = await client.post("/api/v1/watches", json={"name": "hooked", "keywords": ["crm"]}, headers=admin.headers)
    return int(created.json()["id"])


def signed(watch_id: int, body: bytes, *, at: float | None = None, secret: str = SECRET) -> dict[str, str]:
    stamp = str(int(at if at is not None else time.time()))
    return {"X-Warmline-Timestamp": stamp, "X-Warmline-Signature": sign(secret, stamp, watch_id, body)}


async def test_a_signed_push_is_stored_and_bad_objects_are_quarantined(
    client: AsyncTestClient[Any], admin: Caller, session: AsyncSession
) -> None:
    watch_id = await make_watch(client, admin)
    body = json.dumps(
        {
            "mentions": [
                jsonl_record("w-1"),
                {"platform": "file", "id": "w-2"},
                jsonl_record("w-3", "Which crm do you use?"),
            ]
        }
    )
    response = await client.post(
        f"/api/v1/webhooks/mentions/{watch_id}", content=body.encode(), headers=signed(watch_id, body.encode())
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "stored": 2,
        "duplicates": 0,
        "matched": 2,
        "new_leads": 2,
        "quarantined": 1,
        "suppressed": 0,
    }
    held = (await session.exec(select(QuarantinedPayload))).one()
    assert (held.source, held.reason) == ("webhook", "line 2: text is missing")
    assert json.loads(held.body)["id"] == "w-2"


async def test_the_same_signed_request_is_accepted_only_once(client: AsyncTestClient[Any], admin: Caller) -> None:
    watch_id = await make_watch(client, admin)
    body = json.dumps([jsonl_record("w-1")]).encode()
    headers = signed(watch_id, body)
    first = await client.post(f"/api/v1/webhooks/mentions/{watch_id}", content=body, headers=headers)
    again = await client.post(f"/api/v1/webhooks/mentions/{watch_id}", content=body, headers=headers)
    assert first.status_code == 200
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")


async def test_unsigned_wrongly_signed_stale_or_redirected_pushes_are_refused(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    watch_id = await make_watch(client, admin)
    body = json.dumps([jsonl_record("w-1")]).encode()
    url = f"/api/v1/webhooks/mentions/{watch_id}"
    cases = [
        {},
        signed(watch_id, body, secret="not-the-secret"),
        signed(watch_id, body, at=time.time() - 3600),
        signed(watch_id + 1, body),
        signed(watch_id, body + b" "),
    ]
    for headers in cases:
        response = await client.post(url, content=body, headers=headers)
        assert response.status_code == 401, (headers, response.text)


async def test_a_body_that_is_not_json_is_quarantined_whole(
    client: AsyncTestClient[Any], admin: Caller, session: AsyncSession
) -> None:
    watch_id = await make_watch(client, admin)
    body = b"{this is not json"
    response = await client.post(f"/api/v1/webhooks/mentions/{watch_id}", content=body, headers=signed(watch_id, body))
    assert response.status_code == 200
    assert response.json()["quarantined"] == 1
    held = (await session.exec(select(QuarantinedPayload))).one()
    assert held.body == "{this is not json" and "not JSON" in held.reason
