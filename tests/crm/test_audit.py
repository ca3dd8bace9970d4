from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from crm.access import audit
from crm.db import make_sessionmaker, session_scope
from crm.errors import OutreachBlocked
from crm.models import AuditEvent, Role
from crm.settings import Settings
from tests.conftest import Caller, make_caller


async def write_events(engine: AsyncEngine, n: int) -> None:
    async with session_scope(make_sessionmaker(engine)) as db:
        for i in range(n):
            audit.record(db, "export.leads" if i % 2 else "user.signed_in", actor=f"a{i}", object_type="x", object_id=i)


async def test_admins_page_through_the_audit_log_newest_first(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine
) -> None:
    await write_events(engine, 7)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/audit", params=params, headers=admin.headers)).json()
        seen += [e["object_id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(i) for i in reversed(range(7))]


async def test_filters_narrow_by_action_prefix_object_and_time(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine
) -> None:
    await write_events(engine, 4)
    h = admin.headers
    exports = (await client.get("/api/v1/audit", params={"action": "export"}, headers=h)).json()["items"]
    assert [e["object_id"] for e in exports] == ["3", "1"]
    one = (await client.get("/api/v1/audit", params={"object_type": "x", "object_id": "2"}, headers=h)).json()
    assert [e["action"] for e in one["items"]] == ["user.signed_in"]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await client.get("/api/v1/audit", params={"since": future}, headers=h)).json()["items"] == []
    assert len((await client.get("/api/v1/audit", params={"until": future}, headers=h)).json()["items"]) == 4
    assert (await client.get("/api/v1/audit", params={"cursor": "x"}, headers=h)).status_code == 422


async def test_non_admins_cannot_read_the_audit_log(client: AsyncTestClient[Any], settings: Settings) -> None:
    reader = await make_caller(settings, "reader@example.com", Role.READ_ONLY)
    response = await client.get("/api/v1/audit", headers=reader.headers)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_refusal_keeps_its_own_record_while_what_the_refused_work_wrote_is_rolled_back(
    engine: AsyncEngine,
) -> None:
    sessionmaker = make_sessionmaker(engine)

    def keep(session: Any) -> None:
        audit.record(session, "outreach.refused", object_type="lead", object_id=1)

    try:
        async with session_scope(sessionmaker) as session:
            audit.record(session, "work.before.refusal")
            await session.flush()  # on SQLite this holds the write lock the record must not wait on
            raise OutreachBlocked("refused", kept=keep)
    except OutreachBlocked:
        pass
    async with session_scope(sessionmaker) as session:
        actions = (await session.exec(select(AuditEvent.action))).all()
    assert actions == ["outreach.refused"]
