from typing import Any

from litestar.testing import AsyncTestClient
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access.auth import verify_password
from crm.models import ApiKey, AuditEvent, User
from tests.conftest import Caller


async def test_an_admin_manages_users_teams_and_roles(
    client: AsyncTestClient[Any], admin: Caller, session: AsyncSession
) -> None:
    h = admin.headers
    team = await client.post("/api/v1/teams", json={"name": "EMEA"}, headers=h)
    assert team.status_code == 201
    created = await client.post(
        "/api/v1/users",
        json={
            "email": "Rep@Example.com",
            "role": "sales_rep",
            "team_id": team.json()["id"],
            "password": "a long passphrase",
        },
        headers=h,
    )
    assert created.status_code == 201, created.text
    rep = created.json()
    assert rep["email"] == "rep@example.com" and "password" not in rep and "password_hash" not in rep
    assert (await client.post("/api/v1/users", json={"email": "rep@example.com"}, headers=h)).status_code == 409

    promoted = await client.patch(f"/api/v1/users/{rep['id']}", json={"role": "marketer"}, headers=h)
    assert promoted.json()["role"] == "marketer"
    assert (await client.delete(f"/api/v1/users/{rep['id']}", headers=h)).status_code == 204
    assert (await client.get(f"/api/v1/users/{rep['id']}", headers=h)).json()["is_active"] is False
    assert (
        await client.patch(f"/api/v1/users/{admin.user.id}", json={"role": "read_only"}, headers=h)
    ).status_code == 409

    stored = await session.get(User, rep["id"])
    assert stored is not None and verify_password(stored.password_hash, "a long passphrase")
    actions = list(await session.exec(select(AuditEvent.action).order_by(col(AuditEvent.id))))
    assert {"team.created", "user.created", "user.updated", "user.deactivated"} <= set(actions)


async def test_users_see_themselves_and_change_only_their_own_name(client: AsyncTestClient[Any], admin: Caller) -> None:
    me = await client.get("/api/v1/users/me", headers=admin.headers)
    assert me.json()["email"] == "admin@example.com" and me.json()["role"] == "admin"
    renamed = await client.patch(f"/api/v1/users/{admin.user.id}", json={"name": "Ops"}, headers=admin.headers)
    assert renamed.json()["name"] == "Ops"


async def test_an_api_key_is_shown_once_hashed_at_rest_and_revocable(
    client: AsyncTestClient[Any], admin: Caller, session: AsyncSession
) -> None:
    created = await client.post(
        "/api/v1/api-keys", json={"name": "hubspot sync", "rate_limit_per_minute": 120}, headers=admin.headers
    )
    assert created.status_code == 201, created.text
    body = created.json()
    key = body["key"]
    assert key.startswith("wl_") and body["scopes"] == ["read", "write"] and body["rate_limit_per_minute"] == 120

    listed = (await client.get("/api/v1/api-keys", headers=admin.headers)).json()
    assert all("key" not in k for k in listed)
    row = await session.get(ApiKey, body["id"])
    assert row is not None and key not in row.key_hash and row.last_used_at is None

    fresh = {"Authorization": f"Bearer {key}"}
    assert (await client.get("/api/v1/users/me", headers=fresh)).status_code == 200
    used = (await client.get(f"/api/v1/api-keys/{body['id']}", headers=admin.headers)).json()
    assert used["last_used_at"] is not None

    assert (await client.delete(f"/api/v1/api-keys/{body['id']}", headers=admin.headers)).status_code == 204
    assert (await client.get("/api/v1/users/me", headers=fresh)).status_code == 401
    revoked = (await client.get(f"/api/v1/api-keys/{body['id']}", headers=admin.headers)).json()
    assert revoked["revoked_at"] is not None


async def test_a_deactivated_users_keys_stop_working(client: AsyncTestClient[Any], admin: Caller) -> None:
    user = (await client.post("/api/v1/users", json={"email": "gone@example.com"}, headers=admin.headers)).json()
    minted = await client.post("/api/v1/api-keys", json={"name": "k", "user_id": user["id"]}, headers=admin.headers)
    assert minted.json()["user_id"] == user["id"]
    headers = {"Authorization": f"Bearer {minted.json()['key']}"}
    assert (await client.get("/api/v1/users/me", headers=headers)).json()["id"] == user["id"]
    await client.delete(f"/api/v1/users/{user['id']}", headers=admin.headers)
    assert (await client.get("/api/v1/users/me", headers=headers)).status_code == 401
