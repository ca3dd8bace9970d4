"""The rules a contact obeys beyond who may touch it: an erased person is never stored again through the API (nor
brought back by a merge), and a contact is not deleted from under its live leads."""

from typing import Any

from litestar.testing import AsyncTestClient

from tests.conftest import Caller


async def create(client: AsyncTestClient[Any], caller: Caller, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def erased_person(client: AsyncTestClient[Any], admin: Caller) -> dict[str, Any]:
    person = await create(
        client, admin, "/api/v1/contacts", {"display_name": "Erin", "email": "erin@example.org", "external_id": "crm-7"}
    )
    erased = await client.post(f"/api/v1/contacts/{person['id']}/erase", headers=admin.headers)
    assert erased.status_code == 200, erased.text
    return person


def assert_suppressed(response: Any) -> None:
    assert response.status_code == 409, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "erased" in problem["detail"] and "erin" not in problem["detail"] and "crm-7" not in problem["detail"]


async def test_an_erased_person_cannot_be_created_again_through_the_api(
    client: AsyncTestClient[Any], admin: Caller
) -> None:
    await erased_person(client, admin)
    h = admin.headers
    assert_suppressed(await client.post("/api/v1/contacts", json={"email": "Erin@Example.org"}, headers=h))
    assert_suppressed(await client.post("/api/v1/contacts", json={"external_id": "crm-7"}, headers=h))
    assert_suppressed(await client.put("/api/v1/contacts/by-external-id/crm-7", json={"display_name": "E"}, headers=h))
    assert_suppressed(
        await client.put("/api/v1/contacts/by-external-id/crm-8", json={"email": "erin@example.org"}, headers=h)
    )
    someone = await create(client, admin, "/api/v1/contacts", {"display_name": "Someone", "email": "s@example.org"})
    assert_suppressed(
        await client.patch(f"/api/v1/contacts/{someone['id']}", json={"email": "erin@example.org"}, headers=h)
    )
    listed = (await client.get("/api/v1/contacts", headers=h)).json()["items"]
    assert [(c["display_name"], c["email"]) for c in listed] == [("Someone", "s@example.org")]
    # The person's own identifiers are refused, nobody else's.
    other = await client.put("/api/v1/contacts/by-external-id/crm-8", json={"email": "new@example.org"}, headers=h)
    assert other.status_code == 201, other.text


async def test_merging_never_brings_an_erased_person_back(client: AsyncTestClient[Any], admin: Caller) -> None:
    h = admin.headers
    # A second record of the same person, stored before the erasure, still holds the erased email.
    twin = await create(client, admin, "/api/v1/contacts", {"display_name": "Erin again", "email": "erin@example.org"})
    person = await erased_person(client, admin)
    keeper = await create(client, admin, "/api/v1/contacts", {"display_name": "Keeper"})

    refused = await client.post(
        f"/api/v1/contacts/{keeper['id']}/merge", json={"source_contact_id": twin["id"]}, headers=h
    )
    assert_suppressed(refused)
    assert (await client.get(f"/api/v1/contacts/{keeper['id']}", headers=h)).json()["email"] is None
    for target, source in ((keeper["id"], person["id"]), (person["id"], keeper["id"])):
        merged = await client.post(f"/api/v1/contacts/{target}/merge", json={"source_contact_id": source}, headers=h)
        assert merged.status_code == 404, merged.text  # the erased contact is gone


async def test_a_contact_with_live_leads_is_not_deleted(client: AsyncTestClient[Any], admin: Caller) -> None:
    h = admin.headers
    contact = await create(client, admin, "/api/v1/contacts", {"display_name": "Busy"})
    first = await create(client, admin, "/api/v1/leads", {"contact_id": contact["id"]})
    watch = await create(client, admin, "/api/v1/watches", {"name": "second", "keywords": ["x"]})
    await create(client, admin, "/api/v1/leads", {"contact_id": contact["id"], "watch_id": watch["id"]})

    refused = await client.delete(f"/api/v1/contacts/{contact['id']}", headers=h)
    assert refused.status_code == 409, refused.text
    assert refused.json()["live_leads"] == 2 and "2 live leads" in refused.json()["detail"]
    assert (await client.get(f"/api/v1/contacts/{contact['id']}", headers=h)).status_code == 200

    assert (await client.delete(f"/api/v1/leads/{first['id']}", headers=h)).status_code == 204
    still = await client.delete(f"/api/v1/contacts/{contact['id']}", headers=h)
    assert still.status_code == 409 and still.json()["live_leads"] == 1
