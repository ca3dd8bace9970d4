"""The board obeys the API's access rules: every board/HTML route, for every role and every kind of lead (the
caller's own, a teammate's, another team's, an unassigned one), answers what the equivalent API call answers, and
the board lists exactly the leads the API lists for that user.

The routes come from the app's route table, so a new HTML route without an entry here fails the test.
"""

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from crm.access.auth import create_api_key, create_user
from crm.app import create_app
from crm.db import make_sessionmaker, session_scope
from crm.leads.opening import open_lead
from crm.models import Contact, Lead, Message, Role, Team, User
from crm.pipeline import default_pipeline
from crm.settings import Settings
from outreach.drafts import create_draft

PASSWORD = "matrix-test-password"
ROLES = (Role.ADMIN, Role.MARKETER, Role.SALES_REP, Role.READ_ONLY)
KINDS = ("own", "teammate", "other team", "unassigned")
# Everything outside these prefixes is a page or a board action (an HTML route).
NOT_HTML = ("/api/", "/auth/", "/health", "/ready", "/schema", "/static/")


@dataclass(frozen=True)
class LeadRoute:
    """A board route about one lead (or one of its messages) and the API call that does the same."""

    board: str  # path template: {lead} or {message}
    api: tuple[str, str]
    form: dict[str, str] | None = None
    body: dict[str, Any] | None = None
    needs_draft: bool = False


LEAD_ROUTES: dict[tuple[str, str], LeadRoute] = {
    ("GET", "/board/leads/{lead_id:int}"): LeadRoute("/board/leads/{lead}", ("GET", "/api/v1/leads/{lead}")),
    ("POST", "/board/leads/{lead_id:int}/stage"): LeadRoute(
        "/board/leads/{lead}/stage",
        ("POST", "/api/v1/leads/{lead}/stage"),
        form={"to_stage": "contacted"},
        body={"to_stage": "contacted"},
    ),
    ("POST", "/board/leads/{lead_id:int}/draft"): LeadRoute(
        "/board/leads/{lead}/draft", ("POST", "/api/v1/leads/{lead}/drafts")
    ),
    ("POST", "/board/messages/{message_id:int}/sent"): LeadRoute(
        "/board/messages/{message}/sent", ("POST", "/api/v1/messages/{message}/sent"), needs_draft=True
    ),
}
# Routes about no one lead, and the test that holds each to the API's rules.
OTHER_ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/"): "a redirect to /board",
    ("GET", "/login"): "the sign-in form (tests/crm/test_login.py)",
    ("POST", "/login"): "throttled and audited like POST /auth/login (tests/crm/test_login.py)",
    ("POST", "/logout"): "ends the browser session",
    ("GET", "/board"): "test_the_board_shows_exactly_the_leads_the_api_lists_for_each_role",
}


def html_routes(app: Litestar) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        if route.path.startswith(NOT_HTML):
            continue
        for handler in getattr(route, "route_handlers", []):
            found |= {(method, route.path) for method in handler.http_methods if method not in ("OPTIONS", "HEAD")}
    return found


@dataclass
class Member:
    user: User
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass
class Twins:
    """Two leads in the same state and with the same owner: one for the board call, one for the API call."""

    board: int
    api: int
    board_message: int | None = None
    api_message: int | None = None


@dataclass
class World:
    callers: dict[Role, Member]
    teammate: Member
    other_rep: Member
    # (role, kind, route) -> the twin leads for that call
    twins: dict[tuple[Role, str, tuple[str, str]], Twins] = field(default_factory=dict)
    all_leads: list[int] = field(default_factory=list)


async def add_member(session: Any, settings: Settings, email: str, role: Role, team_id: int | None) -> Member:
    user = await create_user(session, email, role=role, name=email.split("@")[0], password=PASSWORD, team_id=team_id)
    key = await create_api_key(session, settings, user, "matrix")
    return Member(user, key.plaintext)


async def build_world(engine: AsyncEngine, settings: Settings, routes: list[tuple[str, str]]) -> World:
    """Users of every role in team A, a teammate rep in team A and a rep of team B; for each role x kind x route a
    pair of twin leads (each with a contact of its own, so no DM cooldown links them), drafts where a route needs one.
    """
    async with session_scope(make_sessionmaker(engine)) as session:
        team_a, team_b = Team(name="Team A"), Team(name="Team B")
        session.add_all([team_a, team_b])
        await session.flush()
        callers = {
            role: await add_member(session, settings, f"{role.value}@example.com", role, team_a.id) for role in ROLES
        }
        teammate = await add_member(session, settings, "teammate@example.com", Role.SALES_REP, team_a.id)
        other_rep = await add_member(session, settings, "other@example.com", Role.SALES_REP, team_b.id)
        world = World(callers, teammate, other_rep)
        pipeline = await default_pipeline(session)
        drafter = callers[Role.ADMIN].user
        scores = (90.0, 61.0, 60.0, 59.5, 12.0, None)
        for role, caller in callers.items():
            owners = {
                "own": caller.user.id,
                "teammate": teammate.user.id,
                "other team": other_rep.user.id,
                "unassigned": None,
            }
            for kind, owner_id in owners.items():
                for route in routes:
                    ids: list[int] = []
                    messages: list[int] = []
                    for twin in ("board", "api"):
                        contact = Contact(display_name=f"{role.value} {kind} {route[1]} {twin}")
                        session.add(contact)
                        await session.flush()
                        assert contact.id is not None and pipeline.id is not None
                        lead = await open_lead(
                            session,
                            contact.id,
                            None,
                            pipeline_id=pipeline.id,
                            owner_id=owner_id,
                            platform="x",
                            actor="matrix setup",
                        )
                        lead.score = scores[len(world.all_leads) % len(scores)]
                        session.add(lead)
                        await session.flush()
                        assert lead.id is not None
                        ids.append(lead.id)
                        world.all_leads.append(lead.id)
                        if LEAD_ROUTES[route].needs_draft:
                            message = (await create_draft(session, uncapped(settings), lead, drafter)).message
                            assert message.id is not None
                            messages.append(message.id)
                    world.twins[role, kind, route] = Twins(*ids, *(messages or [None, None]))
    return world


def uncapped(settings: Settings) -> Settings:
    # Drafts for dozens of X leads by one admin, made as setup: the daily cap and X's first-contact rule are not
    # what these tests are about (the routes under test still ask the policy with the app's settings).
    return settings.model_copy(update={"daily_dm_cap_per_rep": 0, "platform_dm_rules": False})


@pytest.fixture
async def matrix_client(settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(app=create_app(uncapped(settings))) as client:
        yield client


def csrf_from(html: str) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


async def sign_in(client: AsyncTestClient[Any], member: Member) -> dict[str, str]:
    """Signs in on the board's form; returns the headers htmx sends with each board action."""
    token = csrf_from((await client.get("/login")).text)
    response = await client.post(
        "/login", data={"email": member.user.email, "password": PASSWORD, "_csrf_token": token}
    )
    assert response.status_code == 200 and "/board" in str(response.url), response.text
    return {"X-CSRFToken": token, "HX-Request": "true"}


async def state_of(engine: AsyncEngine, lead_id: int) -> tuple[Any, ...]:
    """What a call may change on a lead: its stage and owner, and its messages' statuses."""
    async with make_sessionmaker(engine)() as session:
        lead = await session.get(Lead, lead_id)
        assert lead is not None
        statuses = (await session.exec(select(Message.status).where(Message.lead_id == lead_id))).all()
        return lead.stage, lead.owner_id, tuple(sorted(statuses)), lead.deleted_at is None


def outcome(status: int) -> str:
    return "allowed" if 200 <= status < 300 else str(status)


async def call(client: AsyncTestClient[Any], method: str, path: str, headers: dict[str, str], **kwargs: Any) -> int:
    response = await client.request(method, path, headers=headers, follow_redirects=False, **kwargs)
    return response.status_code


def test_every_html_route_has_an_entry_in_the_matrix(settings: Settings) -> None:
    routes = html_routes(create_app(settings))
    assert routes == set(LEAD_ROUTES) | set(OTHER_ROUTES), "a board/HTML route needs an entry in this test's matrix"


async def test_every_board_route_answers_each_role_as_the_api_does(
    matrix_client: AsyncTestClient[Any], settings: Settings, engine: AsyncEngine
) -> None:
    routes = sorted(html_routes(create_app(settings)) & set(LEAD_ROUTES))
    world = await build_world(engine, settings, routes)
    mismatches: list[str] = []
    for role, caller in world.callers.items():
        board_headers = await sign_in(matrix_client, caller)
        for kind in KINDS:
            for route in routes:
                spec, twins = LEAD_ROUTES[route], world.twins[role, kind, route]
                board_path = spec.board.format(lead=twins.board, message=twins.board_message)
                api_path = spec.api[1].format(lead=twins.api, message=twins.api_message)
                board = await call(matrix_client, route[0], board_path, board_headers, data=spec.form)
                api = await call(matrix_client, spec.api[0], api_path, caller.headers, json=spec.body)
                board_after, api_after = await state_of(engine, twins.board), await state_of(engine, twins.api)
                if outcome(board) != outcome(api) or board_after != api_after:
                    mismatches.append(
                        f"{role.value:9} {kind:10} {route[0]} {route[1]}: board {board} {board_after}, "
                        f"API {api} {api_after}"
                    )
    assert not mismatches, "the board and the API disagree:\n" + "\n".join(mismatches)


async def test_a_signed_out_visitor_is_sent_to_sign_in_by_every_board_route(
    matrix_client: AsyncTestClient[Any], settings: Settings, engine: AsyncEngine
) -> None:
    routes = sorted(html_routes(create_app(settings)) & set(LEAD_ROUTES))
    world = await build_world(engine, settings, routes)
    token = csrf_from((await matrix_client.get("/login")).text)
    for route in routes:
        spec, twins = LEAD_ROUTES[route], world.twins[Role.ADMIN, "unassigned", route]
        before = await state_of(engine, twins.board)
        path = spec.board.format(lead=twins.board, message=twins.board_message)
        response = await matrix_client.request(
            route[0], path, headers={"X-CSRFToken": token}, data=spec.form, follow_redirects=False
        )
        assert response.status_code in (302, 303, 401), (route, response.status_code)
        assert await state_of(engine, twins.board) == before, route


def board_ids(html: str) -> set[int]:
    return {int(found) for found in re.findall(r'<article class="card[^"]*" id="lead-(\d+)"', html)}


async def api_ids(client: AsyncTestClient[Any], member: Member, query: str) -> set[int]:
    response = await client.get(f"/api/v1/leads?limit=500{query}", headers=member.headers)
    assert response.status_code == 200, response.text
    return {lead["id"] for lead in response.json()["items"]}


async def test_the_board_shows_exactly_the_leads_the_api_lists_for_each_role(
    matrix_client: AsyncTestClient[Any], settings: Settings, engine: AsyncEngine
) -> None:
    world = await build_world(engine, settings, [("GET", "/board/leads/{lead_id:int}")])
    threshold = settings.lead_score_threshold
    for role, caller in world.callers.items():
        await sign_in(matrix_client, caller)
        shown = board_ids((await matrix_client.get("/board")).text)
        assert shown == await api_ids(matrix_client, caller, f"&score_min={threshold}"), role
        everything = board_ids((await matrix_client.get("/board?all=1")).text)
        assert everything == await api_ids(matrix_client, caller, ""), role
        assert shown < everything, "leads below the threshold (and unscored ones) are hidden by default"
    rep_view = await api_ids(matrix_client, world.callers[Role.SALES_REP], "")
    other_team = {t.board for (role, kind, _), t in world.twins.items() if kind == "other team"}
    assert rep_view and not rep_view & other_team, "the world gives a rep both visible and invisible leads"


async def test_a_new_unscored_lead_is_hidden_by_default_and_marked_when_shown(
    matrix_client: AsyncTestClient[Any], settings: Settings, engine: AsyncEngine
) -> None:
    world = await build_world(engine, settings, [("GET", "/board/leads/{lead_id:int}")])
    async with session_scope(make_sessionmaker(engine)) as session:
        unscored = (await session.exec(select(Lead.id).where(col(Lead.score).is_(None)))).all()
    assert unscored
    await sign_in(matrix_client, world.callers[Role.ADMIN])
    default = (await matrix_client.get("/board")).text
    assert not board_ids(default) & set(unscored)
    assert 'href="/board?all=1"' in default, "the board offers a visible way to show the hidden leads"
    everything = (await matrix_client.get("/board?all=1")).text
    assert set(unscored) <= board_ids(everything)
    assert "not scored yet" in everything
