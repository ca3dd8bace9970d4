import re
from typing import Any

from litestar.testing import AsyncTestClient
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access.auth import create_user
from crm.http.ratelimit import SIGN_IN_FAILURES
from crm.models import AuditEvent, Role


async def csrf_headers(client: AsyncTestClient[Any]) -> dict[str, str]:
    assert (await client.get("/auth/session")).json() == {"user": None}
    return {"X-CSRFToken": client.cookies["csrftoken"]}


async def test_a_user_signs_in_with_a_password_and_out_again(
    client: AsyncTestClient[Any], session: AsyncSession
) -> None:
    await create_user(session, "rep@example.com", role=Role.SALES_REP, password="correct horse battery")
    await session.commit()
    headers = await csrf_headers(client)

    wrong = await client.post("/auth/login", json={"email": "rep@example.com", "password": "nope"}, headers=headers)
    assert wrong.status_code == 401
    signed_in = await client.post(
        "/auth/login", json={"email": "Rep@Example.com", "password": "correct horse battery"}, headers=headers
    )
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["email"] == "rep@example.com"
    assert (await client.get("/auth/session")).json()["user"]["role"] == "sales_rep"

    assert (await client.post("/auth/logout", headers=headers)).status_code == 204
    assert (await client.get("/auth/session")).json() == {"user": None}
    actions = list(await session.exec(select(AuditEvent.action).order_by(col(AuditEvent.id))))
    assert actions == ["auth.sign_in_failed", "auth.signed_in"]


async def test_sign_in_without_the_csrf_token_is_refused(client: AsyncTestClient[Any], session: AsyncSession) -> None:
    await create_user(session, "rep@example.com", password="correct horse battery")
    await session.commit()
    response = await client.post("/auth/login", json={"email": "rep@example.com", "password": "correct horse battery"})
    assert response.status_code == 403


async def test_repeated_wrong_passwords_are_throttled(client: AsyncTestClient[Any], session: AsyncSession) -> None:
    await create_user(session, "rep@example.com", password="correct horse battery")
    await session.commit()
    headers = await csrf_headers(client)
    body = {"email": "rep@example.com", "password": "guess"}
    for _ in range(SIGN_IN_FAILURES):
        assert (await client.post("/auth/login", json=body, headers=headers)).status_code == 401
    right = {"email": "rep@example.com", "password": "correct horse battery"}
    throttled = await client.post("/auth/login", json=right, headers=headers)
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0


async def test_the_board_form_is_throttled_and_audited_like_the_json_sign_in(
    client: AsyncTestClient[Any], session: AsyncSession
) -> None:
    await create_user(session, "rep@example.com", password="correct horse battery")
    await session.commit()
    page = (await client.get("/login")).text
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page)
    assert token
    form = {"email": "rep@example.com", "password": "guess", "_csrf_token": token.group(1)}
    for _ in range(12):
        refused = await client.post("/login", data=form, follow_redirects=False)
        assert refused.status_code in (401, 429)
    right = await client.post("/login", data={**form, "password": "correct horse battery"}, follow_redirects=False)
    assert right.status_code == 429 and int(right.headers["retry-after"]) > 0
    assert "Too many failed sign-ins" in right.text
    assert (await client.get("/board", follow_redirects=False)).status_code in (302, 303), "not signed in"
    # The JSON door counts the same failures: the email is throttled there too.
    headers = {"X-CSRFToken": client.cookies["csrftoken"]}
    json_door = await client.post(
        "/auth/login", json={"email": "rep@example.com", "password": "correct horse battery"}, headers=headers
    )
    assert json_door.status_code == 429
    actions = list(await session.exec(select(AuditEvent.action).order_by(col(AuditEvent.id))))
    assert actions[:SIGN_IN_FAILURES] == ["auth.sign_in_failed"] * SIGN_IN_FAILURES
    assert actions[SIGN_IN_FAILURES:] == ["auth.sign_in_throttled"] * (12 - SIGN_IN_FAILURES + 2)
    assert "auth.signed_in" not in actions


async def test_an_unknown_email_on_the_board_form_is_refused_like_a_wrong_password(
    client: AsyncTestClient[Any], session: AsyncSession
) -> None:
    page = (await client.get("/login")).text
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page)
    assert token
    form = {"email": "nobody@example.com", "password": "guess", "_csrf_token": token.group(1)}
    response = await client.post("/login", data=form, follow_redirects=False)
    assert response.status_code == 401 and "Wrong email or password." in response.text
    events = list(await session.exec(select(AuditEvent.action, AuditEvent.actor)))
    assert [tuple(e) for e in events] == [("auth.sign_in_failed", "nobody@example.com")]
