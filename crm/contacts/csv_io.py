"""CSV in and out: contact import (column mapping, dry run, dedup, suppression, row-level errors) and safe export.

Every exported text cell that a spreadsheet would read as a formula (= + - @ tab CR) gets a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.contacts.privacy import is_suppressed
from crm.models import ConsentRecord, Contact, PlatformAccount, utcnow
from crm.settings import Settings

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
IMPORT_FIELDS = (
    "display_name",
    "email",
    "external_id",
    "platform",
    "handle",
    "consent_basis",
    "do_not_contact",
    "contact_initiated",
)
CONSENT_BASES = ("consent", "legitimate_interest", "contract", "contact_initiated", "public_task")
MAX_ROWS = 50_000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PLATFORM = re.compile(r"^[a-z0-9_]{1,20}$")
_TRUE, _FALSE = {"1", "true", "yes", "y", "x"}, {"", "0", "false", "no", "n"}
_LOOKUP_CHUNK = 500


def neutralise(value: Any) -> Any:
    """Text that a spreadsheet would evaluate is prefixed with an apostrophe; other values pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else neutralise(v) for v in row])
    return out.getvalue()


@dataclass
class RowError:
    row: int  # 1-based data row; the header is row 0
    message: str
    field: str | None = None


@dataclass
class ImportReport:
    dry_run: bool
    rows: int = 0
    created: int = 0
    duplicates: int = 0
    suppressed: int = 0
    errors: list[RowError] = field(default_factory=list)
    duplicate_rows: list[dict[str, Any]] = field(default_factory=list)
    created_contact_ids: list[int] = field(default_factory=list)


@dataclass
class _Planned:
    row: int
    values: dict[str, Any]


def _flag(value: str) -> bool | None:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


def _parse(row_number: int, raw: dict[str, str], default_platform: str | None) -> tuple[dict[str, Any], list[RowError]]:
    errors: list[RowError] = []
    values: dict[str, Any] = {}
    for name in IMPORT_FIELDS:
        text = (raw.get(name) or "").strip()
        if name in ("do_not_contact", "contact_initiated"):
            flag = _flag(text)
            if flag is None:
                errors.append(RowError(row_number, f"{text!r} is not yes/no", name))
            values[name] = bool(flag)
        else:
            values[name] = text or None
    if values["email"]:
        values["email"] = values["email"].lower()
        if len(values["email"]) > 320 or not _EMAIL.match(values["email"]):
            errors.append(RowError(row_number, "not an email address", "email"))
    if values["handle"]:
        values["handle"] = values["handle"].lstrip("@").lower()
        values["platform"] = (values["platform"] or default_platform or "").lower() or None
        if not values["platform"]:
            errors.append(RowError(row_number, "a handle needs a platform column or ?platform=", "platform"))
        elif not _PLATFORM.match(values["platform"]):
            errors.append(RowError(row_number, "platform must be lower-case letters, digits or _", "platform"))
        if len(values["handle"]) > 200:
            errors.append(RowError(row_number, "longer than 200 characters", "handle"))
    if values["consent_basis"] and values["consent_basis"] not in CONSENT_BASES:
        errors.append(RowError(row_number, f"must be one of {', '.join(CONSENT_BASES)}", "consent_basis"))
    for name, limit in (("display_name", 200), ("external_id", 200)):
        if values[name] and len(values[name]) > limit:
            errors.append(RowError(row_number, f"longer than {limit} characters", name))
    if not (values["email"] or values["external_id"] or values["handle"]):
        errors.append(RowError(row_number, "each row needs an email, an external_id or a handle"))
    return values, errors


def read_rows(text: str, mapping: dict[str, str] | None) -> tuple[list[dict[str, str]], list[RowError]]:
    """Rows keyed by our field names; `mapping` maps CSV columns to fields (default: same names, any case)."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return [], [RowError(0, "the file is empty")]
    except csv.Error as exc:
        return [], [RowError(0, f"not CSV: {exc}")]
    if mapping is None:
        mapping = {h: h.strip().lower() for h in header if h.strip().lower() in IMPORT_FIELDS}
    unknown = sorted(set(mapping.values()) - set(IMPORT_FIELDS))
    missing = sorted(set(mapping) - set(header))
    if unknown:
        return [], [RowError(0, f"unknown fields {unknown}; fields are {', '.join(IMPORT_FIELDS)}")]
    if missing:
        return [], [RowError(0, f"the file has no columns {missing}")]
    positions = {header.index(column): name for column, name in mapping.items()}
    rows: list[dict[str, str]] = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            rows.append({name: cells[i] if i < len(cells) else "" for i, name in positions.items()})
            if len(rows) > MAX_ROWS:
                return [], [RowError(0, f"imports are limited to {MAX_ROWS} rows")]
    except csv.Error as exc:
        return [], [RowError(len(rows) + 1, f"not CSV: {exc}")]
    return rows, []


async def _existing(session: AsyncSession, planned: list[_Planned]) -> dict[tuple[str, str], int]:
    """Contacts already stored under any identifier of the file, looked up in chunks (not one query per row)."""
    found: dict[tuple[str, str], int] = {}
    emails = sorted({p.values["email"] for p in planned if p.values["email"]})
    external = sorted({p.values["external_id"] for p in planned if p.values["external_id"]})
    handles = sorted({(p.values["platform"], p.values["handle"]) for p in planned if p.values["handle"]})
    live = col(Contact.deleted_at).is_(None)
    for i in range(0, len(emails), _LOOKUP_CHUNK):
        rows = await session.exec(
            select(Contact.email, Contact.id).where(col(Contact.email).in_(emails[i : i + _LOOKUP_CHUNK]), live)
        )
        found.update({("email", e): cid for e, cid in rows if e and cid})
    for i in range(0, len(external), _LOOKUP_CHUNK):
        rows = await session.exec(
            select(Contact.external_id, Contact.id).where(col(Contact.external_id).in_(external[i : i + _LOOKUP_CHUNK]))
        )
        found.update({("external_id", x): cid for x, cid in rows if x and cid})
    for i in range(0, len(handles), _LOOKUP_CHUNK):
        chunk = handles[i : i + _LOOKUP_CHUNK]
        accounts = await session.exec(
            select(PlatformAccount.platform, PlatformAccount.handle, PlatformAccount.contact_id).where(
                col(PlatformAccount.handle).in_([h for _, h in chunk])
            )
        )
        wanted = set(chunk)
        found.update({("handle", f"{p}:{h}"): cid for p, h, cid in accounts if (p, h) in wanted and cid})
    return found


def _keys(values: dict[str, Any]) -> list[tuple[str, str]]:
    keys = []
    if values["email"]:
        keys.append(("email", values["email"]))
    if values["external_id"]:
        keys.append(("external_id", values["external_id"]))
    if values["handle"]:
        keys.append(("handle", f"{values['platform']}:{values['handle']}"))
    return keys


async def import_contacts(
    session: AsyncSession,
    settings: Settings,
    text: str,
    *,
    mapping: dict[str, str] | None,
    default_platform: str | None,
    dry_run: bool,
    user_id: int | None,
) -> ImportReport:
    """Create a contact per new person; rows matching a stored or earlier row are duplicates, not copies."""
    report = ImportReport(dry_run=dry_run)
    rows, file_errors = read_rows(text, mapping)
    report.errors += file_errors
    report.rows = len(rows)
    planned: list[_Planned] = []
    for number, raw in enumerate(rows, start=1):
        values, errors = _parse(number, raw, default_platform)
        if errors:
            report.errors += errors
            continue
        if any([await is_suppressed(session, settings, kind, value) for kind, value in _keys(values)]):
            report.suppressed += 1  # an erased or suppressed person: never re-imported
            continue
        planned.append(_Planned(number, values))
    known = await _existing(session, planned)
    seen_in_file: dict[tuple[str, str], int] = {}
    to_create: list[_Planned] = []
    for plan in planned:
        keys = _keys(plan.values)
        stored = next((known[k] for k in keys if k in known), None)
        earlier = next((seen_in_file[k] for k in keys if k in seen_in_file), None)
        if stored is not None or earlier is not None:
            report.duplicates += 1
            report.duplicate_rows.append({"row": plan.row, "contact_id": stored, "same_as_row": earlier})
            continue
        seen_in_file.update({k: plan.row for k in keys})
        to_create.append(plan)
    report.created = len(to_create)
    if dry_run:
        return report
    now = utcnow()
    for plan in to_create:
        v = plan.values
        contact = Contact(
            display_name=v["display_name"] or v["handle"] or (v["email"] or "").split("@")[0],
            email=v["email"],
            external_id=v["external_id"],
            consent_basis=v["consent_basis"],
            consent_at=now if v["consent_basis"] else None,
            do_not_contact=v["do_not_contact"],
            contact_initiated=v["contact_initiated"] or v["consent_basis"] == "contact_initiated",
            created_at=now,
            updated_at=now,
        )
        session.add(contact)
        await session.flush()
        assert contact.id is not None
        report.created_contact_ids.append(contact.id)
        if v["handle"]:
            session.add(PlatformAccount(platform=v["platform"], handle=v["handle"], contact_id=contact.id))
        if v["consent_basis"]:
            session.add(
                ConsentRecord(
                    contact_id=contact.id,
                    basis=v["consent_basis"],
                    source=f"csv import row {plan.row}",
                    granted_at=now,
                    recorded_by_user_id=user_id,
                )
            )
    await session.flush()
    return report
