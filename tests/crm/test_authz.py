import csv
import io
import json
from dataclasses import dataclass
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from crm.models import Role
from crm.settings import Settings
from tests.conftest import Caller, make_caller

WATCH = {"name": "CRM alternatives", "keywords": ["crm"]}


def mention_line(handle: str, mention_id: str) -> str:
    return json.dumps(
        {
            "platform": "file",
            "id": mention_id,
            "text": "Can anyone recommend a CRM that isn't Salesforce?",
            "created_at": "2026-11-20T09:12:00Z",
            "url": f"https://example.org/{mention_id}",
            "author": {"handle": handle, "display_name": handle.title(), "dm_open": True},
        }
    )


@dataclass
class World:
    admin: Caller
    rep_a: Caller
    rep_a2: Caller
    rep_b: Caller
    marketer: Caller
    reader: Caller
    watch_id: int
    other_lead: int  # owned by rep_b (another team): invisible to rep_a
    team_lead: int  # owned by rep_a2 (rep_a's teammate): visible, read-only to rep_a
    own_lead: int  # owned by rep_a
    other_contact: int
    other_mention: int
    other_note: int
    team_note: int
    other_task: int
    other_message: int
    own_contact: int
    team_contact: int  # the person behind team_lead
    other_org: int  # holds other_contact
    pipeline_id: int
    stage_id: int


async def create(client: AsyncTestClient[Any], caller: Caller, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.fixture
async def world(client: AsyncTestClient[Any], settings: Settings, admin: Caller) -> World:
    team_a = await create(client, admin, "/api/v1/teams", {"name": "Team A"})
    team_b = await create(client, admin, "/api/v1/teams", {"name": "Team B"})
    rep_a = await make_caller(settings, "rep.a@example.com", Role.SALES_REP, team_a["id"])
    rep_a2 = await make_caller(settings, "rep.a2@example.com", Role.SALES_REP, team_a["id"])
    rep_b = await make_caller(settings, "rep.b@example.com", Role.SALES_REP, team_b["id"])
    marketer = await make_caller(settings, "marketer@example.com", Role.MARKETER)
    reader = await make_caller(settings, "reader@example.com", Role.READ_ONLY)
    watch = await create(client, admin, "/api/v1/watches", WATCH)
    imported = await client.post(
        f"/api/v1/watches/{watch['id']}/mentions/import", content=mention_line("maria", "m-1"), headers=admin.headers
    )
    assert imported.json()["new_leads"] == 1
    other = (await client.get("/api/v1/leads", headers=admin.headers)).json()["items"][0]
    owned = await client.patch(
        f"/api/v1/leads/{other['id']}",
        json={"owner_id": rep_b.user.id, "external_id": "ext-other"},
        headers=admin.headers,
    )
    assert owned.status_code == 200, owned.text
    mention = (await client.get(f"/api/v1/leads/{other['id']}/mentions", headers=admin.headers)).json()[0]
    draft = await client.post(f"/api/v1/leads/{other['id']}/drafts", headers=rep_b.headers)
    assert draft.status_code == 201, draft.text

    c2 = await create(client, admin, "/api/v1/contacts", {"display_name": "Team contact"})
    c3 = await create(client, admin, "/api/v1/contacts", {"display_name": "Own contact"})
    team_lead = await create(client, admin, "/api/v1/leads", {"contact_id": c2["id"], "owner_id": rep_a2.user.id})
    own_lead = await create(client, admin, "/api/v1/leads", {"contact_id": c3["id"], "owner_id": rep_a.user.id})
    other_note = await create(client, rep_b, f"/api/v1/leads/{other['id']}/notes", {"body": "called"})
    team_note = await create(client, rep_a2, f"/api/v1/leads/{team_lead['id']}/notes", {"body": "mine"})
    other_task = await create(client, rep_b, f"/api/v1/leads/{other['id']}/tasks", {"title": "follow up"})
    pipeline = (await client.get("/api/v1/pipelines", headers=admin.headers)).json()[0]
    org = await create(client, admin, "/api/v1/organisations", {"name": "Maria's company"})
    linked = await client.patch(
        f"/api/v1/contacts/{other['contact_id']}", json={"organisation_id": org["id"]}, headers=admin.headers
    )
    assert linked.status_code == 200, linked.text
    return World(
        admin=admin,
        rep_a=rep_a,
        rep_a2=rep_a2,
        rep_b=rep_b,
        marketer=marketer,
        reader=reader,
        watch_id=watch["id"],
        other_lead=other["id"],
        team_lead=team_lead["id"],
        own_lead=own_lead["id"],
        other_contact=other["contact_id"],
        other_mention=mention["id"],
        other_note=other_note["id"],
        team_note=team_note["id"],
        other_task=other_task["id"],
        other_message=draft.json()["id"],
        own_contact=c3["id"],
        team_contact=c2["id"],
        other_org=org["id"],
        pipeline_id=pipeline["id"],
        stage_id=pipeline["stages"][-1]["id"],
    )


def fill(body: dict[str, Any] | None, values: dict[str, Any]) -> dict[str, Any] | None:
    """Bodies name other objects as "{field}"; put the world's ids in."""
    if body is None:
        return None
    return {k: values[v[1:-1]] if isinstance(v, str) and v.startswith("{") else v for k, v in body.items()}


async def test_a_rep_lists_own_unassigned_and_team_leads_but_not_another_teams(
    client: AsyncTestClient[Any], world: World
) -> None:
    seen = {lead["id"] for lead in (await client.get("/api/v1/leads", headers=world.rep_a.headers)).json()["items"]}
    assert seen == {world.team_lead, world.own_lead}
    tasks = (await client.get("/api/v1/tasks", headers=world.rep_a.headers)).json()["items"]
    assert world.other_task not in {t["id"] for t in tasks}
    for feed, hidden in (("mentions", world.other_mention), ("messages", world.other_message)):
        mine = (await client.get(f"/api/v1/{feed}", headers=world.rep_a.headers)).json()["items"]
        assert hidden not in {item["id"] for item in mine}, feed
        theirs = (await client.get(f"/api/v1/{feed}", headers=world.rep_b.headers)).json()["items"]
        assert hidden in {item["id"] for item in theirs}, feed
    contacts = (await client.get("/api/v1/contacts", headers=world.rep_a.headers)).json()["items"]
    assert world.other_contact not in {c["id"] for c in contacts} and world.own_contact in {c["id"] for c in contacts}
    everything = (await client.get("/api/v1/leads", headers=world.marketer.headers)).json()["items"]
    assert {lead["id"] for lead in everything} == {world.other_lead, world.team_lead, world.own_lead}


INVISIBLE_TO_REP_A = [
    ("GET", "/api/v1/leads/{other_lead}", None),
    ("GET", "/api/v1/leads/by-external-id/ext-other", None),
    ("PUT", "/api/v1/leads/by-external-id/ext-other", {"contact_id": "{other_contact}"}),
    ("POST", "/api/v1/contacts/{own_contact}/merge", {"source_contact_id": "{other_contact}"}),
    ("PATCH", "/api/v1/leads/{other_lead}", {"platform": "x"}),
    ("DELETE", "/api/v1/leads/{other_lead}", None),
    ("POST", "/api/v1/leads/{other_lead}/stage", {"to_stage": "contacted"}),
    ("GET", "/api/v1/leads/{other_lead}/stage-changes", None),
    ("GET", "/api/v1/leads/{other_lead}/timeline", None),
    ("GET", "/api/v1/leads/{other_lead}/scores", None),
    ("GET", "/api/v1/leads/{other_lead}/mentions", None),
    ("GET", "/api/v1/leads/{other_lead}/notes", None),
    ("POST", "/api/v1/leads/{other_lead}/notes", {"body": "x"}),
    ("GET", "/api/v1/leads/{other_lead}/tasks", None),
    ("POST", "/api/v1/leads/{other_lead}/tasks", {"title": "x"}),
    ("POST", "/api/v1/leads/{other_lead}/drafts", None),
    ("POST", "/api/v1/leads/{other_lead}/replies", {"body": "hi"}),
    ("GET", "/api/v1/leads/{other_lead}/messages", None),
    ("POST", "/api/v1/messages/{other_message}/sent", None),
    ("GET", "/api/v1/mentions/{other_mention}", None),
    ("GET", "/api/v1/contacts/{other_contact}", None),
    ("PATCH", "/api/v1/contacts/{other_contact}", {"display_name": "x"}),
    ("DELETE", "/api/v1/contacts/{other_contact}", None),
    ("GET", "/api/v1/contacts/{other_contact}/merges", None),
    ("POST", "/api/v1/contacts/{other_contact}/merge", {"source_contact_id": "{own_contact}"}),
    ("GET", "/api/v1/contacts/{other_contact}/privacy", None),
    ("PUT", "/api/v1/contacts/{other_contact}/privacy", {"do_not_contact": True}),
    ("GET", "/api/v1/contacts/{other_contact}/consents", None),
    ("POST", "/api/v1/contacts/{other_contact}/consents", {"basis": "consent", "reason": "x"}),
    ("GET", "/api/v1/notes/{other_note}", None),
    ("PATCH", "/api/v1/notes/{other_note}", {"body": "x"}),
    ("DELETE", "/api/v1/notes/{other_note}", None),
    ("GET", "/api/v1/tasks/{other_task}", None),
    ("PATCH", "/api/v1/tasks/{other_task}", {"done": True}),
    ("DELETE", "/api/v1/tasks/{other_task}", None),
]


async def test_another_teams_objects_are_404_for_a_rep(client: AsyncTestClient[Any], world: World) -> None:
    # One world for every route: the cases only read or are refused, so they cannot disturb each other.
    for method, template, body in INVISIBLE_TO_REP_A:
        path = template.format(**vars(world))
        response = await client.request(method, path, json=fill(body, vars(world)), headers=world.rep_a.headers)
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        if method == "GET":
            admin_view = await client.get(path, headers=world.admin.headers)
            assert admin_view.status_code == 200, (path, admin_view.text)


READ_ONLY_FOR_REP_A = [
    ("PATCH", "/api/v1/leads/{team_lead}", {"platform": "x"}),
    ("DELETE", "/api/v1/leads/{team_lead}", None),
    ("POST", "/api/v1/leads/{team_lead}/stage", {"to_stage": "contacted"}),
    ("POST", "/api/v1/leads/{team_lead}/notes", {"body": "x"}),
    ("POST", "/api/v1/leads/{team_lead}/tasks", {"title": "x"}),
    ("POST", "/api/v1/leads/{team_lead}/drafts", None),
    ("POST", "/api/v1/leads/{team_lead}/replies", {"body": "hi"}),
    ("PATCH", "/api/v1/notes/{team_note}", {"body": "x"}),
    ("DELETE", "/api/v1/notes/{team_note}", None),
    ("PATCH", "/api/v1/contacts/{team_contact}", {"display_name": "x"}),
    ("DELETE", "/api/v1/contacts/{team_contact}", None),
    ("POST", "/api/v1/contacts/{own_contact}/merge", {"source_contact_id": "{team_contact}"}),
    ("POST", "/api/v1/contacts/{team_contact}/merge", {"source_contact_id": "{own_contact}"}),
    ("PUT", "/api/v1/contacts/by-external-id/team-ext", {"display_name": "x"}),
    ("PUT", "/api/v1/contacts/{team_contact}/privacy", {"contact_initiated": True, "reason": "x"}),
    ("PUT", "/api/v1/contacts/{own_contact}/privacy", {"contact_initiated": True, "reason": "x"}),
    ("POST", "/api/v1/contacts/{own_contact}/consents", {"basis": "consent", "reason": "x"}),
    ("PATCH", "/api/v1/organisations/{other_org}", {"name": "x"}),
    ("DELETE", "/api/v1/organisations/{other_org}", None),
    ("POST", "/api/v1/watches", {"name": "mine", "keywords": ["x"]}),
    ("POST", "/api/v1/watches/{watch_id}/mentions/import", None),
    ("PATCH", "/api/v1/watches/{watch_id}", {"active": False}),
    ("DELETE", "/api/v1/watches/{watch_id}", None),
    ("PATCH", "/api/v1/campaigns/{watch_id}", {"active": False}),
    ("DELETE", "/api/v1/campaigns/{watch_id}", None),
    ("POST", "/api/v1/pipelines", {"name": "p", "stages": [{"key": "new", "name": "New"}]}),
    ("POST", "/api/v1/teams", {"name": "mine"}),
    ("POST", "/api/v1/users", {"email": "new@example.com"}),
    ("PATCH", "/api/v1/users/{admin_id}", {"name": "x"}),
    ("DELETE", "/api/v1/users/{admin_id}", None),
    ("GET", "/api/v1/routing-rules", None),
    ("POST", "/api/v1/api-keys", {"name": "k", "user_id": "{admin_id}"}),
    ("PATCH", "/api/v1/pipelines/{pipeline_id}", {"name": "mine"}),
    ("DELETE", "/api/v1/pipelines/{pipeline_id}", None),
    ("POST", "/api/v1/pipelines/{pipeline_id}/stages", {"key": "extra", "name": "Extra"}),
    ("PATCH", "/api/v1/pipelines/{pipeline_id}/stages/{stage_id}", {"name": "x"}),
    ("DELETE", "/api/v1/pipelines/{pipeline_id}/stages/{stage_id}", None),
    ("POST", "/api/v1/routing-rules", {"name": "mine"}),
    ("DELETE", "/api/v1/routing-rules/1", None),
]


async def test_visible_objects_a_rep_may_not_change_are_403(client: AsyncTestClient[Any], world: World) -> None:
    values = {**vars(world), "admin_id": world.admin.user.id}
    tagged = await client.patch(
        f"/api/v1/contacts/{world.team_contact}", json={"external_id": "team-ext"}, headers=world.admin.headers
    )
    assert tagged.status_code == 200, tagged.text
    for method, template, body in READ_ONLY_FOR_REP_A:
        path = template.format(**values)
        if method in ("PATCH", "DELETE") and "routing-rules" not in path:
            # visible to the rep (stages are read through their pipeline, which has no per-stage GET)
            assert (await client.get(path, headers=world.rep_a.headers)).status_code in (200, 405), path
        response = await client.request(method, path, json=fill(body, values), headers=world.rep_a.headers)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["type"] == "urn:warmline:problem:permission-denied"


@pytest.mark.parametrize("role", ["marketer", "reader"])
async def test_marketers_and_readers_read_every_lead_but_cannot_change_one(
    client: AsyncTestClient[Any], world: World, role: str
) -> None:
    caller: Caller = getattr(world, role)
    assert (await client.get(f"/api/v1/leads/{world.other_lead}", headers=caller.headers)).status_code == 200
    patched = await client.patch(f"/api/v1/leads/{world.other_lead}", json={"platform": "x"}, headers=caller.headers)
    assert patched.status_code == 403
    note = await client.post(f"/api/v1/leads/{world.other_lead}/notes", json={"body": "x"}, headers=caller.headers)
    assert note.status_code == 403


async def test_marketers_change_campaigns_and_readers_do_not(client: AsyncTestClient[Any], world: World) -> None:
    path = f"/api/v1/campaigns/{world.watch_id}"
    ok = await client.patch(path, json={"description": "new"}, headers=world.marketer.headers)
    assert ok.status_code == 200, ok.text
    assert (await client.patch(path, json={"description": "x"}, headers=world.reader.headers)).status_code == 403
    created = await client.post(
        "/api/v1/watches", json={"name": "m", "keywords": ["x"]}, headers=world.marketer.headers
    )
    assert created.status_code == 201
    assert (
        await client.post("/api/v1/organisations", json={"name": "Acme"}, headers=world.reader.headers)
    ).status_code == 403


async def test_a_rep_changes_own_and_unassigned_leads(client: AsyncTestClient[Any], world: World) -> None:
    h = world.rep_a.headers
    assert (await client.patch(f"/api/v1/leads/{world.own_lead}", json={"tags": ["hot"]}, headers=h)).status_code == 200
    moved = await client.post(f"/api/v1/leads/{world.own_lead}/stage", json={"to_stage": "contacted"}, headers=h)
    assert moved.status_code == 200
    handed = await client.patch(f"/api/v1/leads/{world.own_lead}", json={"owner_id": world.rep_a2.user.id}, headers=h)
    assert handed.status_code == 200  # to a teammate
    elsewhere = await client.patch(
        f"/api/v1/leads/{world.team_lead}", json={"owner_id": world.rep_a.user.id}, headers=h
    )
    assert elsewhere.status_code == 403


async def test_a_rep_cannot_hand_a_lead_to_another_team(client: AsyncTestClient[Any], world: World) -> None:
    h = world.rep_a.headers
    response = await client.patch(f"/api/v1/leads/{world.own_lead}", json={"owner_id": world.rep_b.user.id}, headers=h)
    assert response.status_code == 403


async def test_another_users_api_key_is_404_and_admins_see_it(client: AsyncTestClient[Any], world: World) -> None:
    keys = (await client.get("/api/v1/api-keys", headers=world.rep_b.headers)).json()
    assert [k["user_id"] for k in keys] == [world.rep_b.user.id]
    key_id = keys[0]["id"]
    assert (await client.get(f"/api/v1/api-keys/{key_id}", headers=world.rep_a.headers)).status_code == 404
    assert (await client.delete(f"/api/v1/api-keys/{key_id}", headers=world.rep_a.headers)).status_code == 404
    listing = await client.get(f"/api/v1/api-keys?user_id={world.rep_b.user.id}", headers=world.rep_a.headers)
    assert listing.status_code == 403
    assert (await client.get(f"/api/v1/api-keys/{key_id}", headers=world.admin.headers)).status_code == 200


async def test_a_read_scoped_key_cannot_write(client: AsyncTestClient[Any], world: World) -> None:
    created = await create(client, world.rep_a, "/api/v1/api-keys", {"name": "ro", "scopes": ["read"]})
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert (await client.get("/api/v1/leads", headers=headers)).status_code == 200
    refused = await client.patch(f"/api/v1/leads/{world.own_lead}", json={"platform": "x"}, headers=headers)
    assert refused.status_code == 403


async def test_mentions_of_a_visible_lead_are_readable_by_its_rep(client: AsyncTestClient[Any], world: World) -> None:
    path = f"/api/v1/mentions/{world.other_mention}"
    assert (await client.get(path, headers=world.rep_b.headers)).status_code == 200
    assert (await client.get(path, headers=world.rep_a.headers)).status_code == 404


async def test_a_reps_lead_export_holds_only_the_leads_their_list_shows(
    client: AsyncTestClient[Any], world: World
) -> None:
    response = await client.get("/api/v1/leads/export.csv", headers=world.rep_a.headers)
    assert response.status_code == 200, response.text
    exported = {int(row["id"]) for row in csv.DictReader(io.StringIO(response.text))}
    assert exported == {world.team_lead, world.own_lead}
    everything = await client.get("/api/v1/leads/export.csv", headers=world.marketer.headers)
    assert {int(row["id"]) for row in csv.DictReader(io.StringIO(everything.text))} == {
        world.other_lead,
        world.team_lead,
        world.own_lead,
    }


async def test_only_an_admin_lifts_an_opt_out_and_says_why(client: AsyncTestClient[Any], world: World) -> None:
    privacy = f"/api/v1/contacts/{world.own_contact}/privacy"
    recorded = await client.put(privacy, json={"do_not_contact": True}, headers=world.rep_a.headers)
    assert recorded.status_code == 200 and recorded.json()["do_not_contact"] is True

    lift = {"do_not_contact": False, "reason": "they changed their mind"}
    for rep in (world.rep_a, world.rep_a2):  # the lead's owner, and a teammate who may only read it
        refused = await client.put(privacy, json=lift, headers=rep.headers)
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"] == "urn:warmline:problem:permission-denied"
    patched = await client.patch(
        f"/api/v1/contacts/{world.own_contact}", json={"do_not_contact": False}, headers=world.rep_a.headers
    )
    assert patched.status_code == 403, patched.text
    assert (await client.get(privacy, headers=world.admin.headers)).json()["do_not_contact"] is True
    draft = await client.post(f"/api/v1/leads/{world.own_lead}/drafts", headers=world.rep_a.headers)
    assert draft.status_code == 409 and draft.json()["type"] == "urn:warmline:problem:outreach-blocked"

    unexplained = await client.put(privacy, json={"do_not_contact": False}, headers=world.admin.headers)
    assert unexplained.status_code == 422 and "reason" in unexplained.json()["detail"]
    lifted = await client.put(privacy, json=lift, headers=world.admin.headers)
    assert lifted.status_code == 200 and lifted.json()["do_not_contact"] is False
    audit = await client.get("/api/v1/audit", params={"action": "contact.privacy_changed"}, headers=world.admin.headers)
    assert [(e["actor"], e["detail"]) for e in audit.json()["items"]] == [
        ("admin@example.com", {"do_not_contact": False, "reason": "they changed their mind"}),
        ("rep.a@example.com", {"do_not_contact": True}),
    ]


async def test_anyone_who_may_write_and_sees_the_person_records_an_opt_out(
    client: AsyncTestClient[Any], world: World
) -> None:
    path = f"/api/v1/contacts/{world.team_contact}/privacy"
    refused = await client.put(path, json={"do_not_contact": True}, headers=world.reader.headers)
    assert refused.status_code == 403
    # rep_a may not change the teammate's lead, but protecting the person is never blocked.
    recorded = await client.put(path, json={"do_not_contact": True}, headers=world.rep_a.headers)
    assert recorded.status_code == 200 and recorded.json()["do_not_contact"] is True
    draft = await client.post(f"/api/v1/leads/{world.team_lead}/drafts", headers=world.rep_a2.headers)
    assert draft.status_code == 409


async def test_consent_is_recorded_and_withdrawn_by_admins_only(client: AsyncTestClient[Any], world: World) -> None:
    base = f"/api/v1/contacts/{world.own_contact}/consents"
    body = {"basis": "consent", "reason": "form"}
    assert (await client.post(base, json=body, headers=world.rep_a.headers)).status_code == 403
    given = await client.post(base, json=body, headers=world.admin.headers)
    assert given.status_code == 201, given.text
    withdraw = f"{base}/{given.json()['id']}/withdraw"
    assert (await client.post(withdraw, json={"reason": "x"}, headers=world.rep_a.headers)).status_code == 403
    assert (await client.post(withdraw, headers=world.marketer.headers)).status_code == 403
    assert (await client.post(withdraw, json={"reason": "asked"}, headers=world.admin.headers)).status_code == 200


async def test_a_rep_changes_the_contacts_of_their_own_leads_and_contacts_without_one(
    client: AsyncTestClient[Any], world: World
) -> None:
    h = world.rep_a.headers
    own = await client.patch(f"/api/v1/contacts/{world.own_contact}", json={"display_name": "Mine"}, headers=h)
    assert own.status_code == 200, own.text
    loose = await create(client, world.admin, "/api/v1/contacts", {"display_name": "No lead yet"})
    assert (
        await client.patch(f"/api/v1/contacts/{loose['id']}", json={"display_name": "Taken"}, headers=h)
    ).status_code == 200
    # Marketers keep lead-less records but not the people behind a rep's lead.
    m = world.marketer.headers
    assert (
        await client.patch(f"/api/v1/contacts/{loose['id']}", json={"display_name": "M"}, headers=m)
    ).status_code == 200
    assert (
        await client.patch(f"/api/v1/contacts/{world.own_contact}", json={"display_name": "M"}, headers=m)
    ).status_code == 403
    assert (
        await client.patch(f"/api/v1/contacts/{loose['id']}", json={"display_name": "R"}, headers=world.reader.headers)
    ).status_code == 403


async def test_organisations_are_changed_by_admins_marketers_and_reps_who_may_change_all_their_contacts(
    client: AsyncTestClient[Any], world: World
) -> None:
    path = f"/api/v1/organisations/{world.other_org}"
    assert (await client.get(path, headers=world.rep_a.headers)).status_code == 200
    assert (await client.patch(path, json={"name": "x"}, headers=world.rep_a.headers)).status_code == 403
    assert (await client.patch(path, json={"name": "x"}, headers=world.reader.headers)).status_code == 403
    assert (await client.patch(path, json={"name": "Renamed"}, headers=world.rep_b.headers)).status_code == 200
    assert (await client.patch(path, json={"name": "Acme"}, headers=world.marketer.headers)).status_code == 200

    mine = await create(client, world.rep_a, "/api/v1/organisations", {"name": "Rep A's customer"})
    linked = await client.patch(
        f"/api/v1/contacts/{world.own_contact}", json={"organisation_id": mine["id"]}, headers=world.rep_a.headers
    )
    assert linked.status_code == 200, linked.text
    org_path = f"/api/v1/organisations/{mine['id']}"
    assert (await client.delete(org_path, headers=world.rep_b.headers)).status_code == 403
    assert (await client.delete(org_path, headers=world.rep_a.headers)).status_code == 204
    assert (await client.delete(path, headers=world.admin.headers)).status_code == 204
