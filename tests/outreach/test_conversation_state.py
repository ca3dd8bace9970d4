"""The response clock and the end of a conversation: a reply starts the clock, our answer stops it, and an opt-out
ends the conversation (no answer owed, the lead closed where the pipeline allows it, every draft blocked)."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from crm.settings import Settings
from tests.conftest import Caller
from tests.listeners.builders import campaign_on_pipeline
from tests.outreach.test_send_policy import draft, post, watch_with


async def lead_now(client: AsyncTestClient[Any], caller: Caller, lead: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = (await client.get(f"/api/v1/leads/{lead['id']}", headers=caller.headers)).json()
    return found


async def send(client: AsyncTestClient[Any], caller: Caller, lead: dict[str, Any]) -> Any:
    drafted = await draft(client, caller, lead)
    assert drafted.status_code == 201, drafted.text
    sent = await client.post(f"/api/v1/messages/{drafted.json()['id']}/sent", headers=caller.headers)
    assert sent.status_code == 200, sent.text
    return sent.json()


async def reply(client: AsyncTestClient[Any], caller: Caller, lead: dict[str, Any], body: str) -> Any:
    answer = await client.post(f"/api/v1/leads/{lead['id']}/replies", json={"body": body}, headers=caller.headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def test_an_opt_out_reply_closes_the_lead_as_lost_with_no_answer_owed(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings
) -> None:
    settings.recipient_cooldown_days = 0  # a second cold draft to the same person must be possible here
    settings.one_first_dm_until_answered = False
    [lead] = await watch_with(client, admin, "first", post("o1", "omar"))
    [other] = await watch_with(client, admin, "second", post("o2", "omar"))
    await send(client, admin, lead)
    pending = (await draft(client, admin, other)).json()

    assert (await reply(client, admin, lead, "Please stop messaging me"))["classification"] == "opt_out"

    closed = await lead_now(client, admin, lead)
    assert closed["stage"] == "lost" and closed["response_due_at"] is None
    changes = (await client.get(f"/api/v1/leads/{lead['id']}/stage-changes", headers=admin.headers)).json()
    assert changes[-1]["to_stage"] == "lost" and "opted out" in changes[-1]["reason"]
    privacy = (await client.get(f"/api/v1/contacts/{lead['contact_id']}/privacy", headers=admin.headers)).json()
    assert privacy["do_not_contact"] is True
    blocked = (await client.get(f"/api/v1/leads/{other['id']}/messages", headers=admin.headers)).json()
    assert [(m["id"], m["status"]) for m in blocked] == [(pending["id"], "blocked")]
    assert (await draft(client, admin, lead)).status_code == 409
    assert (await draft(client, admin, other)).status_code == 409


async def test_an_opt_out_in_a_pipeline_without_a_lost_stage_keeps_the_stage_and_clears_the_deadline(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    h = admin.headers
    stages = [{"key": "inbox", "name": "Inbox"}, {"key": "talking", "name": "Talking"}, {"key": "won", "name": "Won"}]
    stages[2]["kind"] = "won"
    _, campaign = await campaign_on_pipeline(client, admin, "partners", stages)
    imported = await client.post(
        f"/api/v1/watches/{campaign['id']}/mentions/import", content=post("p1", "pia"), headers=h
    )
    assert imported.status_code == 200, imported.text
    [lead] = (await client.get("/api/v1/leads", params={"watch_id": campaign["id"]}, headers=h)).json()["items"]
    await send(client, admin, lead)
    await reply(client, admin, lead, "How much does it cost?")
    assert (await lead_now(client, admin, lead))["response_due_at"] is not None  # an answer is owed

    await reply(client, admin, lead, "Actually, stop messaging me")

    after = await lead_now(client, admin, lead)
    assert after["stage"] == "inbox" and after["response_due_at"] is None


async def test_an_opt_out_on_a_lead_already_won_leaves_it_won(client: AsyncTestClient[Any], admin: Caller) -> None:
    [lead] = await watch_with(client, admin, "w", post("w1", "wes"))
    await send(client, admin, lead)
    moved = await client.post(f"/api/v1/leads/{lead['id']}/stage", json={"to_stage": "won"}, headers=admin.headers)
    assert moved.status_code == 200, moved.text

    await reply(client, admin, lead, "unsubscribe")

    after = await lead_now(client, admin, lead)
    assert after["stage"] == "won" and after["response_due_at"] is None


async def test_our_answer_after_a_reply_stops_the_response_clock(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings
) -> None:
    [lead] = await watch_with(client, admin, "clock", post("c1", "cleo"))
    await send(client, admin, lead)
    assert (await lead_now(client, admin, lead))["response_due_at"] is None  # nothing owed before they answer

    await reply(client, admin, lead, "How does it compare on price?")
    replied = await lead_now(client, admin, lead)
    assert replied["stage"] == "replied" and replied["response_due_at"] is not None

    await send(client, admin, lead)
    answered = await lead_now(client, admin, lead)
    assert answered["stage"] == "replied" and answered["response_due_at"] is None

    await reply(client, admin, lead, "Thanks, and is there an API?")
    assert (await lead_now(client, admin, lead))["response_due_at"] is not None  # their next message restarts it
