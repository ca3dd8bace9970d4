"""A consumer mirrors leads and contacts through /api/v1/sync across changes, deletions, erasure and retries."""

from __future__ import annotations

import json
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from crm.db import make_sessionmaker, session_scope
from crm.models import Contact, Lead, utcnow
from tests.conftest import Caller


class Consumer:
    """Keeps a copy keyed by (entity, id); stores the cursor only after a page is applied."""

    def __init__(self, client: AsyncTestClient[Any], caller: Caller) -> None:
        self.client, self.caller = client, caller
        self.mirror: dict[tuple[str, int], dict[str, Any]] = {}
        self.cursor: str | None = None
        self.applied = 0

    async def fetch(self) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": 2}
        if self.cursor:
            params["cursor"] = self.cursor
        response = await self.client.get("/api/v1/sync", params=params, headers=self.caller.headers)
        assert response.status_code == 200, response.text
        page: dict[str, Any] = response.json()
        return page

    def apply(self, page: dict[str, Any]) -> None:
        for item in page["items"]:
            key = (item["entity"], item["id"])
            if item["data"] is None:
                self.mirror.pop(key, None)
            else:
                self.mirror[key] = item["data"]
            self.applied += 1

    async def sync(self, *, lose_first_response: bool = False, apply_a_page_twice: bool = False) -> None:
        if lose_first_response:
            await self.fetch()  # the response never arrived: the cursor stays where it was
        while True:
            page = await self.fetch()
            self.apply(page)
            if apply_a_page_twice:
                self.apply(page)  # a crash after applying but before saving the cursor
                apply_a_page_twice = False
            self.cursor = page["next_cursor"]
            if not page["has_more"]:
                return


async def truth(engine: AsyncEngine) -> dict[tuple[str, int], dict[str, Any]]:
    async with session_scope(make_sessionmaker(engine)) as db:
        leads = await db.exec(select(Lead).where(col(Lead.deleted_at).is_(None)))
        contacts = await db.exec(select(Contact).where(col(Contact.deleted_at).is_(None)))
        state = {("lead", r.id): r.model_dump(mode="json") for r in leads}
        state.update({("contact", r.id): r.model_dump(mode="json") for r in contacts})
    return state  # type: ignore[return-value]


def mention(n: int, handle: str) -> str:
    return json.dumps(
        {
            "platform": "file",
            "id": f"m-{n}",
            "text": f"Looking for a CRM that isn't Salesforce, take {n}",
            "created_at": "2026-11-20T09:12:00Z",
            "url": f"https://example.org/m-{n}",
            "author": {"handle": handle, "display_name": handle.title()},
        }
    )


async def test_a_consumer_syncing_twice_with_changes_deletions_and_retries_ends_with_an_exact_mirror(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine
) -> None:
    h = admin.headers
    watch = (await client.post("/api/v1/watches", json={"name": "w", "keywords": ["crm"]}, headers=h)).json()
    url = f"/api/v1/watches/{watch['id']}/mentions/import"
    body = "\n".join(mention(n, handle) for n, handle in enumerate(["ana", "ben", "cleo", "dora", "eve"]))
    imported = await client.post(url, content=body, headers=h)
    assert imported.json()["new_leads"] == 5, imported.text
    leads = {item["handle"]: item for item in (await client.get("/api/v1/leads", headers=h)).json()["items"]}

    consumer = Consumer(client, admin)
    await consumer.sync(lose_first_response=True)
    assert consumer.mirror == await truth(engine)
    assert consumer.applied == 10

    # Between the two syncs: stage moves, an update through the privacy route, a soft delete, an erasure, new rows.
    await client.post(f"/api/v1/leads/{leads['ana']['id']}/stage", json={"to_stage": "contacted"}, headers=h)
    await client.post(f"/api/v1/leads/{leads['ana']['id']}/stage", json={"to_stage": "replied"}, headers=h)
    await client.put(f"/api/v1/contacts/{leads['ben']['contact_id']}/privacy", json={"do_not_contact": True}, headers=h)
    async with session_scope(make_sessionmaker(engine)) as db:
        gone = await db.get(Lead, leads["cleo"]["id"])
        assert gone is not None
        gone.deleted_at, gone.version, gone.updated_at = utcnow(), gone.version + 1, utcnow()
        db.add(gone)
    erased = await client.post(f"/api/v1/contacts/{leads['dora']['contact_id']}/erase", headers=h)
    assert erased.status_code == 200, erased.text
    more = "\n".join(mention(n, handle) for n, handle in [(10, "finn"), (11, "gil")])
    assert (await client.post(url, content=more, headers=h)).json()["new_leads"] == 2
    await client.post(f"/api/v1/leads/{leads['eve']['id']}/stage", json={"to_stage": "lost"}, headers=h)

    await consumer.sync(lose_first_response=True, apply_a_page_twice=True)
    expected = await truth(engine)
    assert consumer.mirror == expected
    assert ("lead", leads["cleo"]["id"]) not in consumer.mirror
    assert ("contact", leads["dora"]["contact_id"]) not in consumer.mirror
    assert consumer.mirror[("lead", leads["ana"]["id"])]["stage"] == "replied"

    # Nothing changed since: a third sync is empty and the mirror stays exact.
    before = consumer.applied
    await consumer.sync()
    assert consumer.applied == before and consumer.mirror == expected
