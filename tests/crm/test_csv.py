from __future__ import annotations

import csv
import io
import json
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from crm.contacts.accounts import open_lead, upsert_account
from crm.contacts.csv_io import neutralise
from crm.contacts.privacy import suppress
from crm.db import make_sessionmaker, session_scope
from crm.models import ConsentRecord, Contact, Lead, Role
from crm.settings import Settings
from tests.conftest import Caller, make_caller

CSV = (
    "Name,E-mail,Twitter,Basis\r\n"
    "Ana Lima,ana@example.com,ana_l,consent\r\n"
    "Ben,BEN@example.com,,\r\n"
    "Ben again,ben@example.com,,\r\n"
    "No id,,,\r\n"
    "Bad,not-an-email,,\r\n"
    "Cleo,cleo@example.com,,maybe\r\n"
    "Known,,known_handle,\r\n"
)
MAPPING = {"Name": "display_name", "E-mail": "email", "Twitter": "handle", "Basis": "consent_basis"}


async def post_import(client: AsyncTestClient[Any], caller: Caller, body: str, **params: Any) -> Any:
    params = {"mapping": json.dumps(MAPPING), "platform": "x", **params}
    return await client.post("/api/v1/contacts/import", content=body.encode(), params=params, headers=caller.headers)


async def known_contact(engine: AsyncEngine) -> int:
    async with session_scope(make_sessionmaker(engine)) as db:
        account = await upsert_account(db, "x", "known_handle", display_name="Known")
        assert account.contact_id is not None
        return account.contact_id


async def test_a_dry_run_reports_what_would_happen_and_writes_nothing(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine
) -> None:
    known = await known_contact(engine)
    response = await post_import(client, admin, CSV, dry_run="true")
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["rows"], report["created"], report["duplicates"], report["dry_run"]) == (7, 2, 2, True)
    assert {(e["row"], e["field"]) for e in report["errors"]} == {(4, None), (5, "email"), (6, "consent_basis")}
    assert {(d["row"], d["contact_id"], d["same_as_row"]) for d in report["duplicate_rows"]} == {
        (3, None, 2),
        (7, known, None),
    }
    async with session_scope(make_sessionmaker(engine)) as db:
        assert len(list(await db.exec(select(Contact)))) == 1


async def test_an_import_creates_contacts_accounts_and_consents_and_dedups_on_the_next_run(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine
) -> None:
    response = await post_import(client, admin, CSV)
    assert response.status_code == 201, response.text
    assert response.json()["created"] == 3
    async with session_scope(make_sessionmaker(engine)) as db:
        ana = (await db.exec(select(Contact).where(Contact.email == "ana@example.com"))).one()
        assert ana.display_name == "Ana Lima" and ana.consent_basis == "consent"
        consents = list(await db.exec(select(ConsentRecord).where(ConsentRecord.contact_id == ana.id)))
        assert [c.source for c in consents] == ["csv import row 1"]
    again = (await post_import(client, admin, CSV)).json()
    assert (again["created"], again["duplicates"]) == (0, 4)
    audit = (await client.get("/api/v1/audit", params={"action": "import"}, headers=admin.headers)).json()["items"]
    assert [e["detail"]["created"] for e in audit] == [0, 3]


async def test_suppressed_people_are_not_imported(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine, settings: Settings
) -> None:
    async with session_scope(make_sessionmaker(engine)) as db:
        await suppress(db, settings, "email", "Ana@Example.com", "erased")
    report = (await post_import(client, admin, CSV)).json()
    assert report["suppressed"] == 1 and report["created"] == 2  # Ana skipped; Ben and Known created


async def test_file_level_problems_are_422_and_readers_cannot_import(
    client: AsyncTestClient[Any], admin: Caller, settings: Settings
) -> None:
    wrong = await post_import(client, admin, CSV, mapping=json.dumps({"Name": "shoe_size"}))
    assert wrong.status_code == 422 and "shoe_size" in wrong.json()["errors"][0]["message"]
    assert (await post_import(client, admin, CSV, mapping="{nope")).status_code == 422
    reader = await make_caller(settings, "reader@example.com", Role.READ_ONLY)
    assert (await post_import(client, reader, CSV)).status_code == 403


def test_cells_a_spreadsheet_would_evaluate_get_an_apostrophe() -> None:
    for risky in ("=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx"):
        assert neutralise(risky) == "'" + risky
    assert neutralise("plain") == "plain" and neutralise(-3) == -3 and neutralise(None) is None


async def test_lead_export_uses_the_list_filters_neutralises_formulas_and_is_audited(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine
) -> None:
    async with session_scope(make_sessionmaker(engine)) as db:
        for handle, stage, score in (("evil", "new", 90.0), ("plain", "contacted", 50.0), ("other", "new", 10.0)):
            account = await upsert_account(
                db, "x", handle, display_name='=HYPERLINK("x")' if handle == "evil" else handle
            )
            assert account.contact_id is not None
            lead, _ = await open_lead(db, account.contact_id, None, platform="x")
            lead.stage, lead.score = stage, score
            db.add(lead)
    response = await client.get("/api/v1/leads/export.csv", params={"stage": "new"}, headers=admin.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["display_name"] for r in rows] == ['\'=HYPERLINK("x")', "other"]
    assert [r["score"] for r in rows] == ["90.0", "10.0"]
    high = await client.get("/api/v1/leads/export.csv", params={"score_min": 40}, headers=admin.headers)
    assert len(list(csv.DictReader(io.StringIO(high.text)))) == 2
    audit = (await client.get("/api/v1/audit", params={"action": "export"}, headers=admin.headers)).json()["items"]
    assert [(e["action"], e["detail"]["rows"]) for e in audit] == [("export.leads_csv", 2), ("export.leads_csv", 2)]


async def test_contact_export_lists_handles_and_respects_visibility(
    client: AsyncTestClient[Any], admin: Caller, engine: AsyncEngine, settings: Settings
) -> None:
    await known_contact(engine)
    response = await client.get("/api/v1/contacts/export.csv", headers=admin.headers)
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["display_name"], r["handles"]) for r in rows] == [("Known", "x:known_handle")]
    rep = await make_caller(settings, "rep@example.com", Role.SALES_REP)
    async with session_scope(make_sessionmaker(engine)) as db:
        lead = (await db.exec(select(Lead))).first()
        assert lead is None  # a contact without a lead is visible to reps too
    rep_rows = list(
        csv.DictReader(io.StringIO((await client.get("/api/v1/contacts/export.csv", headers=rep.headers)).text))
    )
    assert len(rep_rows) == 1
