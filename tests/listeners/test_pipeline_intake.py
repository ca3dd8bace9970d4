"""Leads opened by intake land in the first stage of their campaign's pipeline, the stage the API opens a lead in,
so a custom pipeline's leads can be worked like any other."""

from __future__ import annotations

import json
from typing import Any

from litestar.testing import AsyncTestClient

from tests.conftest import Caller
from tests.listeners.builders import campaign_on_pipeline, jsonl_record


def mention(post_id: str, handle: str) -> str:
    text = f"Which CRM would you pick for a two-person agency? ({post_id})"
    return json.dumps(
        jsonl_record(post_id, text, handle) | {"author": {"handle": handle, "display_name": handle.title()}}
    )


async def test_imported_leads_of_a_custom_pipeline_open_in_its_first_stage_and_can_be_moved(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    h = admin.headers
    stages = [
        {"key": "spotted", "name": "Spotted"},
        {"key": "reached", "name": "Reached out"},
        {"key": "closed", "name": "Closed", "kind": "won"},
    ]
    pipeline, campaign = await campaign_on_pipeline(client, admin, "agencies", stages)
    body = "\n".join(mention(f"a{i}", f"agency{i}") for i in range(3))

    imported = await client.post(f"/api/v1/watches/{campaign['id']}/mentions/import", content=body, headers=h)

    assert imported.status_code == 200 and imported.json()["new_leads"] == 3, imported.text
    leads = (await client.get("/api/v1/leads", params={"watch_id": campaign["id"]}, headers=h)).json()["items"]
    assert len(leads) == 3
    assert {(lead["pipeline_id"], lead["stage"]) for lead in leads} == {(pipeline["id"], "spotted")}
    for lead in leads:
        moved = await client.post(f"/api/v1/leads/{lead['id']}/stage", json={"to_stage": "reached"}, headers=h)
        assert moved.status_code == 200, moved.text


async def test_a_lead_created_on_the_api_opens_in_the_same_stage_as_an_imported_one(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    h = admin.headers
    stages = [{"key": "triage", "name": "Triage"}, {"key": "done", "name": "Done", "kind": "won"}]
    pipeline = (await client.post("/api/v1/pipelines", json={"name": "Support", "stages": stages}, headers=h)).json()
    contact = (await client.post("/api/v1/contacts", json={"display_name": "Tess"}, headers=h)).json()
    created = await client.post(
        "/api/v1/leads", json={"contact_id": contact["id"], "pipeline_id": pipeline["id"]}, headers=h
    )
    assert created.status_code == 201, created.text
    assert created.json()["stage"] == "triage"
