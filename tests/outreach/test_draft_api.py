"""The draft pipeline on the API: a draft comes back with its situation, the cue that chose it, its variant and its
lint findings, and keeps situation and variant on the message; an edit is linted through
POST /api/v1/messages/{id}/lint in well under 20 ms."""

from __future__ import annotations

import time
from typing import Any

from litestar.testing import AsyncTestClient

from crm.models import Role
from crm.settings import Settings
from tests.conftest import Caller, make_caller
from tests.outreach.test_sender_profile import post

COMPLAINT = "Honestly Salesforce support is terrible, three days and no answer to a simple question"


async def lead_for(client: AsyncTestClient[Any], caller: Caller, text: str, handle: str = "dana") -> dict[str, Any]:
    h = caller.headers
    body = {"name": f"w-{handle}", "keywords": ["salesforce"], "competitors": [{"name": "Salesforce"}]}
    watch = (await client.post("/api/v1/watches", json=body, headers=h)).json()
    imported = await client.post(
        f"/api/v1/watches/{watch['id']}/mentions/import", content=post(f"p-{handle}", handle, text), headers=h
    )
    assert imported.status_code == 200, imported.text
    leads = (await client.get("/api/v1/leads", params={"watch_id": watch["id"]}, headers=h)).json()["items"]
    return dict(leads[0])


async def test_a_draft_comes_back_with_its_situation_cue_variant_and_findings(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    lead = await lead_for(client, admin, COMPLAINT)
    answer = await client.post(f"/api/v1/leads/{lead['id']}/drafts", headers=admin.headers)
    assert answer.status_code == 201, answer.text
    draft = answer.json()
    assert draft["situation"] == "competitor_complaint" and draft["template"] == "competitor_complaint"
    assert draft["cue"] == 'complains about Salesforce: "terrible"'
    assert draft["cue_sentence"].startswith("Honestly Salesforce support is terrible")
    assert draft["variant"] in {"a", "b"}
    assert draft["blocked"] is False
    assert all({"code", "severity", "message", "suggestion"} <= set(f) for f in draft["findings"])

    stored = (await client.get(f"/api/v1/leads/{lead['id']}/messages", headers=admin.headers)).json()
    assert [(m["situation"], m["variant"]) for m in stored] == [(draft["situation"], draft["variant"])]


async def test_the_caller_says_when_a_draft_is_a_follow_up_and_may_pin_a_variant(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    lead = await lead_for(client, admin, COMPLAINT)
    url = f"/api/v1/leads/{lead['id']}/drafts"
    follow_up = (await client.post(url, json={"purpose": "follow_up_1", "variant": "b"}, headers=admin.headers)).json()
    assert follow_up["situation"] == "follow_up_1" and follow_up["variant"] == "b"
    assert follow_up["cue"] == "follow-up 1 of the sequence"
    unknown = await client.post(url, json={"variant": "zz"}, headers=admin.headers)
    assert unknown.status_code == 422 and "variants a, b" in unknown.json()["detail"]
    wrong = await client.post(url, json={"purpose": "cold_call"}, headers=admin.headers)
    assert wrong.status_code == 400
    assert wrong.headers["content-type"].startswith("application/problem+json")


async def test_a_custom_template_is_marked_custom_with_no_variant(client: AsyncTestClient[Any], admin: Caller) -> None:
    lead = await lead_for(client, admin, COMPLAINT)
    answer = await client.post(
        f"/api/v1/leads/{lead['id']}/drafts",
        json={"template": "Hi {{ name }}, was it {{ competitor }}? {{ intro }}"},
        headers=admin.headers,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["body"] == "Hi Dana, was it Salesforce?"
    assert answer.json()["template"] == "custom" and answer.json()["variant"] is None


async def test_an_edit_is_linted_with_the_persons_facts_and_the_reps_other_drafts(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    lead = await lead_for(client, admin, COMPLAINT)
    other = await lead_for(client, admin, "Anyone know a good alternative to Salesforce for a tiny team?", "ben")
    first = (await client.post(f"/api/v1/leads/{lead['id']}/drafts", headers=admin.headers)).json()
    second = (await client.post(f"/api/v1/leads/{other['id']}/drafts", headers=admin.headers)).json()
    url = f"/api/v1/messages/{second['id']}/lint"

    generic = (await client.post(url, json={"text": "BUY NOW!!! Click here: bit.ly/x"}, headers=admin.headers)).json()
    codes = {f["code"] for f in generic["findings"]}
    assert generic["blocked"] is True and {"shortened_link", "not_personal"} <= codes

    copied = (await client.post(url, json={"text": first["body"]}, headers=admin.headers)).json()
    assert "near_duplicate" in {f["code"] for f in copied["findings"]}

    own = (await client.post(url, json={"text": second["body"]}, headers=admin.headers)).json()
    assert own["blocked"] is False, own


async def test_linting_an_edit_answers_in_under_20_ms(client: AsyncTestClient[Any], admin: Caller) -> None:
    lead = await lead_for(client, admin, COMPLAINT)
    draft = (await client.post(f"/api/v1/leads/{lead['id']}/drafts", headers=admin.headers)).json()
    url = f"/api/v1/messages/{draft['id']}/lint"
    await client.post(url, json={"text": draft["body"]}, headers=admin.headers)  # warm: lexicons, textstat
    timings = []
    for n in range(9):
        started = time.perf_counter()
        answer = await client.post(url, json={"text": f"{draft['body']} Edit {n}."}, headers=admin.headers)
        timings.append(time.perf_counter() - started)
        assert answer.status_code == 200
    # The suite shares its CPUs with other workers, so the fastest of several calls is the route's own cost (the
    # whole round trip: auth, reads, lint); a route that reloaded its lexicons or dictionaries would miss by far.
    assert min(timings) < 0.020, timings


async def test_a_message_the_caller_cannot_see_is_not_linted(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings
) -> None:
    lead = await lead_for(client, admin, COMPLAINT)
    draft = (await client.post(f"/api/v1/leads/{lead['id']}/drafts", headers=admin.headers)).json()
    await client.patch(f"/api/v1/leads/{lead['id']}", json={"owner_id": admin.user.id}, headers=admin.headers)
    rep = await make_caller(settings, "rep@example.com", Role.SALES_REP)
    hidden = await client.post(f"/api/v1/messages/{draft['id']}/lint", json={"text": "hi"}, headers=rep.headers)
    assert hidden.status_code == 404
    missing = await client.post("/api/v1/messages/999999/lint", json={"text": "hi"}, headers=admin.headers)
    assert missing.status_code == 404
