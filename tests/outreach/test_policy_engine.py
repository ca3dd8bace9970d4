"""Each rule of the outreach policy, through the API on a real app: the refusal (a 409 problem naming the rule and
the setting, audited, in plain words on the board) and the case it lets through."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.contacts.privacy import suppress
from crm.errors import OutreachBlocked
from crm.models import AuditEvent, Channel, Lead, Message, PlatformAccount, Role, User
from crm.settings import Settings
from outreach.policy.decide import decide
from outreach.policy.facts import Allow, Attempt, Deny
from outreach.send_policy import ensure_may_send
from tests.conftest import Caller
from tests.crm.test_board import add_rep, csrf_from, sign_in
from tests.outreach.test_send_policy import draft, post, watch_with


def post_on(platform: str, post_id: str, handle: str, *, dm_open: bool = False) -> str:
    return json.dumps(
        {
            "platform": platform,
            "id": post_id,
            "text": f"Can anyone recommend a CRM that isn't Salesforce? ({handle}, {post_id})",
            "created_at": "2026-11-20T09:12:00Z",
            "url": f"https://example.org/{platform}/{post_id}",
            "author": {"handle": handle, "display_name": handle.title(), "followers": 900, "dm_open": dm_open},
        }
    )


async def mark_sent(client: AsyncTestClient[Any], caller: Caller, message: dict[str, Any]) -> Any:
    return await client.post(f"/api/v1/messages/{message['id']}/sent", headers=caller.headers)


async def reply(client: AsyncTestClient[Any], caller: Caller, lead: dict[str, Any], body: str = "Tell me more") -> Any:
    answer = await client.post(f"/api/v1/leads/{lead['id']}/replies", json={"body": body}, headers=caller.headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


def assert_refused(response: Any, rule: str, setting: str) -> dict[str, Any]:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert (problem["rule"], problem["setting"]) == (rule, setting)
    return problem


async def account_of(session: AsyncSession, lead: dict[str, Any]) -> PlatformAccount:
    found = (
        await session.exec(
            select(PlatformAccount)
            .where(PlatformAccount.contact_id == lead["contact_id"])
            .execution_options(populate_existing=True)
        )
    ).first()
    assert found is not None
    return found


async def set_profile(session: AsyncSession, lead: dict[str, Any], **fields: Any) -> None:
    account = await account_of(session, lead)
    account.profile = {**account.profile, **fields}
    session.add(account)
    await session.commit()


async def change_message(session: AsyncSession, message_id: int, **values: Any) -> None:
    message = await session.get(Message, message_id, populate_existing=True)
    assert message is not None
    for name, value in values.items():
        setattr(message, name, value)
    session.add(message)
    await session.commit()


async def refusals(session: AsyncSession, rule: str) -> list[AuditEvent]:
    rows = await session.exec(select(AuditEvent).where(AuditEvent.action == "outreach.refused"))
    return [row for row in rows if row.detail.get("rule") == rule]


async def test_a_paused_workspace_refuses_drafts_and_sends_and_audits_each_refusal(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings, session: AsyncSession
) -> None:
    [lead] = await watch_with(client, admin, "pause", post("p1", "pia"))
    drafted = (await draft(client, admin, lead)).json()
    settings.outreach_paused = True

    problem = assert_refused(await mark_sent(client, admin, drafted), "outreach_paused", "CRM_OUTREACH_PAUSED")
    assert problem["stage"] == "send" and "paused" in problem["detail"]
    assert_refused(await draft(client, admin, lead), "outreach_paused", "CRM_OUTREACH_PAUSED")
    audited = await refusals(session, "outreach_paused")
    assert [e.detail["stage"] for e in audited] == ["send", "draft"]
    assert audited[0].object_id == str(lead["id"]) and audited[0].actor == admin.user.email

    settings.outreach_paused = False
    assert (await mark_sent(client, admin, drafted)).status_code == 200


async def test_a_person_on_do_not_contact_is_refused_by_name_and_others_are_not(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    [flagged, free] = await watch_with(client, admin, "dnc", post("n1", "nina"), post("n2", "noor"))
    await client.put(
        f"/api/v1/contacts/{flagged['contact_id']}/privacy",
        json={"do_not_contact": True, "reason": "asked"},
        headers=admin.headers,
    )
    problem = assert_refused(
        await draft(client, admin, flagged),
        "do_not_contact",
        "the contact's do-not-contact flag (PUT /api/v1/contacts/{id}/privacy)",
    )
    assert "do-not-contact list" in problem["detail"]
    assert (await draft(client, admin, free)).status_code == 201


async def test_a_suppressed_person_is_refused_and_an_unsuppressed_one_is_not(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings, session: AsyncSession
) -> None:
    [hidden, free] = await watch_with(client, admin, "sup", post("u1", "uma"), post("u2", "ugo"))
    await suppress(session, settings, "handle", "file:uma", "erased elsewhere")
    await session.commit()
    problem = assert_refused(
        await draft(client, admin, hidden), "suppressed", "the suppression list (erasure and opt-outs)"
    )
    assert problem["suppressed"] == "handle"
    assert (await draft(client, admin, free)).status_code == 201


async def test_marketing_needs_a_live_consent_record_only_where_the_workspace_requires_it(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings
) -> None:
    [lead] = await watch_with(client, admin, "consent", post("c1", "cleo"))
    assert (await draft(client, admin, lead)).status_code == 201  # off by default
    settings.marketing_requires_consent = True

    problem = assert_refused(await draft(client, admin, lead), "marketing_consent", "CRM_MARKETING_REQUIRES_CONSENT")
    assert "no live consent record" in problem["detail"]
    # A lawful basis that is not agreement does not make marketing allowed.
    await client.post(
        f"/api/v1/contacts/{lead['contact_id']}/consents",
        json={"basis": "legitimate_interest", "reason": "b2b"},
        headers=admin.headers,
    )
    assert (await draft(client, admin, lead)).status_code == 409
    given = await client.post(
        f"/api/v1/contacts/{lead['contact_id']}/consents",
        json={"basis": "consent", "reason": "signed up at the booth"},
        headers=admin.headers,
    )
    assert given.status_code == 201, given.text
    assert (await draft(client, admin, lead)).status_code == 201


async def test_a_service_message_after_a_support_case_needs_no_marketing_consent(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings, session: AsyncSession
) -> None:
    [lead] = await watch_with(client, admin, "support", post("s1", "sol"))
    drafted = (await draft(client, admin, lead)).json()
    settings.marketing_requires_consent = True
    assert_refused(await mark_sent(client, admin, drafted), "marketing_consent", "CRM_MARKETING_REQUIRES_CONSENT")

    await change_message(session, drafted["id"], template="after_support_case")
    assert (await mark_sent(client, admin, drafted)).status_code == 200


async def test_on_x_a_first_dm_needs_a_follower_open_dms_or_a_message_from_them(
    client: AsyncTestClient[Any], admin: Caller, session: AsyncSession
) -> None:
    closed, opened, follower, writer = await watch_with(
        client,
        admin,
        "x",
        post_on("x", "x1", "xena"),
        post_on("x", "x2", "xavi", dm_open=True),
        post_on("x", "x3", "xiu"),
        post_on("x", "x4", "xan"),
    )
    problem = assert_refused(await draft(client, admin, closed), "platform.x_first_contact", "CRM_PLATFORM_DM_RULES")
    assert "follow you" in problem["detail"] and "public reply" in problem["detail"]
    assert problem["public_reply_allowed"] is True

    assert (await draft(client, admin, opened)).status_code == 201
    await set_profile(session, follower, follows_us=True)
    assert (await draft(client, admin, follower)).status_code == 201
    assert (await draft(client, admin, writer)).status_code == 409
    await reply(client, admin, writer, "Hi, I saw your product")
    assert (await draft(client, admin, writer)).status_code == 201


async def test_where_a_platform_forbids_the_dm_a_public_reply_is_still_allowed(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings, session: AsyncSession
) -> None:
    [lead] = await watch_with(client, admin, "public", post_on("x", "x9", "xyla"))
    row, author = await session.get(Lead, lead["id"]), await session.get(User, admin.user.id)
    assert row is not None and author is not None

    as_dm = await decide(session, settings, Attempt(lead=row, author=author, stage="draft"))
    public = Attempt(lead=row, author=author, stage="send", channel=Channel.PUBLIC_REPLY.value)
    assert isinstance(as_dm, Deny) and as_dm.rule == "platform.x_first_contact"
    assert isinstance(await decide(session, settings, public), Allow)


async def test_hacker_news_has_no_dms_and_a_closed_bluesky_chat_opens_when_they_write(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    hn, closed, opened = await watch_with(
        client,
        admin,
        "nodm",
        post_on("hackernews", "h1", "hana"),
        post_on("bluesky", "b1", "bo.bsky.social"),
        post_on("bluesky", "b2", "bea.bsky.social", dm_open=True),
    )
    problem = assert_refused(await draft(client, admin, hn), "platform.no_dms", "CRM_PLATFORM_DM_RULES")
    assert "Hacker News has no private messages" in problem["detail"]
    assert_refused(await draft(client, admin, closed), "platform.dms_closed", "CRM_PLATFORM_DM_RULES")
    assert (await draft(client, admin, opened)).status_code == 201
    await reply(client, admin, closed)
    assert (await draft(client, admin, closed)).status_code == 201


async def test_platform_rules_can_be_turned_off_for_a_sandbox(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings
) -> None:
    [lead] = await watch_with(client, admin, "sandbox", post_on("hackernews", "h2", "hal"))
    assert (await draft(client, admin, lead)).status_code == 409
    settings.platform_dm_rules = False
    assert (await draft(client, admin, lead)).status_code == 201


async def test_on_meta_platforms_a_dm_goes_only_inside_the_window_after_their_last_message(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings, session: AsyncSession
) -> None:
    [lead] = await watch_with(client, admin, "meta", post("m1", "mia"))
    row = await session.get(Lead, lead["id"])
    assert row is not None
    row.platform = "instagram"  # no Meta connector yet: the lead is moved onto the platform the rule is about
    session.add(row)
    await session.commit()

    problem = assert_refused(await draft(client, admin, lead), "platform.meta_window", "CRM_META_MESSAGE_WINDOW_HOURS")
    assert "never written" in problem["detail"]
    inbound = await reply(client, admin, lead, "Do you have a free plan?")
    assert (await draft(client, admin, lead)).status_code == 201

    await change_message(session, inbound["id"], received_at=datetime.now(UTC) - timedelta(hours=25))
    assert (
        "last wrote"
        in assert_refused(await draft(client, admin, lead), "platform.meta_window", "CRM_META_MESSAGE_WINDOW_HOURS")[
            "detail"
        ]
    )


async def test_linkedin_refuses_automated_sends_and_allows_the_rep_sending_by_hand(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings, session: AsyncSession
) -> None:
    [lead] = await watch_with(client, admin, "li", post("l1", "lars"))
    row, author = await session.get(Lead, lead["id"]), await session.get(User, admin.user.id)
    assert row is not None and author is not None
    row.platform = "linkedin"  # no LinkedIn connector: the rule waits for one, so it is asked directly
    session.add(row)
    await session.commit()

    automated = await decide(session, settings, Attempt(lead=row, author=author, stage="send", automated=True))
    assert isinstance(automated, Deny) and automated.rule == "platform.linkedin_manual_only"
    assert "send this one yourself" in automated.explanation
    assert isinstance(await decide(session, settings, Attempt(lead=row, author=author, stage="send")), Allow)
    drafted = (await draft(client, admin, lead)).json()
    assert (await mark_sent(client, admin, drafted)).status_code == 200


async def test_the_daily_cap_and_the_cooldown_name_their_rule_and_setting(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings
) -> None:
    settings.daily_dm_cap_per_rep = 1
    [first, other, capped] = await watch_with(
        client, admin, "a", post("v1", "val"), post("v2", "vic"), post("v3", "vo")
    )
    [again] = await watch_with(client, admin, "b", post("v4", "val"))
    sent = (await draft(client, admin, first)).json()
    assert (await mark_sent(client, admin, sent)).status_code == 200
    assert_refused(await draft(client, admin, capped), "daily_cap", "CRM_DAILY_DM_CAP_PER_REP")
    settings.daily_dm_cap_per_rep = 0
    problem = assert_refused(await draft(client, admin, again), "recipient_cooldown", "CRM_RECIPIENT_COOLDOWN_DAYS")
    assert datetime.fromisoformat(problem["next_allowed_at"]) > datetime.now(UTC) + timedelta(days=6)
    assert (await draft(client, admin, other)).status_code == 201


async def test_one_unanswered_cold_dm_per_person_holds_after_the_cooldown_until_they_answer(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings, session: AsyncSession
) -> None:
    settings.one_first_dm_until_answered = True
    [first] = await watch_with(client, admin, "one", post("f1", "finn"))
    [second] = await watch_with(client, admin, "two", post("f2", "finn"))
    sent = (await draft(client, admin, first)).json()
    assert (await mark_sent(client, admin, sent)).status_code == 200
    # Ten days pass: the cooldown is over, the first DM is still unanswered.
    await change_message(session, sent["id"], sent_at=datetime.now(UTC) - timedelta(days=10))

    problem = assert_refused(await draft(client, admin, second), "one_first_dm", "CRM_ONE_FIRST_DM_UNTIL_ANSWERED")
    assert "has not answered" in problem["detail"]
    assert (await draft(client, admin, first)).status_code == 201  # following up where they were messaged
    await reply(client, admin, first, "Sorry, missed this. Tell me more")
    assert (await draft(client, admin, second)).status_code == 201


async def test_a_send_inside_the_recipients_quiet_hours_waits_and_says_until_when(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings, session: AsyncSession
) -> None:
    now = datetime.now(UTC)
    settings.quiet_hours = f"{now - timedelta(hours=1):%H:%M}-{now + timedelta(hours=1):%H:%M}"  # now, in UTC
    [lead, travelling] = await watch_with(client, admin, "quiet", post("q1", "quin"), post("q2", "qiu"))
    drafted = (await draft(client, admin, lead)).json()  # drafting at any hour is fine

    problem = assert_refused(await mark_sent(client, admin, drafted), "quiet_hours", "CRM_QUIET_HOURS")
    resume = datetime.fromisoformat(problem["next_allowed_at"])
    assert now + timedelta(minutes=58) <= resume <= now + timedelta(hours=1, minutes=1)
    assert "next allowed time" in problem["detail"] and "CRM_WORKSPACE_TIME_ZONE" in problem["detail"]

    # Kathmandu is 5:45 ahead: outside the window there, so their profile's zone lets the send through.
    await set_profile(session, travelling, time_zone="Asia/Kathmandu")
    assert (await mark_sent(client, admin, (await draft(client, admin, travelling)).json())).status_code == 200
    settings.workspace_time_zone = "Asia/Kathmandu"
    assert (await mark_sent(client, admin, drafted)).status_code == 200


async def test_the_board_shows_the_refusal_in_plain_words(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings, session: AsyncSession
) -> None:
    await add_rep(settings, "boss@example.com", Role.ADMIN)
    [lead] = await watch_with(client, admin, "board", post_on("hackernews", "h3", "hugo"))
    signed_in = await sign_in(client, "boss@example.com")
    headers = {"X-CSRFToken": csrf_from(signed_in.text), "HX-Request": "true"}

    refused = await client.post(f"/board/leads/{lead['id']}/draft", headers=headers)

    assert refused.status_code == 409, refused.text
    assert "Hacker News has no private messages" in refused.text and "public reply" in refused.text
    assert [e.detail["stage"] for e in await refusals(session, "platform.no_dms")] == ["draft"]


async def test_approving_a_draft_the_cap_allowed_is_not_refused_by_the_cap_it_already_counts_in(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings, session: AsyncSession
) -> None:
    settings.daily_dm_cap_per_rep = 1
    [lead] = await watch_with(client, admin, "approve", post("a1", "abe"))
    drafted = (await draft(client, admin, lead)).json()
    row, author = await session.get(Lead, lead["id"]), await session.get(User, admin.user.id)
    assert row is not None and author is not None
    attempt = {"lead": row, "author": author, "conversation_id": drafted["conversation_id"]}

    assert isinstance(await decide(session, settings, Attempt(stage="approve", **attempt)), Allow)
    another = await decide(session, settings, Attempt(stage="draft", **attempt))
    assert isinstance(another, Deny) and another.rule == "daily_cap"
    settings.outreach_paused = True
    with pytest.raises(OutreachBlocked) as refused:
        await ensure_may_send(
            session, settings, row, author, conversation_id=drafted["conversation_id"], stage="approve"
        )
    assert refused.value.extra["stage"] == "approve" and refused.value.status == 409
