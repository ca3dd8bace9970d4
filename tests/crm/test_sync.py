from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from crm.contacts.accounts import open_lead, upsert_account
from crm.db import make_sessionmaker, session_scope
from crm.integrations.changelog import record_change
from crm.models import ChangeLog, Lead, Role, utcnow
from crm.pipeline import move_lead
from crm.settings import Settings
from tests.conftest import Caller, make_caller


async def new_lead(engine: AsyncEngine, handle: str) -> int:
    async with session_scope(make_sessionmaker(engine)) as db:
        account = await upsert_account(db, "file", handle, display_name=handle.title())
        assert account.contact_id is not None
        lead, _ = await open_lead(db, account.contact_id, None, platform="file")
        assert lead.id is not None
        return lead.id


async def sync(client: AsyncTestClient[Any], caller: Caller, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/v1/sync", params=params, headers=caller.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_created_lead_and_its_contact_come_back_as_creates_in_commit_order(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine
) -> None:
    lead_id = await new_lead(engine, "ana")
    page = await sync(client, admin)
    assert [(i["entity"], i["op"]) for i in page["items"]] == [("contact", "create"), ("lead", "create")]
    lead_item = page["items"][1]
    assert lead_item["id"] == lead_id and lead_item["data"]["stage"] == "new"
    assert page["has_more"] is False
    again = await sync(client, admin, cursor=page["next_cursor"])
    assert again["items"] == [] and again["next_cursor"] == page["next_cursor"]


async def test_later_changes_arrive_after_the_cursor_with_the_current_state(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine
) -> None:
    lead_id = await new_lead(engine, "ben")
    first = await sync(client, admin)
    moved = await client.post(f"/api/v1/leads/{lead_id}/stage", json={"to_stage": "contacted"}, headers=admin.headers)
    assert moved.status_code == 200, moved.text
    page = await sync(client, admin, cursor=first["next_cursor"])
    assert [(i["entity"], i["id"], i["op"]) for i in page["items"]] == [("lead", lead_id, "update")]
    assert page["items"][0]["data"]["stage"] == "contacted"
    assert page["items"][0]["seq"] > first["items"][-1]["seq"]


async def test_a_soft_deleted_lead_is_a_tombstone(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine
) -> None:
    lead_id = await new_lead(engine, "cleo")
    first = await sync(client, admin)
    async with session_scope(make_sessionmaker(engine)) as db:
        lead = await db.get(Lead, lead_id)
        assert lead is not None
        lead.deleted_at, lead.version = utcnow(), lead.version + 1
        db.add(lead)
    page = await sync(client, admin, cursor=first["next_cursor"])
    assert page["items"] == [
        {
            "seq": page["items"][0]["seq"],
            "entity": "lead",
            "id": lead_id,
            "op": "delete",
            "changed_at": page["items"][0]["changed_at"],
            "data": None,
            "lead": None,
        }
    ]


async def test_several_changes_to_one_row_in_a_page_collapse_to_the_last(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine
) -> None:
    lead_id = await new_lead(engine, "dora")
    for stage in ("contacted", "replied"):
        async with session_scope(make_sessionmaker(engine)) as db:
            lead = await db.get(Lead, lead_id)
            assert lead is not None
            await move_lead(db, lead, stage, actor="test")
    page = await sync(client, admin, entity="lead")
    assert [(i["id"], i["op"], i["data"]["stage"]) for i in page["items"]] == [(lead_id, "update", "replied")]


async def test_updated_since_skips_older_changes_and_entity_filters(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine
) -> None:
    await new_lead(engine, "eve")
    since = datetime.now(UTC) + timedelta(milliseconds=5)
    async with session_scope(make_sessionmaker(engine)) as db:
        await db.exec(select(ChangeLog))  # a no-op transaction writes nothing
    late = await new_lead(engine, "finn")
    page = await sync(client, admin, updated_since=since.isoformat(), entity="lead")
    assert [(i["entity"], i["id"]) for i in page["items"]] == [("lead", late)]


async def test_paging_with_a_small_limit_walks_every_change_once(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine
) -> None:
    ids = [await new_lead(engine, f"user{n}") for n in range(4)]
    seen: list[tuple[str, int]] = []
    cursor: str | None = None
    while True:
        page = await sync(client, admin, limit=3, **({"cursor": cursor} if cursor else {}))
        seen += [(i["entity"], i["id"]) for i in page["items"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert len(seen) == len(set(seen)) == 8
    assert [i for e, i in seen if e == "lead"] == ids


async def test_a_transaction_committing_later_gets_the_later_sequence(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine, settings: Settings
) -> None:
    first_id, second_id = await new_lead(engine, "gil"), await new_lead(engine, "hal")
    start = await sync(client, admin)
    maker = make_sessionmaker(engine)
    async with maker() as slow, maker() as fast:
        slow_lead = await slow.get(Lead, first_id)
        assert slow_lead is not None
        slow_lead.score = 10.0
        slow.add(slow_lead)
        if not settings.is_sqlite:
            await slow.flush()  # the row is written (and locked) before the other transaction starts
        fast_lead = await fast.get(Lead, second_id)
        assert fast_lead is not None
        fast_lead.score = 20.0
        fast.add(fast_lead)
        await fast.commit()
        middle = await sync(client, admin, cursor=start["next_cursor"])
        assert [i["id"] for i in middle["items"]] == [second_id]
        await slow.commit()
    end = await sync(client, admin, cursor=middle["next_cursor"])
    assert [(i["id"], i["data"]["score"]) for i in end["items"]] == [(first_id, 10.0)]


async def test_core_updates_are_recorded_with_record_change(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine
) -> None:
    lead_id = await new_lead(engine, "ida")
    start = await sync(client, admin)
    async with session_scope(make_sessionmaker(engine)) as db:
        await db.exec(update(Lead).where(col(Lead.id) == lead_id).values(score=42.0))
        record_change(db, "lead", lead_id, "update")
    page = await sync(client, admin, cursor=start["next_cursor"])
    assert [(i["id"], i["data"]["score"]) for i in page["items"]] == [(lead_id, 42.0)]


async def test_a_rolled_back_transaction_leaves_no_change(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine
) -> None:
    lead_id = await new_lead(engine, "jon")
    start = await sync(client, admin)
    async with make_sessionmaker(engine)() as db:
        lead = await db.get(Lead, lead_id)
        assert lead is not None
        lead.score = 99.0
        db.add(lead)
        await db.flush()
        await db.rollback()
    assert (await sync(client, admin, cursor=start["next_cursor"]))["items"] == []


async def test_a_sales_rep_may_not_sync_and_a_bad_cursor_is_a_problem(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings
) -> None:
    rep = await make_caller(settings, "rep@example.com", Role.SALES_REP)
    denied = await client.get("/api/v1/sync", headers=rep.headers)
    assert denied.status_code == 403
    assert denied.headers["content-type"].startswith("application/problem+json")
    bad = await client.get("/api/v1/sync", params={"cursor": "nope"}, headers=admin.headers)
    assert bad.status_code == 422
    wrong = await client.get("/api/v1/sync", params={"entity": "deal"}, headers=admin.headers)
    assert wrong.status_code == 422


async def test_a_lead_in_the_feed_carries_every_field_the_lead_list_returns(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    watch = (
        await client.post("/api/v1/watches", json={"name": "w", "keywords": ["crm"]}, headers=admin.headers)
    ).json()
    mention = {
        "platform": "file",
        "id": "m-1",
        "text": "Looking for a CRM that isn't Salesforce",
        "created_at": "2026-11-20T09:12:00Z",
        "url": "https://example.org/m-1",
        "author": {"handle": "dana_ops", "display_name": "Dana"},
    }
    url = f"/api/v1/watches/{watch['id']}/mentions/import"
    assert (await client.post(url, content=json.dumps(mention), headers=admin.headers)).json()["new_leads"] == 1
    [in_list] = (await client.get("/api/v1/leads", headers=admin.headers)).json()["items"]
    tagged = await client.patch(
        f"/api/v1/leads/{in_list['id']}", json={"tags": ["vip", "agency"]}, headers=admin.headers
    )
    assert tagged.status_code == 200, tagged.text
    [in_list] = (await client.get("/api/v1/leads", headers=admin.headers)).json()["items"]
    assert (in_list["display_name"], in_list["handle"], in_list["tags"]) == ("Dana", "dana_ops", ["agency", "vip"])
    page = await sync(client, admin, entity="lead")
    [item] = [item for item in page["items"] if item["id"] == in_list["id"]]
    assert item["lead"] == in_list
