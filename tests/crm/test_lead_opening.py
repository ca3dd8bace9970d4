"""Every way a lead comes in opens it alike (crm.leads.opening): stage, routing and the lead.created event."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.contacts.accounts import upsert_account
from crm.leads.opening import lead_opening, open_lead
from crm.models import AuditEvent, Lead, Role, RoutingRule, Team, User, WebhookEvent, WebhookSubscription
from crm.pipeline import StageSpec, create_pipeline
from listeners.base import Author
from listeners.store import save_mentions
from tests.conftest import Caller
from tests.listeners.builders import make_watch, mention


@contextmanager
def counted(engine: AsyncEngine) -> Iterator[list[str]]:
    """The statements sent to the database inside the block (an executemany counts once)."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", note)


async def two_reps_in_rotation(session: AsyncSession) -> list[int]:
    """A fixed-owner rule that matches nothing here, then a round-robin over a team of two reps."""
    team = Team(name="Inbound")
    session.add(team)
    await session.flush()
    reps = [User(email=f"rep{i}@example.com", role=Role.SALES_REP.value, team_id=team.id) for i in (1, 2)]
    session.add_all(reps)
    await session.flush()
    session.add(RoutingRule(name="x only", position=0, platform="x", user_id=reps[0].id))
    session.add(RoutingRule(name="inbound", position=1, team_id=team.id))
    await session.flush()
    return [rep.id for rep in reps if rep.id is not None]


def authors(prefix: str, count: int) -> list[Any]:
    return [
        mention(f"{prefix}-{i}", f"Any CRM that is not Salesforce? take {prefix} {i}", handle=f"{prefix}_{i}")
        for i in range(count)
    ]


async def test_routing_a_batch_of_intake_leads_takes_as_many_statements_for_ten_leads_as_for_two(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    reps = await two_reps_in_rotation(session)
    session.add(WebhookSubscription(url="https://hooks.example.org/in", events=["*"], secret="s" * 32))
    watches = [await make_watch(session, name=name) for name in ("warm-up", "two", "ten")]
    await save_mentions(session, watches[0], authors("w", 2))
    await session.commit()
    statements = {}
    for watch, count in ((watches[1], 2), (watches[2], 10)):
        with counted(engine) as seen:
            result = await save_mentions(session, watch, authors(watch.name, count))
            await session.commit()
        assert len(result.new_leads) == count
        statements[count] = len(seen)
    assert statements[10] == statements[2], statements
    leads = (await session.exec(select(Lead).order_by(col(Lead.id)))).all()
    # The round-robin goes on from one batch to the next, a turn per lead in the order they were opened.
    assert [lead.owner_id for lead in leads] == [reps[i % 2] for i in range(14)]
    assigned = (await session.exec(select(WebhookEvent).where(WebhookEvent.type == "lead.assigned"))).all()
    assert len(assigned) == 14 and {e.payload["previous_owner_id"] for e in assigned} == {None}
    audits = (await session.exec(select(AuditEvent).where(AuditEvent.action == "lead.assigned"))).all()
    assert {a.detail["reason"] for a in audits} == {"routing rule 'inbound'"}


async def test_a_lead_opened_by_intake_and_one_opened_through_the_orm_are_announced_alike(
    session: AsyncSession,
) -> None:
    pipeline = await create_pipeline(
        session, "Partners", [StageSpec("triage", "Triage"), StageSpec("won", "Won", "won")]
    )
    assert pipeline.id is not None
    watch = await make_watch(session, pipeline_id=pipeline.id)
    assert watch.id is not None
    session.add(WebhookSubscription(url="https://hooks.example.org/in", events=["lead.created"], secret="s" * 32))
    await session.flush()
    await save_mentions(session, watch, [mention(author=Author(handle="bulk_author"))])
    account = await upsert_account(session, "file", "orm_author")
    assert account.contact_id is not None
    opened = await open_lead(session, account.contact_id, watch.id, pipeline_id=pipeline.id, platform="file")
    await session.commit()
    created = (await session.exec(select(WebhookEvent).where(WebhookEvent.type == "lead.created"))).all()
    bulk, orm = sorted((e.payload for e in created), key=lambda p: p["lead_id"])
    assert orm["lead_id"] == opened.id
    differing = {"lead_id", "contact_id"}
    assert {k: v for k, v in bulk.items() if k not in differing} == {k: v for k, v in orm.items() if k not in differing}
    assert bulk["stage"] == "triage" and bulk["pipeline_id"] == pipeline.id and bulk["owner_id"] is None
    assert (await lead_opening(session, pipeline.id)).stage == opened.stage == "triage"


async def test_a_lead_for_a_watch_that_does_not_exist_is_refused_naming_the_watch(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    contact = await client.post("/api/v1/contacts", json={"display_name": "Ada"}, headers=admin.headers)
    assert contact.status_code == 201, contact.text
    response = await client.post(
        "/api/v1/leads", json={"contact_id": contact.json()["id"], "watch_id": 999}, headers=admin.headers
    )
    assert response.status_code == 422
    assert "watch 999 does not exist" in response.json()["detail"]
    twice = {"contact_id": contact.json()["id"]}
    assert (await client.post("/api/v1/leads", json=twice, headers=admin.headers)).status_code == 201
    clash = await client.post("/api/v1/leads", json=twice, headers=admin.headers)
    assert clash.status_code == 409 and "already has a lead in this watch" in clash.json()["detail"]


async def test_a_lead_created_through_the_api_for_a_watch_opens_in_the_watchs_pipeline(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    h = admin.headers
    pipeline = (
        await client.post(
            "/api/v1/pipelines",
            json={
                "name": "Partners",
                "stages": [{"key": "scouted", "name": "Scouted"}, {"key": "won", "name": "Won", "is_won": True}],
            },
            headers=h,
        )
    ).json()
    watch = (
        await client.post(
            "/api/v1/watches", json={"name": "partners", "keywords": ["crm"], "pipeline_id": pipeline["id"]}, headers=h
        )
    ).json()
    contact = (await client.post("/api/v1/contacts", json={"display_name": "Ana"}, headers=h)).json()
    lead = await client.post("/api/v1/leads", json={"contact_id": contact["id"], "watch_id": watch["id"]}, headers=h)
    assert lead.status_code == 201, lead.text
    assert lead.json()["pipeline_id"] == pipeline["id"] and lead.json()["stage"] == "scouted"
