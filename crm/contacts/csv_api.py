"""CSV routes: `POST /api/v1/contacts/import` and the exports `GET /api/v1/leads/export.csv` and
`/api/v1/contacts/export.csv`, filtered like the lists and audited."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromQuery, QueryParameter
from sqlmodel import col, select

from crm.access import audit
from crm.access.policy import contact_scope, require_writer
from crm.contacts.csv_io import ImportReport, import_contacts, to_csv
from crm.errors import InvalidInput
from crm.http.deps import AppSettings, CurrentUser, DbSession
from crm.leads.filters import LeadFilter, provide_lead_filter
from crm.models import Contact, Lead, PlatformAccount, User

MAX_IMPORT_BYTES = 10 * 1024 * 1024
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
MAX_EXPORT_ROWS = 100_000
LEAD_COLUMNS = (
    "id",
    "contact_id",
    "display_name",
    "email",
    "watch_id",
    "pipeline_id",
    "stage",
    "score",
    "owner_id",
    "platform",
    "external_id",
    "created_at",
    "updated_at",
)
CONTACT_COLUMNS = (
    "id",
    "display_name",
    "email",
    "external_id",
    "organisation_id",
    "handles",
    "do_not_contact",
    "contact_initiated",
    "consent_basis",
    "created_at",
    "updated_at",
)


def _csv_response(body: str, filename: str) -> Response[str]:
    return Response(
        body,
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _audit_export(session: DbSession, user: User, what: str, rows: int, filters: dict[str, Any]) -> None:
    used = {k: v if not isinstance(v, datetime) else v.isoformat() for k, v in filters.items() if v not in (None, [])}
    audit.record(
        session,
        f"export.{what}_csv",
        actor=user.email,
        actor_user_id=user.id,
        object_type=what,
        detail={"rows": rows, "filters": used},
    )


class CsvController(Controller):
    path = "/api/v1"
    tags = ["csv"]

    @post(
        "/contacts/import",
        summary="Import contacts from CSV (column mapping, dry run, dedup, row errors)",
        responses={200: ResponseSpec(ImportReport, description="A dry run: what the import would do; nothing written")},
        opt={"raw_body": ("text/csv", "The CSV file, UTF-8, with a header row")},
    )
    async def import_csv(
        self,
        request: Request[Any, Any, Any],
        session: DbSession,
        settings: AppSettings,
        user: CurrentUser,
        dry_run: FromQuery[bool] = False,
        mapping: Annotated[
            str | None, QueryParameter(description='JSON object {"CSV column": "field"}; default: same names')
        ] = None,
        platform: Annotated[str | None, QueryParameter(max_length=20, description="Platform of handle columns")] = None,
    ) -> Response[ImportReport]:
        require_writer(user, "contacts")
        body = await request.body()
        if len(body) > MAX_IMPORT_BYTES:
            raise InvalidInput(f"imports are limited to {MAX_IMPORT_BYTES} bytes")
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput("the CSV must be UTF-8") from exc
        columns: dict[str, str] | None = None
        if mapping:
            try:
                columns = json.loads(mapping)
            except ValueError as exc:
                raise InvalidInput("mapping must be a JSON object of CSV column to field") from exc
            if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
                raise InvalidInput("mapping must be a JSON object of CSV column to field")
        report = await import_contacts(
            session, settings, text, mapping=columns, default_platform=platform, dry_run=dry_run, user_id=user.id
        )
        # A file-level problem (no header, unknown field) is the caller's error; row errors are part of the report.
        refused = [e for e in report.errors if e.row == 0]
        if refused:
            raise InvalidInput(
                "; ".join(e.message for e in refused), extra={"errors": [asdict(e) for e in report.errors]}
            )
        if not dry_run:
            audit.record(
                session,
                "import.contacts_csv",
                actor=user.email,
                actor_user_id=user.id,
                object_type="contact",
                detail={"rows": report.rows, "created": report.created, "duplicates": report.duplicates},
            )
        return Response(report, status_code=200 if dry_run else 201)

    @get(
        "/leads/export.csv",
        summary="Export the leads a list call would return, as CSV (audited)",
        media_type=CSV_MEDIA_TYPE,
        dependencies={"filters": Provide(provide_lead_filter)},
    )
    async def export_leads(
        self, session: DbSession, user: CurrentUser, filters: NamedDependency[LeadFilter]
    ) -> Response[str]:
        # `filters` carries the caller's scope (crm.leads.filters.provide_lead_filter), as the list's does.
        query = filters.apply(
            select(Lead, Contact)
            .join(Contact, col(Contact.id) == col(Lead.contact_id))
            .where(col(Lead.deleted_at).is_(None))
        )
        query = query.order_by(col(Lead.score).desc().nulls_last(), col(Lead.id).desc())
        rows = list(await session.exec(query.limit(MAX_EXPORT_ROWS + 1)))
        if len(rows) > MAX_EXPORT_ROWS:
            raise InvalidInput(f"more than {MAX_EXPORT_ROWS} leads match: narrow the filters")
        lines = [
            [getattr(contact if name in ("display_name", "email") else lead, name) for name in LEAD_COLUMNS]
            for lead, contact in rows
        ]
        _audit_export(session, user, "leads", len(lines), filters.describe())
        return _csv_response(to_csv(LEAD_COLUMNS, lines), "leads.csv")

    @get(
        "/contacts/export.csv",
        summary="Export the contacts a list call would return, as CSV (audited)",
        media_type=CSV_MEDIA_TYPE,
    )
    async def export_contacts(
        self,
        session: DbSession,
        user: CurrentUser,
        email: Annotated[str | None, QueryParameter(max_length=320)] = None,
        organisation_id: FromQuery[int | None] = None,
        updated_since: FromQuery[datetime | None] = None,
    ) -> Response[str]:
        query = select(Contact).where(col(Contact.deleted_at).is_(None), contact_scope(user))
        if email:
            query = query.where(Contact.email == email.strip().lower())
        if organisation_id is not None:
            query = query.where(Contact.organisation_id == organisation_id)
        if updated_since is not None:  # zone and range checked for every route by crm.http.instants
            query = query.where(col(Contact.updated_at) >= updated_since)
        contacts = list(await session.exec(query.order_by(col(Contact.id)).limit(MAX_EXPORT_ROWS + 1)))
        if len(contacts) > MAX_EXPORT_ROWS:
            raise InvalidInput(f"more than {MAX_EXPORT_ROWS} contacts match: narrow the filters")
        handles: dict[int, list[str]] = {}
        ids = [c.id for c in contacts]
        for i in range(0, len(ids), 1000):
            accounts = await session.exec(
                select(PlatformAccount).where(col(PlatformAccount.contact_id).in_(ids[i : i + 1000]))
            )
            for account in accounts:
                handles.setdefault(account.contact_id or 0, []).append(f"{account.platform}:{account.handle}")
        lines = [
            [
                ";".join(sorted(handles.get(c.id or 0, []))) if name == "handles" else getattr(c, name)
                for name in CONTACT_COLUMNS
            ]
            for c in contacts
        ]
        filters = {"email": email, "organisation_id": organisation_id, "updated_since": updated_since}
        _audit_export(session, user, "contacts", len(lines), filters)
        return _csv_response(to_csv(CONTACT_COLUMNS, lines), "contacts.csv")
