import json
import re
from typing import Any

from litestar.testing import AsyncTestClient

from crm.auth import create_user
from crm.db import make_engine, make_sessionmaker, session_scope
from crm.models import Role
from crm.settings import Settings
from tests.conftest import Caller

PASSWORD = "correct horse battery staple"


async def add_rep(settings: Settings, email: str = "rep@example.com", role: Role = Role.SALES_REP) -> None:
    engine = make_engine(settings)
    try:
        async with session_scope(make_sessionmaker(engine)) as session:
            await create_user(session, email, role=role, name="Riley Rep", password=PASSWORD)
    finally:
        await engine.dispose()


def csrf_from(html: str) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


async def sign_in(client: AsyncTestClient[Any], email: str = "rep@example.com", password: str = PASSWORD) -> Any:
    token = csrf_from((await client.get("/login")).text)
    return await client.post("/login", data={"email": email, "password": password, "_csrf_token": token})


async def seed_leads(client: AsyncTestClient[Any], admin: Caller, run_jobs: Any) -> list[dict[str, Any]]:
    watch = (
        await client.post(
            "/api/v1/watches",
            json={"name": "crm", "keywords": ["crm"], "competitors": [{"name": "Salesforce"}]},
            headers=admin.headers,
        )
    ).json()
    lines = [
        {
            "platform": "x",
            "id": "1",
            "text": "Any CRM recommendations? Salesforce is too expensive for us",
            "created_at": "2026-11-20T09:00:00Z",
            "url": "https://x.com/maria/status/1",
            "author": {"handle": "maria", "display_name": "Maria Ortiz", "followers": 5000, "dm_open": True},
        },
        {
            "platform": "x",
            "id": "2",
            "text": "our crm works fine",
            "created_at": "2026-11-20T10:00:00Z",
            "url": "https://x.com/bob/status/2",
            "author": {"handle": "bob", "display_name": "Bob"},
        },
    ]
    body = "\n".join(json.dumps(line) for line in lines)
    await client.post(f"/api/v1/watches/{watch['id']}/mentions/import", content=body, headers=admin.headers)
    await run_jobs()
    return list((await client.get("/api/v1/leads", headers=admin.headers)).json()["items"])


async def test_the_board_asks_for_a_sign_in_first(client: AsyncTestClient[Any]) -> None:
    response = await client.get("/board", follow_redirects=False)
    assert response.status_code in (302, 303, 307)
    assert response.headers["location"] == "/login"


async def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(
    client: AsyncTestClient[Any], settings: Settings
) -> None:
    await add_rep(settings)
    response = await sign_in(client, password="nope")
    assert response.status_code == 401
    assert "Wrong email or password." in response.text


async def test_a_form_post_without_the_csrf_token_is_refused(client: AsyncTestClient[Any], settings: Settings) -> None:
    await add_rep(settings)
    await client.get("/login")
    response = await client.post("/login", data={"email": "rep@example.com", "password": PASSWORD})
    assert response.status_code == 403


async def test_a_rep_works_a_lead_from_the_board(
    client: AsyncTestClient[Any], settings: Settings, admin: Caller, run_jobs: Any
) -> None:
    leads = await seed_leads(client, admin, run_jobs)
    hot = leads[0]
    await add_rep(settings)
    signed_in = await sign_in(client)
    assert signed_in.status_code == 200  # followed the redirect to the board
    page = signed_in.text
    assert "Maria Ortiz" in page
    assert page.index("Maria Ortiz") < page.index("Bob"), "the higher score comes first in its column"
    token = csrf_from(page)
    headers = {"X-CSRFToken": token, "HX-Request": "true"}

    panel = (await client.get(f"/board/leads/{hot['id']}", headers=headers)).text
    assert "mentions competitor Salesforce" in panel
    assert "Draft first DM" in panel

    drafted = await client.post(f"/board/leads/{hot['id']}/draft", headers=headers)
    assert drafted.status_code == 200
    assert "Hi Maria" in drafted.text
    message_id = re.search(r"/board/messages/(\d+)/sent", drafted.text)
    assert message_id

    sent = await client.post(f"/board/messages/{message_id.group(1)}/sent", headers=headers)
    assert sent.headers.get("hx-trigger") == "board-changed"
    assert (await client.get(f"/api/v1/leads/{hot['id']}", headers=admin.headers)).json()["stage"] == "contacted"

    moved = await client.post(f"/board/leads/{hot['id']}/stage", data={"to_stage": "won"}, headers=headers)
    assert moved.status_code == 200
    assert (await client.get(f"/api/v1/leads/{hot['id']}", headers=admin.headers)).json()["stage"] == "won"
    refused = await client.post(f"/board/leads/{hot['id']}/stage", data={"to_stage": "meeting"}, headers=headers)
    assert "cannot move from" in refused.text


async def test_a_read_only_user_sees_the_board_but_cannot_act(
    client: AsyncTestClient[Any], settings: Settings, admin: Caller, run_jobs: Any
) -> None:
    leads = await seed_leads(client, admin, run_jobs)
    await add_rep(settings, "viewer@example.com", Role.READ_ONLY)
    page = (await sign_in(client, "viewer@example.com")).text
    headers = {"X-CSRFToken": csrf_from(page)}
    panel = (await client.get(f"/board/leads/{leads[0]['id']}", headers=headers)).text
    assert "Draft first DM" not in panel
    refused = await client.post(f"/board/leads/{leads[0]['id']}/draft", headers=headers)
    assert "Read-only users cannot draft messages." in refused.text
