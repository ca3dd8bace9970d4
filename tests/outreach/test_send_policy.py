"""The send policy on the API: a rep's daily cap, the recipient cooldown across campaigns, and opt-out replies."""

from __future__ import annotations

import json
from typing import Any

from litestar.testing import AsyncTestClient

from crm.settings import Settings
from tests.conftest import Caller


def post(post_id: str, handle: str) -> str:
    # Each text differs: the same text from another author is linked as a repost, not a new lead.
    return json.dumps(
        {
            "platform": "file",
            "id": post_id,
            "text": f"Can anyone recommend a CRM that isn't Salesforce? ({handle}, {post_id})",
            "created_at": "2026-11-20T09:12:00Z",
            "url": f"https://example.org/{post_id}",
            "author": {"handle": handle, "display_name": handle.title(), "followers": 900, "dm_open": True},
        }
    )


async def watch_with(client: AsyncTestClient[Any], caller: Caller, name: str, *lines: str) -> list[dict[str, Any]]:
    """A watch fed with these posts; returns its leads."""
    h = caller.headers
    watch = (await client.post("/api/v1/watches", json={"name": name, "keywords": ["crm"]}, headers=h)).json()
    imported = await client.post(f"/api/v1/watches/{watch['id']}/mentions/import", content="\n".join(lines), headers=h)
    assert imported.status_code == 200, imported.text
    leads: list[dict[str, Any]] = (
        await client.get("/api/v1/leads", params={"watch_id": watch["id"], "sort": "id"}, headers=h)
    ).json()["items"]
    return leads


async def draft(client: AsyncTestClient[Any], caller: Caller, lead: dict[str, Any]) -> Any:
    return await client.post(f"/api/v1/leads/{lead['id']}/drafts", headers=caller.headers)


async def test_a_rep_cannot_draft_past_the_daily_cap(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings
) -> None:
    settings.daily_dm_cap_per_rep = 2
    leads = await watch_with(client, admin, "cap", post("a", "ana"), post("b", "ben"), post("c", "cy"))
    assert len(leads) == 3
    first = await draft(client, admin, leads[0])
    await client.post(f"/api/v1/messages/{first.json()['id']}/sent", headers=admin.headers)
    assert (await draft(client, admin, leads[1])).status_code == 201  # drafted but not sent still counts

    refused = await draft(client, admin, leads[2])
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "cap is 2" in refused.json()["detail"] and "CRM_DAILY_DM_CAP_PER_REP" in refused.json()["detail"]


async def test_a_cap_of_zero_means_no_cap(client: AsyncTestClient[Any], admin: Caller, settings: Settings) -> None:
    settings.daily_dm_cap_per_rep = 0
    leads = await watch_with(client, admin, "uncapped", *(post(f"p{i}", f"user{i}") for i in range(4)))
    assert [(await draft(client, admin, lead)).status_code for lead in leads] == [201] * 4


async def test_a_person_cold_messaged_in_one_campaign_is_not_messaged_from_another_until_the_cooldown_ends(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    [in_first] = await watch_with(client, admin, "first", post("x1", "dana"))
    [in_second] = await watch_with(client, admin, "second", post("x2", "dana"))
    assert in_first["contact_id"] == in_second["contact_id"]
    sent = await draft(client, admin, in_first)
    await client.post(f"/api/v1/messages/{sent.json()['id']}/sent", headers=admin.headers)

    refused = await draft(client, admin, in_second)
    assert refused.status_code == 409
    assert "unanswered DM" in refused.json()["detail"] and "CRM_RECIPIENT_COOLDOWN_DAYS" in refused.json()["detail"]
    # A follow-up in the conversation that already exists is not a second cold message.
    assert (await draft(client, admin, in_first)).status_code == 201

    await client.post(
        f"/api/v1/leads/{in_first['id']}/replies", json={"body": "Sure, tell me more"}, headers=admin.headers
    )
    assert (await draft(client, admin, in_second)).status_code == 201


async def test_an_opt_out_reply_puts_the_person_on_do_not_contact_and_blocks_pending_drafts(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings
) -> None:
    settings.recipient_cooldown_days = 0  # a second cold draft to the same person must be possible here
    settings.one_first_dm_until_answered = False
    h = admin.headers
    [lead] = await watch_with(client, admin, "first", post("y1", "eli"))
    [other] = await watch_with(client, admin, "second", post("y2", "eli"))
    first = await draft(client, admin, lead)
    await client.post(f"/api/v1/messages/{first.json()['id']}/sent", headers=h)
    pending = (await draft(client, admin, other)).json()
    consent = await client.post(
        f"/api/v1/contacts/{lead['contact_id']}/consents", json={"basis": "consent", "reason": "form"}, headers=h
    )
    assert consent.status_code == 201, consent.text

    reply = await client.post(
        f"/api/v1/leads/{lead['id']}/replies", json={"body": "Please stop messaging me"}, headers=h
    )
    assert reply.status_code == 201 and reply.json()["classification"] == "opt_out"

    privacy = (await client.get(f"/api/v1/contacts/{lead['contact_id']}/privacy", headers=h)).json()
    assert privacy["do_not_contact"] is True and privacy["consent_basis"] is None
    consents = (await client.get(f"/api/v1/contacts/{lead['contact_id']}/consents", headers=h)).json()
    assert all(c["withdrawn_at"] is not None for c in consents)
    messages = (await client.get(f"/api/v1/leads/{other['id']}/messages", headers=h)).json()
    assert [(m["id"], m["status"]) for m in messages] == [(pending["id"], "blocked")]
    assert (await draft(client, admin, other)).status_code == 409
    audit = (await client.get("/api/v1/audit", params={"action": "contact.opted_out"}, headers=h)).json()
    assert audit["items"][0]["object_id"] == str(lead["contact_id"])


async def test_every_reply_is_classified_for_the_rep(client: AsyncTestClient[Any], admin: Caller) -> None:
    [lead] = await watch_with(client, admin, "w", post("z1", "fay"))
    sent = await draft(client, admin, lead)
    await client.post(f"/api/v1/messages/{sent.json()['id']}/sent", headers=admin.headers)
    kinds = []
    for i, body in enumerate(["How much is it per seat?", "No thanks", "Sounds good, let's book a call"]):
        reply = await client.post(
            f"/api/v1/leads/{lead['id']}/replies", json={"body": body, "external_id": f"r{i}"}, headers=admin.headers
        )
        kinds.append(reply.json()["classification"])
    assert kinds == ["question", "not_interested", "interested"]
