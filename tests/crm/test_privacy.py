from __future__ import annotations

import json
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import select as core_select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel, select

from crm.contacts.privacy import is_suppressed
from crm.db import make_sessionmaker, session_scope
from crm.models import AccountSnapshot, PlatformAccount, QuarantinedPayload, Role
from crm.settings import Settings
from tests.conftest import Caller, make_caller

WATCH = {"name": "CRM alternatives", "keywords": ["crm"], "competitors": [{"name": "Salesforce"}]}
MENTION = {
    "platform": "file",
    "id": "m-1",
    "text": "Can anyone recommend a CRM that isn't Salesforce? Pricing is killing us.",
    "created_at": "2026-11-20T09:12:00Z",
    "url": "https://example.org/m-1",
    "author": {"handle": "maria_ops", "display_name": "Maria Ortiz", "followers": 2300, "dm_open": True},
}


async def lead_with_conversation(client: AsyncTestClient[Any], caller: Caller) -> dict[str, Any]:
    h = caller.headers
    watch = (await client.post("/api/v1/watches", json=WATCH, headers=h)).json()
    imported = await client.post(
        f"/api/v1/watches/{watch['id']}/mentions/import", content=json.dumps(MENTION), headers=h
    )
    assert imported.status_code == 200, imported.text
    lead: dict[str, Any] = (await client.get("/api/v1/leads", headers=h)).json()["items"][0]
    draft = (await client.post(f"/api/v1/leads/{lead['id']}/drafts", headers=h)).json()
    await client.post(f"/api/v1/messages/{draft['id']}/sent", json={"external_id": "dm-1"}, headers=h)
    reply = await client.post(
        f"/api/v1/leads/{lead['id']}/replies",
        json={"body": "Maria here, tell me more", "external_id": "r-1"},
        headers=h,
    )
    assert reply.status_code == 201, reply.text
    return lead


async def every_stored_value(engine: AsyncEngine) -> str:
    """All rows of all tables, as one lower-case string, to look for what should be gone."""
    parts: list[str] = []
    async with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in await connection.execute(core_select(table)):
                parts.append(repr(tuple(row)))
    return "\n".join(parts).lower()


async def test_consent_is_recorded_listed_and_withdrawn(client: AsyncTestClient[Any], admin: Caller) -> None:
    lead = await lead_with_conversation(client, admin)
    base = f"/api/v1/contacts/{lead['contact_id']}"
    given = await client.post(
        f"{base}/consents",
        json={"basis": "consent", "channel": "email", "source": "web form", "reason": "signed up at the fair"},
        headers=admin.headers,
    )
    assert given.status_code == 201, given.text
    state = (await client.get(f"{base}/privacy", headers=admin.headers)).json()
    assert state["consent_basis"] == "consent" and state["consent_at"] is not None
    withdraw = f"{base}/consents/{given.json()['id']}/withdraw"
    unexplained = await client.post(withdraw, headers=admin.headers)
    assert unexplained.status_code == 422 and "reason" in unexplained.json()["detail"]
    withdrawn = await client.post(withdraw, json={"reason": "asked by phone"}, headers=admin.headers)
    assert withdrawn.status_code == 200 and withdrawn.json()["withdrawn_at"] is not None
    listed = (await client.get(f"{base}/consents", headers=admin.headers)).json()
    assert [(c["basis"], c["withdrawn_at"] is not None) for c in listed] == [("consent", True)]
    assert (await client.get(f"{base}/privacy", headers=admin.headers)).json()["consent_basis"] is None
    bad = await client.post(f"{base}/consents", json={"basis": "because", "reason": "x"}, headers=admin.headers)
    assert bad.status_code == 400 or bad.status_code == 422
    no_reason = await client.post(f"{base}/consents", json={"basis": "consent"}, headers=admin.headers)
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["detail"]
    audit = (await client.get("/api/v1/audit", params={"action": "consent"}, headers=admin.headers)).json()["items"]
    assert {(e["action"], e["detail"]["reason"]) for e in audit} == {
        ("consent.recorded", "signed up at the fair"),
        ("consent.withdrawn", "asked by phone"),
    }


async def test_do_not_contact_blocks_new_drafts(client: AsyncTestClient[Any], admin: Caller) -> None:
    lead = await lead_with_conversation(client, admin)
    flags = await client.put(
        f"/api/v1/contacts/{lead['contact_id']}/privacy",
        json={"do_not_contact": True, "contact_initiated": True, "reason": "wrote to us, then said stop"},
        headers=admin.headers,
    )
    assert flags.status_code == 200 and flags.json()["do_not_contact"] is True
    blocked = await client.post(f"/api/v1/leads/{lead['id']}/drafts", headers=admin.headers)
    assert blocked.status_code == 409
    audit = (
        await client.get("/api/v1/audit", params={"action": "contact.privacy_changed"}, headers=admin.headers)
    ).json()
    assert audit["items"][0]["detail"] == {
        "do_not_contact": True,
        "contact_initiated": True,
        "reason": "wrote to us, then said stop",
    }


async def test_the_personal_data_export_holds_everything_about_the_person(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    lead = await lead_with_conversation(client, admin)
    exported = await client.get(f"/api/v1/contacts/{lead['contact_id']}/personal-data", headers=admin.headers)
    assert exported.status_code == 200, exported.text
    data = exported.json()
    assert data["contact"]["display_name"] == "Maria Ortiz"
    assert [a["handle"] for a in data["accounts"]] == ["maria_ops"]
    assert data["mentions"][0]["text"].startswith("Can anyone recommend")
    assert [m["direction"] for m in data["messages"]] == ["outbound", "inbound"]
    assert [c["to_stage"] for c in data["stage_changes"]] == ["contacted", "replied"]
    assert [lead_["id"] for lead_ in data["leads"]] == [lead["id"]]
    audit = (await client.get("/api/v1/audit", params={"action": "export"}, headers=admin.headers)).json()["items"]
    assert [(e["action"], e["object_id"]) for e in audit] == [("export.personal_data", str(lead["contact_id"]))]


async def test_only_admins_export_or_erase(client: AsyncTestClient[Any], admin: Caller, settings: Settings) -> None:
    lead = await lead_with_conversation(client, admin)
    rep = await make_caller(settings, "rep@example.com", Role.SALES_REP)
    base = f"/api/v1/contacts/{lead['contact_id']}"
    assert (await client.get(f"{base}/personal-data", headers=rep.headers)).status_code == 403
    assert (await client.post(f"{base}/erase", headers=rep.headers)).status_code == 403
    assert (await client.post("/api/v1/contacts/999999/erase", headers=admin.headers)).status_code == 404


async def test_erasure_removes_the_person_everywhere_and_keeps_only_a_suppression_hash(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine, settings: Settings
) -> None:
    lead = await lead_with_conversation(client, admin)
    async with session_scope(make_sessionmaker(engine)) as db:
        db.add(QuarantinedPayload(source="file", reason="bad date", body='{"author": {"handle": "maria_ops"}}'))
        db.add(QuarantinedPayload(source="file", reason="bad date", body='{"author": {"handle": "someone"}}'))
    before = await every_stored_value(engine)
    assert "maria" in before and "pricing is killing us" in before

    erased = await client.post(f"/api/v1/contacts/{lead['contact_id']}/erase", headers=admin.headers)
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"]["mentions"] == 1 and erased.json()["erased"]["messages"] == 2
    assert erased.json()["erased"]["quarantined_payloads"] == 1

    after = await every_stored_value(engine)
    for trace in ("maria", "ortiz", "pricing is killing us", "tell me more", "example.org/m-1", "dm-1", "r-1"):
        assert trace not in after, trace
    async with session_scope(make_sessionmaker(engine)) as db:
        assert await is_suppressed(db, settings, "handle", "file:@Maria_Ops")
        assert not await is_suppressed(db, settings, "handle", "file:someone_else")
    assert (await client.get(f"/api/v1/leads/{lead['id']}", headers=admin.headers)).status_code == 404
    assert (
        await client.get(f"/api/v1/contacts/{lead['contact_id']}/personal-data", headers=admin.headers)
    ).status_code == 404
    audit = (await client.get("/api/v1/audit", params={"action": "contact.erased"}, headers=admin.headers)).json()
    assert audit["items"][0]["object_id"] == str(lead["contact_id"])


async def test_erasure_deletes_the_persons_follower_history_and_keeps_everyone_elses(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine
) -> None:
    lead = await lead_with_conversation(client, admin)
    other = {**MENTION, "id": "m-2", "author": {"handle": "someone_else", "followers": 50}}
    watch_id = lead["watch_id"]
    imported = await client.post(
        f"/api/v1/watches/{watch_id}/mentions/import", content=json.dumps(other), headers=admin.headers
    )
    assert imported.status_code == 200, imported.text

    async def snapshots_by_handle() -> dict[str, list[int | None]]:
        async with session_scope(make_sessionmaker(engine)) as db:
            rows = await db.exec(
                select(PlatformAccount.handle, AccountSnapshot.followers).join(
                    AccountSnapshot,
                    AccountSnapshot.account_id == PlatformAccount.id,  # type: ignore[arg-type]
                )
            )
            found: dict[str, list[int | None]] = {}
            for handle, followers in rows:
                found.setdefault(handle, []).append(followers)
            return found

    assert await snapshots_by_handle() == {"maria_ops": [2300], "someone_else": [50]}
    erased = await client.post(f"/api/v1/contacts/{lead['contact_id']}/erase", headers=admin.headers)
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"]["account_snapshots"] == 1
    assert await snapshots_by_handle() == {"someone_else": [50]}


async def test_an_erased_person_is_not_stored_again_when_they_post_later(
    client: AsyncTestClient[Any], admin: Caller, run_jobs: Any
) -> None:
    watch = (
        await client.post("/api/v1/watches", json={"name": "erasure", "keywords": ["crm"]}, headers=admin.headers)
    ).json()

    def post(post_id: str) -> str:
        return json.dumps(
            {
                "platform": "x",
                "id": post_id,
                "text": "which crm should we pick?",
                "url": f"https://x.com/e/{post_id}",
                "created_at": "2026-11-20T09:00:00Z",
                "author": {"handle": "Erased_Person", "id": "42"},
            }
        )

    url = f"/api/v1/watches/{watch['id']}/mentions/import"
    assert (await client.post(url, content=post("1"), headers=admin.headers)).json()["new_leads"] == 1
    lead = (await client.get("/api/v1/leads", headers=admin.headers)).json()["items"][0]
    assert (await client.post(f"/api/v1/contacts/{lead['contact_id']}/erase", headers=admin.headers)).status_code == 200

    again = (await client.post(url, content=post("2"), headers=admin.headers)).json()
    assert again["suppressed"] == 1
    assert again["stored"] == 0
    assert again["new_leads"] == 0
    assert (await client.get("/api/v1/leads", headers=admin.headers)).json()["items"] == []
