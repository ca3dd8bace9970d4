"""The manual channel: a rep sends the draft by hand and marks it sent; the mark is recorded once, and only an
outbound message that has not gone out can be marked."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from outreach.channels.base import ChannelAdapter, ChannelLimits
from outreach.channels.manual import ManualChannel
from tests.conftest import Caller
from tests.outreach.test_send_policy import draft, post, watch_with


def test_the_manual_channel_offers_what_every_channel_adapter_must() -> None:
    channel = ManualChannel("mastodon")
    assert isinstance(channel, ChannelAdapter)
    assert channel.platform == "mastodon" and channel.limits == ChannelLimits(max_chars=500)
    assert ManualChannel("bluesky").limits.max_chars == 1_000
    assert ManualChannel("file").limits.max_chars == 10_000  # no known limit: X's, the most generous
    # The rep marks a send they already made, so a failure afterwards never means the person lacks the text.
    assert channel.may_have_sent(TimeoutError()) is True


async def test_a_rep_marking_a_draft_sent_twice_records_one_send_with_the_pasted_id(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    h = admin.headers
    [lead] = await watch_with(client, admin, "manual", post("m1", "mia"))
    drafted = (await draft(client, admin, lead)).json()

    first = await client.post(f"/api/v1/messages/{drafted['id']}/sent", json={"external_id": "dm-42"}, headers=h)
    again = await client.post(f"/api/v1/messages/{drafted['id']}/sent", headers=h)

    assert first.status_code == again.status_code == 200
    assert first.json()["status"] == "sent" and first.json()["external_id"] == "dm-42"
    assert again.json()["sent_at"] == first.json()["sent_at"]
    audit = (await client.get("/api/v1/audit", params={"action": "message.sent"}, headers=h)).json()
    assert [item["object_id"] for item in audit["items"]] == [str(drafted["id"])]
    moved = (await client.get(f"/api/v1/leads/{lead['id']}", headers=h)).json()
    assert moved["stage"] == "contacted"


async def test_a_reply_and_a_blocked_draft_cannot_be_marked_sent(client: AsyncTestClient[Any], admin: Caller) -> None:
    h = admin.headers
    [lead] = await watch_with(client, admin, "refusals", post("n1", "noa"))
    sent = (await draft(client, admin, lead)).json()
    await client.post(f"/api/v1/messages/{sent['id']}/sent", headers=h)
    pending = (await draft(client, admin, lead)).json()
    reply = (await client.post(f"/api/v1/leads/{lead['id']}/replies", json={"body": "unsubscribe"}, headers=h)).json()

    inbound = await client.post(f"/api/v1/messages/{reply['id']}/sent", headers=h)
    blocked = await client.post(f"/api/v1/messages/{pending['id']}/sent", headers=h)

    assert inbound.status_code == 409 and "only outbound" in inbound.json()["detail"]
    assert blocked.status_code == 409 and "a blocked message cannot be marked sent" in blocked.json()["detail"]
