"""The lead list (GET /api/v1/leads): the caller's scope holds on every page, and on PostgreSQL the statement compiled
once per shape and run on asyncpg gives exactly the pages SQLAlchemy gives."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from crm.access.policy import LeadScope
from crm.http.paging import After, parse_sort
from crm.leads.filters import LeadFilter
from crm.leads.listing import LEAD_SORTS, read_rows_on_driver, read_rows_with_core
from crm.models import Lead, Role, utcnow
from crm.settings import Settings
from tests.conftest import Caller, make_caller


async def create(client: AsyncTestClient[Any], caller: Caller, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


@dataclass
class Floor:
    """Two teams, a rep without a team, and a lead for each kind of owner."""

    admin: Caller
    rep_a: Caller
    rep_a2: Caller
    rep_b: Caller
    rep_solo: Caller
    marketer: Caller
    watch_id: int
    leads: dict[str, int]  # own (rep_a), team (rep_a2), other (rep_b), solo (rep_solo), free (nobody)


@pytest.fixture
async def floor(client: AsyncTestClient[Any], settings: Settings, admin: Caller, engine: AsyncEngine) -> Floor:
    team_a = await create(client, admin, "/api/v1/teams", {"name": "Team A"})
    team_b = await create(client, admin, "/api/v1/teams", {"name": "Team B"})
    rep_a = await make_caller(settings, "rep.a@example.com", Role.SALES_REP, team_a["id"])
    rep_a2 = await make_caller(settings, "rep.a2@example.com", Role.SALES_REP, team_a["id"])
    rep_b = await make_caller(settings, "rep.b@example.com", Role.SALES_REP, team_b["id"])
    rep_solo = await make_caller(settings, "rep.solo@example.com", Role.SALES_REP)
    marketer = await make_caller(settings, "marketer@example.com", Role.MARKETER)
    watch = await create(client, admin, "/api/v1/watches", {"name": "CRM alternatives", "keywords": ["crm"]})
    owners = {"own": rep_a, "team": rep_a2, "other": rep_b, "solo": rep_solo, "free": None}
    leads: dict[str, int] = {}
    for n, (name, owner) in enumerate(owners.items()):
        contact = await create(client, admin, "/api/v1/contacts", {"display_name": name.title()})
        body = {"contact_id": contact["id"], "watch_id": watch["id"], "tags": [name, "shared"]}
        if owner is not None:
            body["owner_id"] = owner.user.id
        lead = await create(client, admin, "/api/v1/leads", body)
        leads[name] = lead["id"]
        async with engine.begin() as connection:  # a spread of scores, one missing, so pages cross the NULLs
            score = None if name == "solo" else 10.0 * (n + 1)
            await connection.execute(update(Lead).where(col(Lead.id) == lead["id"]).values(score=score))
    return Floor(admin, rep_a, rep_a2, rep_b, rep_solo, marketer, watch["id"], leads)


async def every_page(client: AsyncTestClient[Any], caller: Caller, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        response = await client.get("/api/v1/leads", params=query, headers=caller.headers)
        assert response.status_code == 200, response.text
        items += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return items


@pytest.mark.parametrize("sort", ["-score", "score", "-updated_at", "id"])
async def test_a_reps_list_never_shows_another_teams_lead_on_any_page(
    client: AsyncTestClient[Any], floor: Floor, sort: str
) -> None:
    def seen(items: list[dict[str, Any]]) -> set[int]:
        return {item["id"] for item in items}

    leads = floor.leads
    for limit in (1, 2, 50):
        assert seen(await every_page(client, floor.rep_a, sort=sort, limit=limit)) == {
            leads["own"],
            leads["team"],
            leads["free"],
        }
        assert seen(await every_page(client, floor.rep_b, sort=sort, limit=limit)) == {leads["other"], leads["free"]}
        assert seen(await every_page(client, floor.rep_solo, sort=sort, limit=limit)) == {leads["solo"], leads["free"]}
        assert seen(await every_page(client, floor.marketer, sort=sort, limit=limit)) == set(leads.values())


async def test_a_filter_cannot_widen_a_reps_scope(client: AsyncTestClient[Any], floor: Floor) -> None:
    rep_a, other = floor.rep_a, floor.leads["other"]
    assert await every_page(client, rep_a, owner_id=floor.rep_b.user.id) == []
    assert await every_page(client, rep_a, tag="other") == []
    assert await every_page(client, rep_a, watch_id=floor.watch_id, unassigned=False, limit=1) != []
    assert other not in {item["id"] for item in await every_page(client, rep_a, unassigned=False, limit=1)}
    assert [item["id"] for item in await every_page(client, rep_a, tag="shared", unassigned=True)] == [
        floor.leads["free"]
    ]


async def test_a_value_the_database_cannot_hold_is_invalid_input_not_an_error(
    client: AsyncTestClient[Any], floor: Floor, settings: Settings
) -> None:
    response = await client.get("/api/v1/leads", params={"stage": "new\x00"}, headers=floor.admin.headers)
    if settings.is_sqlite:  # SQLite stores NUL characters: it is simply a stage no lead is in
        assert response.status_code == 200 and response.json()["items"] == []
    else:
        assert response.status_code == 422 and response.json()["type"] == "urn:warmline:problem:invalid-input"


def documents(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as the client receives them (the driver path sends JSON columns on as raw JSON text)."""
    return list(msgspec.json.decode(msgspec.json.encode(rows)))


async def test_the_compiled_statement_on_asyncpg_reads_the_same_pages_as_sqlalchemy(
    floor: Floor, engine: AsyncEngine, settings: Settings
) -> None:
    if settings.is_sqlite:
        pytest.skip("the statement runs on asyncpg only on PostgreSQL")
    rep = floor.rep_a.user
    scopes = [
        LeadScope("all"),
        LeadScope("none"),
        LeadScope("own", floor.rep_solo.user.id),
        LeadScope("team", rep.id, rep.team_id),
    ]
    since = utcnow() - timedelta(hours=1)
    filter_sets: list[dict[str, Any]] = [
        {},
        {"stage": "new", "watch_ids": frozenset({floor.watch_id})},
        {"tags": frozenset({"shared", "own"})},
        {"score_min": 15.0, "score_max": 45.0, "updated_since": since},
        {"unassigned": True, "platform": None},
        {"unassigned": False, "owner_id": rep.id},
    ]
    compared = 0
    for scope in scopes:
        for values in filter_sets:
            filters = LeadFilter(scope=scope, **values)
            for token in ("-score", "score", "-updated_at", "created_at", "-id"):
                sort = parse_sort(token, LEAD_SORTS)
                after: After | None = None
                while True:  # page by two, so every cursor stretch (values, then NULLs) is read by both
                    driver = await read_rows_on_driver(engine, filters, sort, after, 2)
                    core = await read_rows_with_core(engine, filters, sort, after, 2)
                    assert documents(driver) == documents(core), (scope, values, token, after)
                    compared += len(driver)
                    if len(driver) <= 2:
                        break
                    last = driver[1]
                    after = After(last[sort.field], last["id"])
    assert compared > 100  # the comparison saw real rows, not only empty pages
