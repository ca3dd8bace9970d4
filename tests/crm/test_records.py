from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.db import make_engine
from crm.leads.routing import route_new_leads
from crm.models import Lead, Role
from crm.settings import Settings
from tests.conftest import Caller, make_caller


async def create(client: AsyncTestClient[Any], caller: Caller, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def new_lead(client: AsyncTestClient[Any], admin: Caller, name: str, **fields: Any) -> dict[str, Any]:
    contact = await create(client, admin, "/api/v1/contacts", {"display_name": name})
    return await create(client, admin, "/api/v1/leads", {"contact_id": contact["id"], **fields})


async def test_a_lead_is_created_read_updated_with_if_match_and_soft_deleted(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    h = admin.headers
    lead = await new_lead(client, admin, "Ada", platform="x", tags=["Hot", "saas"])
    assert lead["stage"] == "new" and lead["tags"] == ["hot", "saas"] and lead["version"] == 1

    read = await client.get(f"/api/v1/leads/{lead['id']}", headers=h)
    etag = read.headers["etag"]
    assert etag == f'"lead-{lead["id"]}-v1"'

    changed = await client.patch(f"/api/v1/leads/{lead['id']}", json={"tags": ["hot"]}, headers={**h, "If-Match": etag})
    assert changed.status_code == 200 and changed.json()["tags"] == ["hot"]
    assert changed.headers["etag"] != etag

    stale = await client.patch(
        f"/api/v1/leads/{lead['id']}", json={"platform": "reddit"}, headers={**h, "If-Match": etag}
    )
    assert stale.status_code == 412
    assert stale.json()["current_etag"] == changed.headers["etag"]

    staged = await client.patch(f"/api/v1/leads/{lead['id']}", json={"stage": "contacted", "reason": "dm"}, headers=h)
    assert staged.json()["stage"] == "contacted"
    history = (await client.get(f"/api/v1/leads/{lead['id']}/stage-changes", headers=h)).json()
    assert [(c["from_stage"], c["to_stage"], c["reason"]) for c in history] == [("new", "contacted", "dm")]

    stale_delete = await client.delete(f"/api/v1/leads/{lead['id']}", headers={**h, "If-Match": etag})
    assert stale_delete.status_code == 412
    assert (await client.delete(f"/api/v1/leads/{lead['id']}", headers=h)).status_code == 204
    assert (await client.get(f"/api/v1/leads/{lead['id']}", headers=h)).status_code == 404
    assert (await client.get("/api/v1/leads", headers=h)).json()["items"] == []


async def test_a_consumer_upserts_a_lead_by_its_external_id(client: AsyncTestClient[Any], admin: Caller) -> None:
    h = admin.headers
    contact = await create(client, admin, "/api/v1/contacts", {"display_name": "Grace", "external_id": "hub-c1"})
    first = await client.put("/api/v1/leads/by-external-id/hub-1", json={"contact_id": contact["id"]}, headers=h)
    assert first.status_code == 201, first.text
    assert first.json()["external_id"] == "hub-1"
    again = await client.put(
        "/api/v1/leads/by-external-id/hub-1", json={"contact_id": contact["id"], "platform": "reddit"}, headers=h
    )
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["platform"] == "reddit"
    stale = await client.put(
        "/api/v1/leads/by-external-id/hub-1",
        json={"contact_id": contact["id"]},
        headers={**h, "If-Match": first.headers["etag"]},
    )
    assert stale.status_code == 412
    found = await client.get("/api/v1/leads/by-external-id/hub-1", headers=h)
    assert found.json()["id"] == first.json()["id"]
    duplicate = await client.post("/api/v1/leads", json={"contact_id": contact["id"]}, headers=h)
    assert duplicate.status_code == 409

    upserted = await client.put("/api/v1/contacts/by-external-id/hub-c1", json={"email": "G@Example.com"}, headers=h)
    assert upserted.status_code == 200 and upserted.json()["email"] == "g@example.com"
    created = await client.put("/api/v1/contacts/by-external-id/hub-c2", json={"display_name": "New"}, headers=h)
    assert created.status_code == 201


async def test_leads_filter_sort_and_page_with_a_stable_keyset_cursor(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings
) -> None:
    h = admin.headers
    rep = await make_caller(settings, "rep@example.com", Role.SALES_REP)
    ids = [(await new_lead(client, admin, f"p{i}", platform="x" if i % 2 else "reddit"))["id"] for i in range(7)]
    await client.patch(f"/api/v1/leads/{ids[0]}", json={"owner_id": rep.user.id, "tags": ["vip"]}, headers=h)
    await client.patch(f"/api/v1/leads/{ids[3]}", json={"tags": ["vip", "eu"]}, headers=h)

    seen: list[int] = []
    cursor = None
    while True:
        query = {"limit": 3, "sort": "id"} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/leads", params=query, headers=h)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids)

    newest = (await client.get("/api/v1/leads", params={"sort": "-updated_at", "limit": 2}, headers=h)).json()
    assert [item["id"] for item in newest["items"]] == [ids[3], ids[0]]
    rest = (
        await client.get(
            "/api/v1/leads", params={"sort": "-updated_at", "limit": 10, "cursor": newest["next_cursor"]}, headers=h
        )
    ).json()
    assert len(rest["items"]) == 5 and not {ids[3], ids[0]} & {item["id"] for item in rest["items"]}

    def ids_for(**params: Any) -> Any:
        return client.get("/api/v1/leads", params={"sort": "id", **params}, headers=h)

    assert [i["id"] for i in (await ids_for(platform="x")).json()["items"]] == [ids[1], ids[3], ids[5]]
    assert [i["id"] for i in (await ids_for(tag=["vip", "eu"])).json()["items"]] == [ids[3]]
    assert [i["id"] for i in (await ids_for(owner_id=rep.user.id)).json()["items"]] == [ids[0]]
    assert len((await ids_for(unassigned=True)).json()["items"]) == 6
    assert (await ids_for(score_min=10)).json()["items"] == []
    mismatched = await client.get(
        "/api/v1/leads", params={"sort": "-score", "cursor": newest["next_cursor"]}, headers=h
    )
    assert mismatched.status_code == 422


async def test_merging_contacts_moves_accounts_and_leads_and_keeps_history(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    h = admin.headers
    watch = await create(client, admin, "/api/v1/campaigns", {"name": "c", "keywords": ["crm"]})
    keep = await create(client, admin, "/api/v1/contacts", {"display_name": "Maria"})
    dupe = await create(client, admin, "/api/v1/contacts", {"display_name": "", "email": "maria@example.com"})
    kept_lead = await create(client, admin, "/api/v1/leads", {"contact_id": keep["id"], "watch_id": watch["id"]})
    clash = await create(client, admin, "/api/v1/leads", {"contact_id": dupe["id"], "watch_id": watch["id"]})
    moved = await create(client, admin, "/api/v1/leads", {"contact_id": dupe["id"]})
    await create(client, admin, f"/api/v1/leads/{clash['id']}/notes", {"body": "from the duplicate"})

    merged = await client.post(
        f"/api/v1/contacts/{keep['id']}/merge", json={"source_contact_id": dupe["id"]}, headers=h
    )
    assert merged.status_code == 200, merged.text
    detail = merged.json()["detail"]
    assert detail["leads_moved"] == [moved["id"]]
    assert detail["leads_folded"] == {str(clash["id"]): kept_lead["id"]}

    survivor = (await client.get(f"/api/v1/contacts/{keep['id']}", headers=h)).json()
    assert survivor["email"] == "maria@example.com"
    assert (await client.get(f"/api/v1/contacts/{dupe['id']}", headers=h)).status_code == 404
    assert (await client.get(f"/api/v1/leads/{moved['id']}", headers=h)).json()["contact_id"] == keep["id"]
    notes = (await client.get(f"/api/v1/leads/{kept_lead['id']}/notes", headers=h)).json()
    assert [n["body"] for n in notes] == ["from the duplicate"]
    history = (await client.get(f"/api/v1/contacts/{keep['id']}/merges", headers=h)).json()
    assert [(m["source_contact_id"], m["target_contact_id"]) for m in history] == [(dupe["id"], keep["id"])]
    again = await client.post(f"/api/v1/contacts/{keep['id']}/merge", json={"source_contact_id": dupe["id"]}, headers=h)
    assert again.status_code == 404


async def test_pipelines_have_configurable_stages(client: AsyncTestClient[Any], admin: Caller) -> None:
    h = admin.headers
    default = (await client.get("/api/v1/pipelines", headers=h)).json()[0]
    assert [s["key"] for s in default["stages"]] == [
        "new",
        "contacted",
        "replied",
        "qualified",
        "meeting",
        "won",
        "lost",
        "disqualified",
    ]
    body = {
        "name": "Partners",
        "stages": [{"key": "intro", "name": "Intro"}, {"key": "signed", "name": "Signed", "kind": "won"}],
    }
    pipeline = await create(client, admin, "/api/v1/pipelines", body)
    added = await client.post(
        f"/api/v1/pipelines/{pipeline['id']}/stages", json={"key": "call", "name": "Call"}, headers=h
    )
    assert [s["key"] for s in added.json()["stages"]] == ["intro", "signed", "call"]
    call = added.json()["stages"][2]
    moved = await client.patch(
        f"/api/v1/pipelines/{pipeline['id']}/stages/{call['id']}", json={"position": 1}, headers=h
    )
    assert [s["key"] for s in moved.json()["stages"]] == ["intro", "call", "signed"]

    contact = await create(client, admin, "/api/v1/contacts", {"display_name": "P"})
    lead = await create(client, admin, "/api/v1/leads", {"contact_id": contact["id"], "pipeline_id": pipeline["id"]})
    assert lead["stage"] == "intro"
    intro = moved.json()["stages"][0]
    in_use = await client.delete(f"/api/v1/pipelines/{pipeline['id']}/stages/{intro['id']}", headers=h)
    assert in_use.status_code == 409
    assert (await client.delete(f"/api/v1/pipelines/{pipeline['id']}", headers=h)).status_code == 409
    assert (
        await client.delete(f"/api/v1/pipelines/{pipeline['id']}/stages/{call['id']}", headers=h)
    ).status_code == 204

    made_default = await client.patch(f"/api/v1/pipelines/{pipeline['id']}", json={"is_default": True}, headers=h)
    assert made_default.json()["is_default"] is True
    assert [p["is_default"] for p in (await client.get("/api/v1/pipelines", headers=h)).json()] == [False, True]


async def test_notes_tasks_and_the_timeline_of_a_lead(client: AsyncTestClient[Any], admin: Caller) -> None:
    h = admin.headers
    lead = await new_lead(client, admin, "T")
    note = await create(client, admin, f"/api/v1/leads/{lead['id']}/notes", {"body": "Met at the conference"})
    edited = await client.patch(f"/api/v1/notes/{note['id']}", json={"body": "Met at DevConf"}, headers=h)
    assert edited.json()["body"] == "Met at DevConf" and edited.json()["version"] == 2
    task = await create(
        client, admin, f"/api/v1/leads/{lead['id']}/tasks", {"title": "Send deck", "due_at": "2026-12-01T09:00:00Z"}
    )
    assert task["assignee_user_id"] == admin.user.id
    open_tasks = (await client.get("/api/v1/tasks", params={"mine": True, "open": True}, headers=h)).json()
    assert [t["id"] for t in open_tasks["items"]] == [task["id"]]
    done = await client.patch(f"/api/v1/tasks/{task['id']}", json={"done": True}, headers=h)
    assert done.json()["done_at"] is not None
    assert (await client.get("/api/v1/tasks", params={"open": True}, headers=h)).json()["items"] == []
    await client.post(f"/api/v1/leads/{lead['id']}/stage", json={"to_stage": "contacted"}, headers=h)
    await client.patch(f"/api/v1/leads/{lead['id']}", json={"owner_id": admin.user.id}, headers=h)

    kinds = [item["kind"] for item in (await client.get(f"/api/v1/leads/{lead['id']}/timeline", headers=h)).json()]
    assert sorted(kinds) == ["assignment", "note", "stage_change", "task"]
    assert (await client.delete(f"/api/v1/notes/{note['id']}", headers=h)).status_code == 204
    assert (await client.get(f"/api/v1/notes/{note['id']}", headers=h)).status_code == 404
    tags = await client.patch(f"/api/v1/leads/{lead['id']}", json={"tags": ["b", "a"]}, headers=h)
    assert tags.json()["tags"] == ["a", "b"]
    assert [t["name"] for t in (await client.get("/api/v1/tags", headers=h)).json()] == ["a", "b"]


async def test_organisations_and_campaigns_support_crud_with_etags(client: AsyncTestClient[Any], admin: Caller) -> None:
    h = admin.headers
    org = await client.post("/api/v1/organisations", json={"name": "Acme", "domain": "Acme.io"}, headers=h)
    assert org.status_code == 201 and org.json()["domain"] == "acme.io"
    contact = await create(
        client, admin, "/api/v1/contacts", {"display_name": "W", "organisation_id": org.json()["id"]}
    )
    stale = await client.patch(
        f"/api/v1/organisations/{org.json()['id']}",
        json={"name": "Acme Inc"},
        headers={**h, "If-Match": '"organisation-0-v9"'},
    )
    assert stale.status_code == 412
    assert (await client.delete(f"/api/v1/organisations/{org.json()['id']}", headers=h)).status_code == 204
    assert (await client.get(f"/api/v1/contacts/{contact['id']}", headers=h)).json()["organisation_id"] is None

    campaign = await create(client, admin, "/api/v1/campaigns", {"name": "Q4", "keywords": ["crm"]})
    assert (await client.get(f"/api/v1/watches/{campaign['id']}", headers=h)).status_code == 200
    renamed = await client.patch(f"/api/v1/campaigns/{campaign['id']}", json={"name": "Q4 EU"}, headers=h)
    assert renamed.json()["name"] == "Q4 EU" and renamed.json()["version"] == 2
    assert (await client.delete(f"/api/v1/campaigns/{campaign['id']}", headers=h)).status_code == 204
    assert (await client.get(f"/api/v1/watches/{campaign['id']}", headers=h)).status_code == 404
    assert (await client.get("/api/v1/campaigns", headers=h)).json()["items"] == []


async def test_new_leads_are_routed_by_rule_and_round_robin(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings
) -> None:
    h = admin.headers
    team = await create(client, admin, "/api/v1/teams", {"name": "Inbound"})
    reps = [await make_caller(settings, f"r{i}@example.com", Role.SALES_REP, team["id"]) for i in range(2)]
    vip = await make_caller(settings, "vip@example.com", Role.SALES_REP)
    await create(
        client, admin, "/api/v1/routing-rules", {"name": "reddit", "platform": "reddit", "user_id": vip.user.id}
    )
    await create(client, admin, "/api/v1/routing-rules", {"name": "rest", "position": 1, "team_id": team["id"]})

    owners = [(await new_lead(client, admin, f"n{i}", platform="x"))["owner_id"] for i in range(3)]
    assert owners == [reps[0].user.id, reps[1].user.id, reps[0].user.id]
    assert (await new_lead(client, admin, "r", platform="reddit"))["owner_id"] == vip.user.id
    lead = await new_lead(client, admin, "m", platform="x")
    timeline = (await client.get(f"/api/v1/leads/{lead['id']}/timeline", headers=h)).json()
    assert timeline[0]["kind"] == "assignment" and timeline[0]["detail"]["reason"] == "routing rule 'rest'"


async def test_values_the_database_cannot_store_are_refused_not_a_server_error(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings
) -> None:
    response = await client.get("/api/v1/contacts", params={"email": "a\x00b@example.com"}, headers=admin.headers)
    # SQLite stores NUL characters; PostgreSQL refuses them, which is the caller's input, so a 422.
    assert response.status_code == (422 if settings.database_url.startswith("postgresql") else 200)
    too_big = await client.get("/api/v1/leads", params={"owner_id": 2**40}, headers=admin.headers)
    assert too_big.status_code == 400


async def test_leads_from_intake_are_routed_in_a_batch(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings, session: AsyncSession
) -> None:
    rep = await make_caller(settings, "rep@example.com", Role.SALES_REP)
    await create(client, admin, "/api/v1/routing-rules", {"name": "hot", "min_score": 50, "user_id": rep.user.id})
    cold = await new_lead(client, admin, "cold")
    hot = await new_lead(client, admin, "hot")
    assert cold["owner_id"] is None and hot["owner_id"] is None  # unscored: the score rule does not match yet
    lead = await session.get(Lead, hot["id"])
    assert lead is not None
    lead.score = 80.0
    session.add(lead)
    assert await route_new_leads(session, [cold["id"], hot["id"]]) == {hot["id"]: rep.user.id}
    await session.commit()
    assert (await client.get(f"/api/v1/leads/{hot['id']}", headers=admin.headers)).json()["owner_id"] == rep.user.id


async def test_the_timeline_and_feeds_show_mentions_and_scores(
    client: AsyncTestClient[Any], admin: Caller, run_jobs: Any
) -> None:
    h = admin.headers
    watch = await create(client, admin, "/api/v1/watches", {"name": "w", "keywords": ["crm"]})
    line = (
        '{"platform": "file", "id": "m-1", "text": "any crm that is not Salesforce?", '
        '"created_at": "2026-11-20T09:12:00Z", "url": "https://example.org/m-1", "author": {"handle": "ana"}}'
    )
    await client.post(f"/api/v1/watches/{watch['id']}/mentions/import", content=line, headers=h)
    assert await run_jobs() == 2  # score_lead and analyse_mentions
    lead = (await client.get("/api/v1/leads", headers=h)).json()["items"][0]
    kinds = {item["kind"] for item in (await client.get(f"/api/v1/leads/{lead['id']}/timeline", headers=h)).json()}
    assert {"mention", "score"} <= kinds
    scores = (await client.get("/api/v1/scores", params={"lead_id": lead["id"]}, headers=h)).json()["items"]
    assert [s["score"] for s in scores] == [lead["score"]]
    assert len((await client.get(f"/api/v1/leads/{lead['id']}/scores", headers=h)).json()) == 1
    mentions = (await client.get("/api/v1/mentions", params={"watch_id": watch["id"]}, headers=h)).json()["items"]
    assert [m["external_id"] for m in mentions] == ["m-1"]


@pytest.mark.parametrize("sort", ["-score", "score"])
async def test_score_pages_put_unscored_leads_last_and_lose_or_repeat_none(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine, sort: str
) -> None:
    scores = [50.0, None, 80.0, 50.0, None, 20.0, 80.0, None]  # ties and NULLs on both sides of page boundaries
    ids = [(await new_lead(client, admin, f"s{i}"))["id"] for i in range(len(scores))]
    async with engine.begin() as connection:
        for lead_id, score in zip(ids, scores, strict=True):
            await connection.execute(update(Lead).where(col(Lead.id) == lead_id).values(score=score))
    descending = sort.startswith("-")
    scored = sorted(((s, i) for i, s in zip(ids, scores, strict=True) if s is not None), reverse=descending)
    unscored = sorted((i for i, s in zip(ids, scores, strict=True) if s is None), reverse=descending)
    expected = [i for _, i in scored] + unscored

    for limit in (1, 2, 3):
        seen: list[int] = []
        cursor = None
        while True:
            params = {"sort": sort, "limit": limit} | ({"cursor": cursor} if cursor else {})
            page = (await client.get("/api/v1/leads", params=params, headers=admin.headers)).json()
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == expected, limit


async def test_a_page_carries_each_leads_contact_mention_and_sorted_tags(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    lead = await new_lead(client, admin, "Tagged", tags=["zeta", "alpha"])
    plain = await new_lead(client, admin, "Plain")
    page = (await client.get("/api/v1/leads", params={"sort": "id"}, headers=admin.headers)).json()
    by_id = {item["id"]: item for item in page["items"]}
    assert by_id[lead["id"]]["tags"] == ["alpha", "zeta"] and by_id[plain["id"]]["tags"] == []
    assert by_id[lead["id"]]["display_name"] == "Tagged"
    single = (await client.get(f"/api/v1/leads/{lead['id']}", headers=admin.headers)).json()
    assert by_id[lead["id"]] == single  # the list and the single read give the same document


async def test_the_lead_list_survives_the_database_dropping_its_connections(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings
) -> None:
    if settings.is_sqlite:
        pytest.skip("SQLite has no server to drop connections")
    lead = await new_lead(client, admin, "Survivor")
    assert (await client.get("/api/v1/leads", headers=admin.headers)).status_code == 200  # the pool holds connections
    dropper = make_engine(settings)
    try:
        async with dropper.connect() as connection:
            await connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
    finally:
        await dropper.dispose()
    # No ping before checkout: the dead connection is noticed on use, and the read is tried again on a new one.
    again = await client.get("/api/v1/leads", headers=admin.headers)
    assert again.status_code == 200 and [item["id"] for item in again.json()["items"]] == [lead["id"]]
