import json
import re
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access.auth import create_user
from crm.db import make_engine, make_sessionmaker, session_scope
from crm.http.deps import web_link
from crm.models import Contact, Lead, Mention, Role
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
    hot, cold = leads
    assert hot["score"] >= settings.lead_score_threshold > cold["score"], "the seed has one lead on each side"
    await add_rep(settings)
    signed_in = await sign_in(client)
    assert signed_in.status_code == 200  # followed the redirect to the board
    page = signed_in.text
    assert "Maria Ortiz" in page and "Bob" not in page, "a lead below the threshold is hidden by default"
    everything = (await client.get("/board?all=1")).text
    assert everything.index("Maria Ortiz") < everything.index("Bob"), "the higher score comes first in its column"
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
    api_refusal = await client.post(
        f"/api/v1/leads/{hot['id']}/stage", json={"to_stage": "meeting"}, headers=admin.headers
    )
    assert refused.status_code == api_refusal.status_code == 409
    assert "cannot move from" in refused.text


async def test_a_read_only_user_sees_the_board_but_cannot_act(
    client: AsyncTestClient[Any], settings: Settings, admin: Caller, run_jobs: Any
) -> None:
    leads = await seed_leads(client, admin, run_jobs)
    await add_rep(settings, "viewer@example.com", Role.READ_ONLY)
    page = (await sign_in(client, "viewer@example.com")).text
    headers = {"X-CSRFToken": csrf_from(page)}
    panel = (await client.get(f"/board/leads/{leads[0]['id']}", headers=headers)).text
    assert "Draft first DM" not in panel and "Move to" not in panel
    assert "You may read this lead but not change it." in panel
    refused = await client.post(f"/board/leads/{leads[0]['id']}/draft", headers=headers)
    assert refused.status_code == 403
    assert "not change it" in refused.text
    messages = await client.get(f"/api/v1/leads/{leads[0]['id']}/messages", headers=admin.headers)
    assert messages.json() == []


async def test_a_lead_that_does_not_exist_is_a_404_panel(
    client: AsyncTestClient[Any], settings: Settings, admin: Caller, run_jobs: Any
) -> None:
    await add_rep(settings)
    headers = {"X-CSRFToken": csrf_from((await sign_in(client)).text), "HX-Request": "true"}
    for method, path in (
        ("GET", "/board/leads/999"),
        ("POST", "/board/leads/999/draft"),
        ("POST", "/board/messages/9/sent"),
    ):
        response = await client.request(method, path, headers=headers)
        assert response.status_code == 404, path
        assert "This lead no longer exists." in response.text


async def test_a_post_address_that_is_not_a_web_url_is_never_a_link(
    client: AsyncTestClient[Any], settings: Settings, admin: Caller, run_jobs: Any, session: AsyncSession
) -> None:
    leads = await seed_leads(client, admin, run_jobs)
    hostile = "javascript:alert(document.cookie)"
    first = await session.get(Lead, leads[0]["id"])
    assert first is not None and first.first_mention_id is not None
    await session.exec(update(Mention).where(col(Mention.id) == first.first_mention_id).values(url=hostile))  # type: ignore[call-overload]
    await session.commit()
    await add_rep(settings)
    headers = {"X-CSRFToken": csrf_from((await sign_in(client)).text), "HX-Request": "true"}

    panel = (await client.get(f"/board/leads/{leads[0]['id']}", headers=headers)).text
    assert "javascript:" not in "".join(re.findall(r'href="([^"]*)"', panel))
    assert "Open the post" not in panel and hostile in panel, "the address is shown as text"
    safe = (await client.get(f"/board/leads/{leads[1]['id']}", headers=headers)).text
    assert 'href="https://x.com/bob/status/2"' in safe


@pytest.mark.parametrize(
    ("url", "link"),
    [
        ("https://bsky.app/profile/ana/post/1", True),
        ("HTTP://example.org/a?b=c", True),
        ("javascript:alert(1)", False),
        ("JavaScript:alert(1)", False),
        (" javascript:alert(1)", False),
        ("java\tscript:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("vbscript:msgbox(1)", False),
        ("//evil.example/x", False),
        ("/relative/path", False),
        ("https://", False),
        ("http://[::1", False),
        ("", False),
        (None, False),
    ],
)
def test_only_absolute_http_urls_become_links(url: str | None, link: bool) -> None:
    assert web_link(url) == (url if link else None)


async def test_a_card_shows_that_its_contact_is_on_do_not_contact(
    client: AsyncTestClient[Any], settings: Settings, admin: Caller, run_jobs: Any, session: AsyncSession
) -> None:
    leads = await seed_leads(client, admin, run_jobs)
    await session.exec(update(Contact).where(col(Contact.id) == leads[0]["contact_id"]).values(do_not_contact=True))  # type: ignore[call-overload]
    await session.commit()
    await add_rep(settings)
    page = (await sign_in(client)).text
    card = re.search(rf'<article[^>]*id="lead-{leads[0]["id"]}".*?</article>', page, re.S)
    assert card and "Do not contact" in card.group(0)
    everything = (await client.get("/board?all=1")).text
    other = re.search(rf'<article[^>]*id="lead-{leads[1]["id"]}".*?</article>', everything, re.S)
    assert other and "Do not contact" not in other.group(0)
    panel = (await client.get(f"/board/leads/{leads[0]['id']}")).text
    assert "Do not contact" in panel and "Draft first DM" not in panel
