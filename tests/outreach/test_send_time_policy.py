"""The send policy is asked again when a draft is marked sent, on the API and on the board: a person may opt out,
be erased or suppressed, or be messaged from another campaign between the draft and the send, and the rep's daily
cap counts what actually went out."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.contacts.privacy import suppress
from crm.models import Message, Role
from crm.settings import Settings
from tests.conftest import Caller
from tests.crm.test_board import add_rep, csrf_from, sign_in
from tests.outreach.test_send_policy import draft, post, watch_with


async def mark_sent(client: AsyncTestClient[Any], caller: Caller, message: dict[str, Any]) -> Any:
    return await client.post(f"/api/v1/messages/{message['id']}/sent", headers=caller.headers)


async def status_of(session: AsyncSession, message: dict[str, Any]) -> str:
    found = await session.get(Message, message["id"], populate_existing=True)
    assert found is not None
    return found.status


async def test_a_draft_to_someone_put_on_do_not_contact_since_cannot_be_marked_sent(
    client: AsyncTestClient[Any], admin: Caller, session: AsyncSession
) -> None:
    [lead] = await watch_with(client, admin, "dnc", post("d1", "dora"))
    drafted = (await draft(client, admin, lead)).json()
    flagged = await client.put(
        f"/api/v1/contacts/{lead['contact_id']}/privacy",
        json={"do_not_contact": True, "reason": "asked by e-mail"},
        headers=admin.headers,
    )
    assert flagged.status_code == 200, flagged.text

    refused = await mark_sent(client, admin, drafted)

    assert refused.status_code == 409 and refused.headers["content-type"].startswith("application/problem+json")
    assert "do-not-contact" in refused.json()["detail"]
    assert await status_of(session, drafted) == "draft"


async def test_a_draft_to_a_suppressed_person_cannot_be_marked_sent_or_drafted(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings, session: AsyncSession
) -> None:
    [lead] = await watch_with(client, admin, "suppressed", post("s1", "sam"))
    drafted = (await draft(client, admin, lead)).json()
    # The same person was erased under another record: only the hashed handle is left to recognise them by.
    await suppress(session, settings, "handle", "file:sam", "erased contact 999")
    await session.commit()

    refused = await mark_sent(client, admin, drafted)
    assert refused.status_code == 409
    assert "suppression list" in refused.json()["detail"] and refused.json()["suppressed"] == "handle"
    assert (await draft(client, admin, lead)).status_code == 409


async def test_the_second_of_two_cold_drafts_to_one_person_cannot_be_sent_within_the_cooldown(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    [in_first] = await watch_with(client, admin, "first", post("k1", "kim"))
    [in_second] = await watch_with(client, admin, "second", post("k2", "kim"))
    # Nothing was sent yet, so both drafts are allowed...
    first, second = (await draft(client, admin, in_first)).json(), (await draft(client, admin, in_second)).json()
    assert (await mark_sent(client, admin, first)).status_code == 200

    refused = await mark_sent(client, admin, second)  # ...but only one of them may go out

    assert refused.status_code == 409
    assert "unanswered DM" in refused.json()["detail"] and "CRM_RECIPIENT_COOLDOWN_DAYS" in refused.json()["detail"]


async def test_a_rep_cannot_send_more_than_the_daily_cap_even_from_drafts_written_before_it(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings
) -> None:
    settings.daily_dm_cap_per_rep = 0
    leads = await watch_with(client, admin, "capped", *(post(f"q{i}", f"quinn{i}") for i in range(3)))
    drafts = [(await draft(client, admin, lead)).json() for lead in leads]
    settings.daily_dm_cap_per_rep = 2

    assert [(await mark_sent(client, admin, d)).status_code for d in drafts[:2]] == [200, 200]
    refused = await mark_sent(client, admin, drafts[2])

    assert refused.status_code == 409
    assert "sent 2 DMs" in refused.json()["detail"] and "CRM_DAILY_DM_CAP_PER_REP" in refused.json()["detail"]


async def test_the_drafts_the_cap_allowed_can_all_be_sent(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings
) -> None:
    settings.daily_dm_cap_per_rep = 2
    leads = await watch_with(client, admin, "within", post("r1", "rae"), post("r2", "rory"))
    drafts = [(await draft(client, admin, lead)).json() for lead in leads]
    assert [(await mark_sent(client, admin, d)).status_code for d in drafts] == [200, 200]


async def test_the_board_asks_the_same_send_policy_when_a_draft_is_marked_sent(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings, session: AsyncSession
) -> None:
    await add_rep(settings, "boss@example.com", Role.ADMIN)
    [lead] = await watch_with(client, admin, "board", post("b1", "bea"))
    drafted = (await draft(client, admin, lead)).json()
    flagged = await client.put(
        f"/api/v1/contacts/{lead['contact_id']}/privacy",
        json={"do_not_contact": True, "reason": "asked on the phone"},
        headers=admin.headers,
    )
    assert flagged.status_code == 200, flagged.text
    signed_in = await sign_in(client, "boss@example.com")
    headers = {"X-CSRFToken": csrf_from(signed_in.text), "HX-Request": "true"}

    refused = await client.post(f"/board/messages/{drafted['id']}/sent", headers=headers)

    assert refused.status_code == 409, refused.text
    assert "do-not-contact" in refused.text
    assert await status_of(session, drafted) == "draft"
