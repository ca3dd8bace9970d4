"""Who is writing, through the API and the CLI: the workspace's sender profile (admins and marketers change it,
If-Match guards it, everyone reads it), each user's signature, and a watch's offer; drafts are written from them
and never name a product the user does not make."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from click.testing import CliRunner
from litestar.testing import AsyncTestClient

from crm.models import Role
from crm.settings import Settings
from outreach.commands import outreach
from tests.conftest import Caller, make_caller

ASKS = "Looking for an alternative to Salesforce, the pricing is killing our small team"


def post(post_id: str, handle: str, text: str = ASKS) -> str:
    return json.dumps(
        {
            "platform": "file",
            "id": post_id,
            "text": f"{text} ({post_id})",
            "created_at": "2026-11-20T09:12:00Z",
            "url": f"https://example.org/{post_id}",
            "author": {"handle": handle, "display_name": f"{handle.title()} Smith", "followers": 900, "dm_open": True},
        }
    )


async def lead_in_watch(client: AsyncTestClient[Any], caller: Caller, **watch: Any) -> dict[str, Any]:
    h = caller.headers
    body = {"name": "crm talk", "keywords": ["crm", "salesforce"], "competitors": [{"name": "Salesforce"}], **watch}
    created = await client.post("/api/v1/watches", json=body, headers=h)
    assert created.status_code == 201, created.text
    imported = await client.post(
        f"/api/v1/watches/{created.json()['id']}/mentions/import", content=post("p1", "dana"), headers=h
    )
    assert imported.status_code == 200, imported.text
    leads = (await client.get("/api/v1/leads", params={"watch_id": created.json()["id"]}, headers=h)).json()
    return dict(leads["items"][0])


async def test_before_anyone_saves_a_profile_the_settings_stand_in_and_everyone_reads_it(
    client: AsyncTestClient[Any], settings: Settings
) -> None:
    settings.product_name, settings.company_name = "Acme CRM", "Acme Ltd"
    reader = await make_caller(settings, "reader@example.com", Role.READ_ONLY)
    got = await client.get("/api/v1/sender-profile", headers=reader.headers)
    assert got.status_code == 200
    assert got.json()["product"] == "Acme CRM" and got.json()["company"] == "Acme Ltd"
    assert got.json()["version"] == 0 and got.headers["etag"] == '"sender-profile-1-v0"'


async def test_admins_and_marketers_change_the_profile_and_reps_may_not(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings
) -> None:
    marketer = await make_caller(settings, "marketer@example.com", Role.MARKETER)
    rep = await make_caller(settings, "rep@example.com", Role.SALES_REP)
    body = {"product": "Acme CRM", "company": "Acme Ltd", "value_proposition": "a CRM small teams set up fast"}
    saved = await client.put("/api/v1/sender-profile", json=body, headers=marketer.headers)
    assert saved.status_code == 200, saved.text
    assert saved.json()["product"] == "Acme CRM" and saved.json()["version"] == 1
    refused = await client.put("/api/v1/sender-profile", json={"product": "X"}, headers=rep.headers)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/api/v1/sender-profile", headers=rep.headers)).json()["product"] == "Acme CRM"


async def test_a_profile_change_naming_an_old_version_is_refused(client: AsyncTestClient[Any], admin: Caller) -> None:
    first = await client.put("/api/v1/sender-profile", json={"product": "Acme CRM"}, headers=admin.headers)
    tag = first.headers["etag"]
    second = await client.put(
        "/api/v1/sender-profile", json={"company": "Acme"}, headers={**admin.headers, "If-Match": tag}
    )
    assert second.status_code == 200 and second.json() == {**second.json(), "product": "Acme CRM", "company": "Acme"}
    stale = await client.put(
        "/api/v1/sender-profile", json={"product": "Other"}, headers={**admin.headers, "If-Match": tag}
    )
    assert stale.status_code == 412
    assert (await client.get("/api/v1/sender-profile", headers=admin.headers)).json()["product"] == "Acme CRM"


async def test_bad_profile_input_is_a_problem_not_a_500(client: AsyncTestClient[Any], admin: Caller) -> None:
    for body in ({"website": "javascript:alert(1)"}, {"product": "x" * 500}, {"company": "a\nb"}):
        answer = await client.put("/api/v1/sender-profile", json=body, headers=admin.headers)
        assert answer.status_code == 400 or answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")


async def test_drafts_are_written_from_the_profile_the_signature_and_the_watchs_offer(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    h = admin.headers
    await client.put("/api/v1/sender-profile", json={"product": "Acme CRM", "company": "Acme Ltd"}, headers=h)
    signed = await client.put("/api/v1/users/me/signature", json={"signature": "Sam, Acme sales"}, headers=h)
    assert signed.status_code == 200 and signed.json()["signature"] == "Sam, Acme sales"
    lead = await lead_in_watch(client, admin, offer="our Salesforce migration checklist")
    watch = (await client.get(f"/api/v1/watches/{lead['watch_id']}", headers=h)).json()
    assert watch["offer"] == "our Salesforce migration checklist"

    draft = (await client.post(f"/api/v1/leads/{lead['id']}/drafts", headers=h)).json()
    assert "Acme CRM" in draft["body"] and "Warmline" not in draft["body"]
    assert "our Salesforce migration checklist" in draft["body"]
    assert draft["body"].endswith("\n\nSam, Acme sales")


async def test_with_no_profile_a_draft_names_no_product_at_all(client: AsyncTestClient[Any], admin: Caller) -> None:
    lead = await lead_in_watch(client, admin)
    for variant in ("a", "b"):
        answer = await client.post(
            f"/api/v1/leads/{lead['id']}/drafts", json={"variant": variant}, headers=admin.headers
        )
        assert answer.status_code == 201, answer.text
        body = answer.json()["body"]
        assert "Warmline" not in body and "I work on" not in body and "a tool in this space" not in body
        assert body.startswith("Hi Dana,")


async def test_a_signature_change_naming_an_old_version_is_refused(client: AsyncTestClient[Any], admin: Caller) -> None:
    h = admin.headers
    first = await client.get("/api/v1/users/me/signature", headers=h)
    assert first.json()["display_name"] == "admin" and first.json()["version"] == 0
    saved = await client.put(
        "/api/v1/users/me/signature", json={"display_name": "Sam Lee"}, headers={**h, "If-Match": first.headers["etag"]}
    )
    assert saved.status_code == 200 and saved.json()["display_name"] == "Sam Lee"
    stale = await client.put(
        "/api/v1/users/me/signature", json={"display_name": "X"}, headers={**h, "If-Match": first.headers["etag"]}
    )
    assert stale.status_code == 412


async def test_a_watchs_offer_can_be_changed_and_removed(client: AsyncTestClient[Any], admin: Caller) -> None:
    h = admin.headers
    watch = (await client.post("/api/v1/watches", json={"name": "w", "keywords": ["crm"]}, headers=h)).json()
    assert watch["offer"] is None
    changed = await client.patch(f"/api/v1/watches/{watch['id']}", json={"offer": "  our guide  "}, headers=h)
    assert changed.json()["offer"] == "our guide"
    removed = await client.patch(f"/api/v1/watches/{watch['id']}", json={"offer": None}, headers=h)
    assert removed.json()["offer"] is None


def environment(settings: Settings) -> dict[str, str]:
    return {
        "CRM_DATABASE_URL": settings.database_url,
        "CRM_REDIS_URL": settings.redis_url,
        "CRM_SECRET_KEY": settings.secret_key.get_secret_value(),
        "CRM_DATA_DIR": str(settings.data_dir),
        "CRM_LOG_LEVEL": "WARNING",
        "CRM_PRODUCT_NAME": "",
        "CRM_COMPANY_NAME": "",
    }


async def crm_outreach(settings: Settings, *args: str) -> Any:
    return await asyncio.to_thread(CliRunner().invoke, outreach, list(args), env=environment(settings))


async def test_the_profile_is_shown_and_set_from_the_command_line(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings
) -> None:
    shown = await crm_outreach(settings, "profile", "show")
    assert shown.exit_code == 0, shown.output
    assert "product: -" in shown.output and "make no product claim" in shown.output

    set_ = await crm_outreach(settings, "profile", "set", "--company", "Acme Ltd", "--product", "Acme CRM", "--json")
    assert set_.exit_code == 0, set_.output
    assert json.loads(set_.output) == {
        "company": "Acme Ltd",
        "product": "Acme CRM",
        "value_proposition": "",
        "website": "",
        "version": 1,
    }
    assert (await client.get("/api/v1/sender-profile", headers=admin.headers)).json()["product"] == "Acme CRM"
    bad = await crm_outreach(settings, "profile", "set", "--website", "ftp://x")
    assert bad.exit_code != 0 and "http(s)" in bad.output
    nothing = await crm_outreach(settings, "profile", "set")
    assert nothing.exit_code != 0 and "at least one" in nothing.output
