"""Tags are created on first use by whichever request names them; requests that name the same new tag at the same
time must all succeed, on SQLite and on PostgreSQL.

The requests go over real sockets to two uvicorn servers in this event loop (two web processes, each with its own
engine and pool): Litestar's test client runs one request at a time, so it could never show the race."""

import asyncio

import httpx
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.models import LeadTag, Tag
from crm.settings import Settings
from tests.conftest import Caller
from tests.live_server import served

LEADS = 8


async def new_contacts(client: httpx.AsyncClient, admin: Caller, prefix: str) -> list[int]:
    ids = []
    for n in range(LEADS):
        contact = await client.post("/api/v1/contacts", json={"display_name": f"{prefix}{n}"}, headers=admin.headers)
        assert contact.status_code == 201, contact.text
        ids.append(contact.json()["id"])
    return ids


async def test_concurrent_requests_adding_the_same_new_tag_to_different_leads_all_succeed(
    settings: Settings, admin: Caller, session: AsyncSession
) -> None:
    async with (
        served(settings) as one,
        served(settings) as two,
        httpx.AsyncClient(base_url=one, timeout=60) as first,
        httpx.AsyncClient(base_url=two, timeout=60) as second,
    ):
        clients = [first, second]
        lead_ids = []
        for contact_id in await new_contacts(first, admin, "P"):
            lead = await first.post("/api/v1/leads", json={"contact_id": contact_id}, headers=admin.headers)
            lead_ids.append(lead.json()["id"])
        for round_ in range(3):
            names = [f"launch-{round_}", f"webinar-{round_}"]
            patched = await asyncio.gather(
                *(
                    clients[n % 2].patch(f"/api/v1/leads/{lead_id}", json={"tags": names}, headers=admin.headers)
                    for n, lead_id in enumerate(lead_ids)
                )
            )
            assert [r.status_code for r in patched] == [200] * LEADS, [r.text for r in patched if r.is_error]
            assert all(r.json()["tags"] == names for r in patched)

        contact_ids = await new_contacts(first, admin, "Q")
        created = await asyncio.gather(
            *(
                clients[n % 2].post("/api/v1/leads", json={"contact_id": c, "tags": ["fresh"]}, headers=admin.headers)
                for n, c in enumerate(contact_ids)
            )
        )
        assert [r.status_code for r in created] == [201] * LEADS, [r.text for r in created if r.is_error]

    tags = list(await session.exec(select(Tag.name).order_by(Tag.name)))
    assert tags == ["fresh", "launch-0", "launch-1", "launch-2", "webinar-0", "webinar-1", "webinar-2"]
    links = (await session.exec(select(func.count()).select_from(LeadTag))).one()
    assert links == LEADS * 2 + LEADS  # each PATCH round replaced the last one's tags; the new leads have one each
