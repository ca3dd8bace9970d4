"""Nothing reaches "sent" without passing the policy: every route and job that can change a message's state is walked
with the policy refusing everything, and random sequences of drafts, sends, replies, opt-outs and passing time never
send a message the policy would refuse at that moment."""

from __future__ import annotations

import itertools
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import grimp
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.models import Lead, Message, Role, User
from crm.settings import Settings
from crm.worker import FUNCTIONS
from outreach.conversations import find_conversation
from outreach.policy.decide import decide
from outreach.policy.facts import Allow, Attempt
from outreach.send_policy import SERVICE_TEMPLATES
from tests.conftest import Caller, make_caller
from tests.crm.test_board import add_rep, csrf_from, sign_in
from tests.outreach.test_send_policy import draft, post, watch_with

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
# The modules that write a message's state: whatever can reach them can move a message towards "sent".
MESSAGE_WRITERS = ("outreach.conversations", "outreach.sending")

Door = Callable[["Walk"], Awaitable[Any]]


class Walk:
    """One lead with a waiting draft, and the two ways in: the API key and a signed-in board session."""

    def __init__(self, client: AsyncTestClient[Any], admin: Caller, lead: dict[str, Any], message: dict[str, Any]):
        self.client, self.admin, self.lead, self.message = client, admin, lead, message
        self.board: dict[str, str] = {}


async def api_draft(walk: Walk) -> Any:
    return await walk.client.post(f"/api/v1/leads/{walk.lead['id']}/drafts", headers=walk.admin.headers)


async def api_sent(walk: Walk) -> Any:
    return await walk.client.post(f"/api/v1/messages/{walk.message['id']}/sent", headers=walk.admin.headers)


async def board_draft(walk: Walk) -> Any:
    return await walk.client.post(f"/board/leads/{walk.lead['id']}/draft", headers=walk.board)


async def board_sent(walk: Walk) -> Any:
    return await walk.client.post(f"/board/messages/{walk.message['id']}/sent", headers=walk.board)


# Every route that can change a message, with a call that exercises it. A new one fails the walk until it is added
# here (and so proven to ask the policy) or to NOT_TOWARDS_SENT with the reason.
DOORS: dict[tuple[str, str], Door] = {
    ("POST", "/api/v1/leads/{lead_id:int}/drafts"): api_draft,
    ("POST", "/api/v1/messages/{message_id:int}/sent"): api_sent,
    ("POST", "/board/leads/{lead_id:int}/draft"): board_draft,
    ("POST", "/board/messages/{message_id:int}/sent"): board_sent,
}
NOT_TOWARDS_SENT = {
    ("POST", "/api/v1/leads/{lead_id:int}/replies"): "records what the person wrote; an opt-out only blocks drafts",
    ("POST", "/api/v1/messages/{message_id:int}/lint"): "reads a text against the message; stores nothing",
    ("PUT", "/api/v1/sender-profile"): "the company's sender profile; drafts read it, no message changes",
    ("PUT", "/api/v1/users/me/signature"): "the rep's signature; drafts read it, no message changes",
}
# Worker jobs that can reach the message writers, with a call that runs them; none exists yet.
JOBS: dict[str, Door] = {}


def reaches_message_writers(graph: grimp.ImportGraph, module: str) -> bool:
    if module not in graph.modules:
        return False  # litestar's own handlers (the OpenAPI document, static files)
    return module in MESSAGE_WRITERS or any(
        graph.find_shortest_chain(importer=module, imported=writer) is not None for writer in MESSAGE_WRITERS
    )


def message_routes(app: Any, graph: grimp.ImportGraph) -> set[tuple[str, str]]:
    """(method, path) of every mutating route under the outreach paths or served by a module that reaches the
    message writers."""
    found = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            module = handler.fn.__module__
            listed = route.path.startswith(("/api/v1/messages", "/board/messages")) or route.path.endswith(
                ("/drafts", "/draft")
            )
            for method in set(handler.http_methods) & MUTATING:
                if listed or reaches_message_writers(graph, module):
                    found.add((method, route.path))
    return found


async def snapshot(session: AsyncSession) -> list[tuple[Any, ...]]:
    await session.rollback()
    rows = await session.exec(select(Message).order_by(col(Message.id)))
    return [(m.id, m.status, m.sent_at, m.body) for m in rows]


async def test_every_route_and_job_that_changes_a_message_asks_the_policy_first(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings, session: AsyncSession
) -> None:
    graph = grimp.build_graph("crm", "scoring", "listeners", "outreach")
    routes = message_routes(client.app, graph)
    assert routes - DOORS.keys() - NOT_TOWARDS_SENT.keys() == set(), "a route changes messages without a door here"
    assert (DOORS.keys() | NOT_TOWARDS_SENT.keys()) - routes == set(), "a door here names a route that is gone"
    for job in FUNCTIONS:
        coroutine = getattr(job, "coroutine", job)
        if reaches_message_writers(graph, coroutine.__module__):
            assert coroutine.__name__ in JOBS, f"job {coroutine.__name__} can change messages without a door here"

    await add_rep(settings, "boss@example.com", Role.ADMIN)
    [lead] = await watch_with(client, admin, "walk", post("w1", "wren"))
    walk = Walk(client, admin, lead, (await draft(client, admin, lead)).json())
    walk.board = {"X-CSRFToken": csrf_from((await sign_in(client, "boss@example.com")).text), "HX-Request": "true"}
    settings.outreach_paused = True
    before = await snapshot(session)

    for key, door in [*DOORS.items(), *JOBS.items()]:
        refused = await door(walk)
        assert refused.status_code == 409, (key, refused.text)
        assert "outreach is paused" in refused.text, key
    assert await snapshot(session) == before

    # The same calls go through once the pause is lifted: the walk reached each action, not an error before it.
    settings.outreach_paused = False
    for key, door in [*DOORS.items(), *JOBS.items()]:
        # A fresh draft each time: marking a sent message sent again is answered before any rule is asked.
        walk.message = (await draft(client, admin, lead)).json()
        passed = await door(walk)
        assert passed.status_code in (200, 201), (key, passed.text)
        assert await snapshot(session) != before, key
        before = await snapshot(session)


# ------------------------------------------------------------------------------------------- random sequences

STOP = "Please stop messaging me"
# Drafts and sends weigh most: they are what the policy answers; the rest changes what it answers.
ACTION = st.one_of(
    st.tuples(
        st.sampled_from(["draft", "draft", "send", "send", "send", "reply", "opt_out", "consent"]), st.integers(0, 1)
    ),
    st.tuples(st.just("wait"), st.sampled_from([1, 6, 25, 24 * 8])),
)
KNOBS = st.fixed_dictionaries(
    {
        "daily_dm_cap_per_rep": st.sampled_from([0, 1, 2]),
        "recipient_cooldown_days": st.sampled_from([0, 1]),
        "one_first_dm_until_answered": st.booleans(),
        "marketing_requires_consent": st.booleans(),
        "quiet_now": st.booleans(),
    }
)
RUNS = itertools.count()


async def time_passes(session: AsyncSession, lead_ids: list[int], hours: int) -> None:
    """Every timestamp of these leads' messages moves back: the same as `hours` passing for the rules."""
    await session.rollback()
    shift = timedelta(hours=hours)
    for message in await session.exec(select(Message).where(col(Message.lead_id).in_(lead_ids))):
        message.created_at -= shift
        message.sent_at = message.sent_at - shift if message.sent_at else None
        message.received_at = message.received_at - shift if message.received_at else None
        session.add(message)
    await session.commit()


async def latest_draft(session: AsyncSession, lead_id: int) -> Message | None:
    await session.rollback()
    found = await session.exec(
        select(Message).where(Message.lead_id == lead_id, Message.status == "draft").order_by(col(Message.id).desc())
    )
    return found.first()


async def policy_now(session: AsyncSession, settings: Settings, attempt: dict[str, Any]) -> Any:
    await session.rollback()
    lead, author = await session.get(Lead, attempt.pop("lead_id")), await session.get(User, attempt.pop("user_id"))
    assert lead is not None and author is not None
    return await decide(session, settings, Attempt(lead=lead, author=author, **attempt))


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=st.lists(ACTION, min_size=3, max_size=14), knobs=KNOBS)
async def test_no_sequence_of_actions_sends_a_message_the_policy_refuses_at_that_moment(
    client: AsyncTestClient[Any],
    settings: Settings,
    session: AsyncSession,
    actions: list[tuple[str, int]],
    knobs: dict[str, Any],
) -> None:
    run = next(RUNS)
    now = datetime.now(UTC)
    quiet = f"{now - timedelta(hours=2):%H:%M}-{now + timedelta(hours=2):%H:%M}"
    settings.quiet_hours = quiet if knobs.pop("quiet_now") else ""
    for name, value in knobs.items():
        setattr(settings, name, value)
    rep = await make_caller(settings, f"rep{run}@example.com", Role.ADMIN)  # a fresh cap for every sequence
    # One person found by two watches: two conversations, so the cross-watch rules have something to refuse.
    leads = [(await watch_with(client, rep, f"run{run}-{w}", post(f"r{run}-{w}", f"person{run}")))[0] for w in (0, 1)]
    assert leads[0]["contact_id"] == leads[1]["contact_id"]

    for action, arg in actions:
        if action == "wait":
            await time_passes(session, [lead["id"] for lead in leads], arg)
            continue
        lead = leads[arg]
        if action == "consent":
            given = await client.post(
                f"/api/v1/contacts/{lead['contact_id']}/consents",
                json={"basis": "consent", "reason": "asked for it"},
                headers=rep.headers,
            )
            assert given.status_code == 201, given.text
        elif action in ("reply", "opt_out"):
            body = STOP if action == "opt_out" else "Sounds good, tell me more"
            answer = await client.post(f"/api/v1/leads/{lead['id']}/replies", json={"body": body}, headers=rep.headers)
            assert answer.status_code == 201, answer.text
        elif action == "draft":
            lead_row = await session.get(Lead, lead["id"])
            assert lead_row is not None
            existing = await find_conversation(session, lead_row)
            expected = await policy_now(
                session,
                settings,
                {
                    "lead_id": lead["id"],
                    "user_id": rep.user.id,
                    "stage": "draft",
                    "conversation_id": existing and existing.id,
                },
            )
            drafted = await draft(client, rep, lead)
            assert drafted.status_code == (201 if isinstance(expected, Allow) else 409), (expected, drafted.text)
        else:
            waiting = await latest_draft(session, lead["id"])
            if waiting is None:
                continue
            message_id, purpose = waiting.id, "service" if waiting.template in SERVICE_TEMPLATES else "marketing"
            about = {"conversation_id": waiting.conversation_id, "channel": waiting.channel, "purpose": purpose}
            expected = await policy_now(
                session, settings, {"lead_id": lead["id"], "user_id": rep.user.id, "stage": "send", **about}
            )
            sent = await client.post(f"/api/v1/messages/{message_id}/sent", headers=rep.headers)
            await session.rollback()
            after = await session.get(Message, message_id, populate_existing=True)
            assert after is not None
            if isinstance(expected, Allow):
                assert (sent.status_code, after.status) == (200, "sent"), sent.text
            else:
                assert sent.status_code == 409 and json.loads(sent.text)["rule"] == expected.rule, sent.text
                assert after.status == "draft"
