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


async def test_a_watch_is_changed_under_if_match_and_a_broken_query_leaves_it_as_it_was(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    created = await client.post("/api/v1/watches", json=WATCH, headers=admin.headers)
    assert created.status_code == 201, created.text
    path = f"/api/v1/watches/{created.json()['id']}"
    read = await client.get(path, headers=admin.headers)
    assert read.headers["etag"] == created.headers["etag"]

    broken = await client.patch(path, json={"query": "crm AND (cheap"}, headers=admin.headers)
    assert broken.status_code == 422 and broken.json()["position"] == 8
    changed = await client.patch(
        path,
        json={"query": "crm AND cheap", "excluded_terms": ["  jobs "]},
        headers={**admin.headers, "If-Match": read.headers["etag"]},
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["query"], changed.json()["excluded_terms"], changed.json()["version"]) == (
        "crm AND cheap",
        ["jobs"],
        2,
    )
    stale = await client.patch(
        path, json={"description": "late"}, headers={**admin.headers, "If-Match": read.headers["etag"]}
    )
    assert stale.status_code == 412
    taken = await client.post("/api/v1/watches", json={**WATCH, "name": "other"}, headers=admin.headers)
    renamed = await client.patch(
        f"/api/v1/watches/{taken.json()['id']}", json={"name": WATCH["name"]}, headers=admin.headers
    )
    assert renamed.status_code == 422 and "already exists" in renamed.json()["detail"]


async def test_a_deleted_watch_stops_listening_and_leaves_the_list(client: AsyncTestClient[Any], admin: Caller) -> None:
    kept = (await client.post("/api/v1/watches", json={**WATCH, "name": "kept"}, headers=admin.headers)).json()
    gone = (await client.post("/api/v1/watches", json=WATCH, headers=admin.headers)).json()
    assert (await client.delete(f"/api/v1/watches/{gone['id']}", headers=admin.headers)).status_code == 204
    assert (await client.get(f"/api/v1/watches/{gone['id']}", headers=admin.headers)).status_code == 404
    listed = (await client.get("/api/v1/watches", params={"limit": 1}, headers=admin.headers)).json()
    assert [w["id"] for w in listed["items"]] == [kept["id"]] and listed["next_cursor"] is None
    imported = await client.post(
        f"/api/v1/watches/{gone['id']}/mentions/import",
        content=json.dumps(jsonl_record("1", "need a crm")),
        headers=admin.headers,
    )
    assert imported.status_code == 404


async def test_campaigns_is_a_deprecated_alias_of_watches_in_the_api_document(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    made = (await client.post("/api/v1/campaigns", json=WATCH, headers=admin.headers)).json()
    assert (await client.get(f"/api/v1/watches/{made['id']}", headers=admin.headers)).json() == made
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    aliased = [op for path, item in paths.items() if path.startswith("/api/v1/campaigns") for op in item.values()]
    assert len(aliased) == 5 and all(op["deprecated"] for op in aliased)
    assert not any(op.get("deprecated") for op in paths["/api/v1/watches"].values())
    [alias] = [p for p in paths["/api/v1/leads"]["get"]["parameters"] if p["name"] == "campaign_id"]
    assert alias["schema"]["deprecated"] is True and alias["deprecated"] is True
