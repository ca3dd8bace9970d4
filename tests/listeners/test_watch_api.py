import json
from typing import Any

from litestar.testing import AsyncTestClient

from tests.conftest import Caller
from tests.listeners.builders import jsonl_record

WATCH = {"name": "CRM alternatives", "keywords": ["crm"], "competitors": [{"name": "Salesforce", "aliases": ["sfdc"]}]}


async def test_a_watch_with_a_broken_query_is_refused_with_the_position_of_the_mistake(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    response = await client.post(
        "/api/v1/watches", json={**WATCH, "query": "crm AND (cheap OR pricing"}, headers=admin.headers
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["position"] == 8
    assert "never closed" in problem["detail"]


async def test_preview_runs_a_query_against_stored_mentions(client: AsyncTestClient[Any], admin: Caller) -> None:
    watch = (await client.post("/api/v1/watches", json=WATCH, headers=admin.headers)).json()
    body = "\n".join(
        json.dumps(jsonl_record(str(i), text))
        for i, text in enumerate(
            ["Need a CRM, sfdc is too expensive", "crm tips for startups", "Salesforce pricing again", "hello"]
        )
    )
    imported = await client.post(f"/api/v1/watches/{watch['id']}/mentions/import", content=body, headers=admin.headers)
    assert imported.json()["stored"] == 4

    tried = await client.post(
        "/api/v1/watches/preview",
        json={"watch_id": watch["id"], "query": "Salesforce NEAR/3 (expensive OR pricing)"},
        headers=admin.headers,
    )
    assert tried.status_code == 422 and "NEAR joins" in tried.json()["detail"]

    tried = await client.post(
        "/api/v1/watches/preview",
        json={"watch_id": watch["id"], "query": "Salesforce AND (expensive OR pricing)", "limit": 1},
        headers=admin.headers,
    )
    assert tried.status_code == 200, tried.text
    result = tried.json()
    assert (result["scanned"], result["matched"], len(result["items"])) == (4, 2, 1)
    newest = result["items"][0]
    assert newest["text"] == "Salesforce pricing again"
    assert newest["matched_competitors"] == ["Salesforce"] and "pricing" in newest["matched_terms"]

    plain = await client.post("/api/v1/watches/preview", json={"keywords": ["startups"]}, headers=admin.headers)
    assert [item["text"] for item in plain.json()["items"]] == ["crm tips for startups"]
