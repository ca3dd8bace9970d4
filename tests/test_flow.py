import json
from typing import Any

from litestar.testing import AsyncTestClient

from tests.conftest import Caller

WATCH = {
    "name": "CRM alternatives",
    "keywords": ["crm"],
    "competitors": [{"name": "Salesforce", "aliases": ["sfdc"], "handles": []}],
}


def line(**overrides: Any) -> str:
    record = {
        "platform": "file",
        "id": "m-1",
        "text": "Can anyone recommend a CRM that isn't Salesforce? Pricing is killing us.",
        "created_at": "2026-11-20T09:12:00Z",
        "url": "https://example.org/m-1",
        "author": {"handle": "maria_ops", "display_name": "Maria Ortiz", "followers": 2300, "dm_open": True},
    }
    record.update(overrides)
    return json.dumps(record)


async def test_a_mention_walks_from_import_to_a_replied_lead(
    client: AsyncTestClient[Any], admin: Caller, run_jobs: Any
) -> None:
    h = admin.headers
    watch = (await client.post("/api/v1/watches", json=WATCH, headers=h)).json()

    body = "\n".join([line(), line(), line(id="m-2", text="nothing relevant here", author={"handle": "other"})])
    imported = await client.post(f"/api/v1/watches/{watch['id']}/mentions/import", content=body, headers=h)
    assert imported.status_code == 200, imported.text
    assert imported.json() == {
        "stored": 2,
        "duplicates": 1,
        "matched": 1,
        "new_leads": 1,
        "quarantined": 0,
        "suppressed": 0,
    }

    again = await client.post(f"/api/v1/watches/{watch['id']}/mentions/import", content=line(), headers=h)
    assert again.json()["stored"] == 0 and again.json()["duplicates"] == 1

    assert await run_jobs() == 2  # score_lead and analyse_mentions for the batch
    leads = (await client.get("/api/v1/leads", headers=h)).json()["items"]
    assert len(leads) == 1
    lead = leads[0]
    assert lead["score"] is not None and lead["score"] > 50
    assert lead["model_version"] == "baseline-rules-1"
    assert "mentions competitor Salesforce" in lead["score_reasons"]
    assert lead["stage"] == "new" and lead["handle"] == "maria_ops"

    draft = await client.post(f"/api/v1/leads/{lead['id']}/drafts", headers=h)
    assert draft.status_code == 201, draft.text
    text = draft.json()["body"]
    assert text.startswith("Hi Maria") and "Salesforce" in text and "{{" not in text

    sent = await client.post(f"/api/v1/messages/{draft.json()['id']}/sent", json={"external_id": "dm-1"}, headers=h)
    assert sent.json()["status"] == "sent"
    assert (await client.get(f"/api/v1/leads/{lead['id']}", headers=h)).json()["stage"] == "contacted"

    reply = await client.post(
        f"/api/v1/leads/{lead['id']}/replies", json={"body": "Sure, tell me more", "external_id": "r-1"}, headers=h
    )
    assert reply.status_code == 201, reply.text
    after = (await client.get(f"/api/v1/leads/{lead['id']}", headers=h)).json()
    assert after["stage"] == "replied"
    assert after["response_due_at"] is not None

    history = (await client.get(f"/api/v1/leads/{lead['id']}/stage-changes", headers=h)).json()
    assert [(c["from_stage"], c["to_stage"]) for c in history] == [("new", "contacted"), ("contacted", "replied")]
    assert history[0]["actor"] == "admin@example.com"

    messages = (await client.get(f"/api/v1/leads/{lead['id']}/messages", headers=h)).json()
    assert [(m["direction"], m["status"]) for m in messages] == [("outbound", "sent"), ("inbound", "received")]
