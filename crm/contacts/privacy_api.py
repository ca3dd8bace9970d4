"""Privacy routes under /api/v1/contacts/{id}: consent records, do-not-contact and contact-initiated flags,
the personal-data export and erasure (both admin-only and audited).

Recording an opt-out is open to anyone who may write and sees the person; lifting one, and any change to consent or
the contact-initiated basis, is an admin's, with a reason that goes to the audit log (crm.access.policy decides both)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from litestar import Controller, get, post, put
from litestar.params import FromPath, JSONBody
from sqlmodel import Field, SQLModel, col, select

from crm.access import audit
from crm.access.policy import readable_contact, require_admin, require_privacy_change
from crm.contacts.privacy import erase_contact, export_contact
from crm.errors import NotFound
from crm.http.deps import AppSettings, CurrentUser, DbSession
from crm.models import ConsentRecord, Contact, utcnow

Basis = Literal["consent", "legitimate_interest", "contract", "contact_initiated", "public_task"]


def _reason() -> Any:
    return Field(default=None, max_length=500, description="Why; required for every change only an admin may make.")


class ConsentCreate(SQLModel):
    basis: Basis
    channel: str = Field(default="any", min_length=1, max_length=20)
    source: str = Field(default="", max_length=200)
    reason: str | None = _reason()


class ConsentWithdraw(SQLModel):
    reason: str | None = _reason()


class ConsentPublic(SQLModel):
    id: int
    contact_id: int
    basis: str
    channel: str
    source: str
    granted_at: datetime
    withdrawn_at: datetime | None
    recorded_by_user_id: int | None


class PrivacyFlags(SQLModel):
    do_not_contact: bool | None = None
    contact_initiated: bool | None = None
    reason: str | None = _reason()


class PrivacyState(SQLModel):
    contact_id: int
    do_not_contact: bool
    contact_initiated: bool
    consent_basis: str | None
    consent_at: datetime | None


class ErasureReport(SQLModel):
    contact_id: int
    erased: dict[str, int]


def privacy_state(contact: Contact) -> PrivacyState:
    assert contact.id is not None
    return PrivacyState(
        contact_id=contact.id,
        do_not_contact=contact.do_not_contact,
        contact_initiated=contact.contact_initiated,
        consent_basis=contact.consent_basis,
        consent_at=contact.consent_at,
    )


async def _any_contact(session: DbSession, contact_id: int) -> Contact:
    contact = await session.get(Contact, contact_id)
    if contact is None or contact.deleted_at is not None:
        raise NotFound(f"contact {contact_id} does not exist")
    return contact


class PrivacyController(Controller):
    path = "/api/v1/contacts/{contact_id:int}"
    tags = ["privacy"]

    @get("/consents", summary="A contact's consent and lawful-basis records")
    async def consents(self, session: DbSession, user: CurrentUser, contact_id: FromPath[int]) -> list[ConsentPublic]:
        await readable_contact(session, user, contact_id)
        rows = await session.exec(
            select(ConsentRecord).where(ConsentRecord.contact_id == contact_id).order_by(col(ConsentRecord.id))
        )
        return [ConsentPublic.model_validate(r) for r in rows]

    @post("/consents", summary="Record consent or a lawful basis for contacting this person")
    async def add_consent(
        self, session: DbSession, user: CurrentUser, contact_id: FromPath[int], data: JSONBody[ConsentCreate]
    ) -> ConsentPublic:
        contact = await readable_contact(session, user, contact_id)
        reason = require_privacy_change(user, data.reason, protective=False)
        now = utcnow()
        record = ConsentRecord(
            contact_id=contact_id,
            basis=data.basis,
            channel=data.channel,
            source=data.source,
            granted_at=now,
            recorded_by_user_id=user.id,
        )
        contact.consent_basis, contact.consent_at, contact.updated_at = data.basis, now, now
        contact.version += 1
        if data.basis == "contact_initiated":
            contact.contact_initiated = True
        session.add_all([record, contact])
        await session.flush()
        audit.record(
            session,
            "consent.recorded",
            actor=user.email,
            actor_user_id=user.id,
            object_type="contact",
            object_id=contact_id,
            detail={"consent_id": record.id, "basis": data.basis, "channel": data.channel, "reason": reason},
        )
        return ConsentPublic.model_validate(record)

    @post("/consents/{consent_id:int}/withdraw", summary="Withdraw a consent record", status_code=200)
    async def withdraw_consent(
        self,
        session: DbSession,
        user: CurrentUser,
        contact_id: FromPath[int],
        consent_id: FromPath[int],
        data: JSONBody[ConsentWithdraw | None] = None,
    ) -> ConsentPublic:
        contact = await readable_contact(session, user, contact_id)
        reason = require_privacy_change(user, data.reason if data else None, protective=False)
        record = await session.get(ConsentRecord, consent_id)
        if record is None or record.contact_id != contact_id:
            raise NotFound(f"consent {consent_id} does not exist")
        now = utcnow()
        if record.withdrawn_at is None:
            record.withdrawn_at = now
            session.add(record)
            await session.flush()
            live = (
                await session.exec(
                    select(ConsentRecord)
                    .where(ConsentRecord.contact_id == contact_id, col(ConsentRecord.withdrawn_at).is_(None))
                    .order_by(col(ConsentRecord.id).desc())
                )
            ).first()
            contact.consent_basis = live.basis if live else None
            contact.consent_at = live.granted_at if live else None
            contact.updated_at, contact.version = now, contact.version + 1
            session.add(contact)
            audit.record(
                session,
                "consent.withdrawn",
                actor=user.email,
                actor_user_id=user.id,
                object_type="contact",
                object_id=contact_id,
                detail={"consent_id": consent_id, "reason": reason},
            )
        return ConsentPublic.model_validate(record)

    @get("/privacy", summary="A contact's do-not-contact flag, contact-initiated flag and current basis")
    async def get_privacy(self, session: DbSession, user: CurrentUser, contact_id: FromPath[int]) -> PrivacyState:
        return privacy_state(await readable_contact(session, user, contact_id))

    @put(
        "/privacy",
        summary="Record an opt-out (do-not-contact, honoured on every channel); admins lift it or set contact-initiated",
        description="Setting `do_not_contact` to true is open to every user who may write and sees the contact. "
        "Lifting it or changing `contact_initiated` is for admins and needs a `reason`, kept in the audit log.",
    )
    async def set_privacy(
        self, session: DbSession, user: CurrentUser, contact_id: FromPath[int], data: JSONBody[PrivacyFlags]
    ) -> PrivacyState:
        contact = await readable_contact(session, user, contact_id)
        changed: dict[str, Any] = {}
        for name in ("do_not_contact", "contact_initiated"):
            value = getattr(data, name)
            if value is not None and value != getattr(contact, name):
                changed[name] = value
        # Only a newly recorded opt-out is protective; a change that also touches the basis needs an admin.
        reason = require_privacy_change(user, data.reason, protective=changed in ({}, {"do_not_contact": True}))
        for name, value in changed.items():
            setattr(contact, name, value)
        if changed:
            if reason:
                changed["reason"] = reason
            contact.updated_at, contact.version = utcnow(), contact.version + 1
            session.add(contact)
            audit.record(
                session,
                "contact.privacy_changed",
                actor=user.email,
                actor_user_id=user.id,
                object_type="contact",
                object_id=contact_id,
                detail=changed,
            )
        return privacy_state(contact)

    @get("/personal-data", summary="Everything held about this person, as JSON (admins; audited)")
    async def export(self, session: DbSession, user: CurrentUser, contact_id: FromPath[int]) -> dict[str, Any]:
        require_admin(user, "nothing here: personal-data exports are for admins")
        contact = await _any_contact(session, contact_id)
        audit.record(
            session,
            "export.personal_data",
            actor=user.email,
            actor_user_id=user.id,
            object_type="contact",
            object_id=contact_id,
        )
        return await export_contact(session, contact)

    @post("/erase", summary="Erase this person everywhere and suppress them (admins; audited)", status_code=200)
    async def erase(
        self, session: DbSession, settings: AppSettings, user: CurrentUser, contact_id: FromPath[int]
    ) -> ErasureReport:
        require_admin(user, "nothing here: erasure is for admins")
        contact = await _any_contact(session, contact_id)
        return ErasureReport(contact_id=contact_id, erased=await erase_contact(session, settings, contact, user))
