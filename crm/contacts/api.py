"""Contacts (`/api/v1/contacts`, with platform accounts, upsert by external id and merge with history) and
organisations (`/api/v1/organisations`): keyset-paged lists, If-Match updates, soft deletes.

Who may change which contact or organisation is decided in crm.access.policy; every way a person is stored here checks
the suppression list first (crm.contacts.privacy), so an erased person is not created again."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from litestar import Controller, Response, delete, get, patch, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromQuery, JSONBody, PathParameter, QueryParameter
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access.policy import (
    contact_scope,
    readable_contact,
    readable_organisation,
    require_contact_deletable,
    require_privacy_change,
    require_writer,
    writable_contact,
    writable_organisation,
)
from crm.contacts.merging import merge_contacts, merges_of
from crm.contacts.privacy import refuse_suppressed
from crm.errors import Conflict, InvalidInput
from crm.http.deps import AppSettings, CurrentUser, DbSession
from crm.http.etags import check_if_match, etag, soft_delete, touch
from crm.http.paging import keyset, page_of, parse_sort
from crm.leads.api import ETAG_HEADER, IfMatch
from crm.models import Contact, Organisation, PlatformAccount, User
from crm.schemas import (
    AccountPublic,
    ContactCreate,
    ContactMergePublic,
    ContactMergeRequest,
    ContactPage,
    ContactPublic,
    ContactUpdate,
    OrganisationCreate,
    OrganisationPage,
    OrganisationPublic,
    OrganisationUpdate,
    PathId,
    QueryId,
)
from crm.settings import Settings

CONTACT_SORTS = {"updated_at": ("datetime", False), "created_at": ("datetime", False), "id": ("int", False)}
ContactSort = Literal["updated_at", "-updated_at", "created_at", "-created_at", "id", "-id"]


async def contact_public(session: AsyncSession, contact: Contact) -> ContactPublic:
    accounts = await session.exec(
        select(PlatformAccount).where(PlatformAccount.contact_id == contact.id).order_by(col(PlatformAccount.id))
    )
    return ContactPublic.model_validate(
        contact, update={"accounts": [AccountPublic.model_validate(a) for a in accounts]}
    )


async def _contact_response(session: AsyncSession, contact: Contact, status_code: int = 200) -> Response[ContactPublic]:
    return Response(
        await contact_public(session, contact), status_code=status_code, headers={"ETag": etag("contact", contact)}
    )


async def _check_organisation(session: AsyncSession, organisation_id: int | None) -> None:
    if organisation_id is not None:
        organisation = await session.get(Organisation, organisation_id)
        if organisation is None or organisation.deleted_at is not None:
            raise InvalidInput(f"organisation {organisation_id} does not exist")


async def _check_external_id(session: AsyncSession, external_id: str | None, contact_id: int | None = None) -> None:
    if external_id is not None:
        other = (await session.exec(select(Contact.id).where(Contact.external_id == external_id))).first()
        if other is not None and other != contact_id:
            raise Conflict(f"another contact has external id {external_id!r}")


async def _apply(
    session: AsyncSession,
    settings: Settings,
    user: User,
    contact: Contact,
    changes: dict[str, object],
    *,
    new: bool = False,
) -> None:
    if "organisation_id" in changes:
        await _check_organisation(session, changes["organisation_id"])  # type: ignore[arg-type]
    email = changes.get("email")
    if isinstance(email, str):
        changes["email"] = email.strip().lower()
    # Only identifiers that change are checked: a stored contact keeps its own.
    identifiers: dict[str, str | None] = {}
    for name in ("email", "external_id"):
        value = changes.get(name)
        if isinstance(value, str) and value != getattr(contact, name):
            identifiers[name] = value
    await refuse_suppressed(session, settings, identifiers)
    if changes.get("external_id") is not None:
        await _check_external_id(session, changes["external_id"], contact.id)  # type: ignore[arg-type]
    if changes.get("do_not_contact") is False and contact.do_not_contact and not new:
        # Lifting an opt-out has its own audited route; here it only gets the same refusal.
        require_privacy_change(user, None, protective=False)
    for name, value in changes.items():
        if value is None and name in ("display_name", "do_not_contact"):
            continue
        setattr(contact, name, value)
    if not new:
        touch(contact)
    session.add(contact)
    await session.flush()


class ContactController(Controller):
    path = "/api/v1/contacts"
    tags = ["contacts"]

    @get("/", summary="List contacts you can see, keyset-paged")
    async def list_contacts(
        self,
        session: DbSession,
        user: CurrentUser,
        email: Annotated[str | None, QueryParameter(max_length=320)] = None,
        organisation_id: QueryId = None,
        updated_since: FromQuery[datetime | None] = None,
        sort: FromQuery[ContactSort] = "-updated_at",
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        cursor: Annotated[str | None, QueryParameter(max_length=500)] = None,
    ) -> ContactPage:
        query = select(Contact).where(col(Contact.deleted_at).is_(None), contact_scope(user))
        if email:
            query = query.where(Contact.email == email.strip().lower())
        if organisation_id is not None:
            query = query.where(Contact.organisation_id == organisation_id)
        if updated_since is not None:
            if updated_since.tzinfo is None:
                raise InvalidInput("updated_since needs a time zone (e.g. 2026-01-01T00:00:00Z)")
            query = query.where(col(Contact.updated_at) >= updated_since)
        key = parse_sort(sort, CONTACT_SORTS)  # type: ignore[arg-type]
        rows, next_cursor = page_of(list(await session.exec(keyset(query, Contact, key, cursor, limit))), key, limit)
        return ContactPage(items=[await contact_public(session, c) for c in rows], next_cursor=next_cursor)

    @post("/", summary="Create a contact", response_headers=ETAG_HEADER)
    async def create(
        self, session: DbSession, settings: AppSettings, user: CurrentUser, data: JSONBody[ContactCreate]
    ) -> Response[ContactPublic]:
        require_writer(user, "contacts")
        contact = Contact()
        await _apply(session, settings, user, contact, data.model_dump(), new=True)
        return await _contact_response(session, contact, 201)

    @get("/{contact_id:int}", summary="One contact with its platform accounts", response_headers=ETAG_HEADER)
    async def get_contact(self, session: DbSession, user: CurrentUser, contact_id: PathId) -> Response[ContactPublic]:
        return await _contact_response(session, await readable_contact(session, user, contact_id))

    @patch("/{contact_id:int}", summary="Change a contact (If-Match guards)", response_headers=ETAG_HEADER)
    async def update(
        self,
        session: DbSession,
        settings: AppSettings,
        user: CurrentUser,
        contact_id: PathId,
        data: JSONBody[ContactUpdate],
        if_match: IfMatch = None,
    ) -> Response[ContactPublic]:
        contact = await writable_contact(session, user, contact_id)
        check_if_match(if_match, "contact", contact)
        await _apply(session, settings, user, contact, data.model_dump(exclude_unset=True))
        return await _contact_response(session, contact)

    @delete("/{contact_id:int}", summary="Delete a contact (soft; refused while it has live leads)", status_code=204)
    async def remove(self, session: DbSession, user: CurrentUser, contact_id: PathId, if_match: IfMatch = None) -> None:
        contact = await writable_contact(session, user, contact_id)
        check_if_match(if_match, "contact", contact)
        await require_contact_deletable(session, contact)
        soft_delete(contact)
        session.add(contact)

    @put(
        "/by-external-id/{external_id:str}",
        summary="Create or update the contact with this external id (201 created, 200 updated)",
        response_headers=ETAG_HEADER,
        status_code=200,
        responses={201: ResponseSpec(data_container=ContactPublic, description="Created")},
    )
    async def upsert(
        self,
        session: DbSession,
        settings: AppSettings,
        user: CurrentUser,
        external_id: Annotated[str, PathParameter(min_length=1, max_length=200)],
        data: JSONBody[ContactUpdate],
        if_match: IfMatch = None,
    ) -> Response[ContactPublic]:
        require_writer(user, "contacts")
        if "\x00" in external_id:
            raise InvalidInput("external ids cannot contain NUL characters")
        changes = data.model_dump(exclude_unset=True)
        changes["external_id"] = external_id
        found = (await session.exec(select(Contact).where(Contact.external_id == external_id))).first()
        if found is None:
            contact = Contact()
            await _apply(session, settings, user, contact, changes, new=True)
            return await _contact_response(session, contact, 201)
        assert found.id is not None
        if found.deleted_at is not None:
            raise Conflict(f"the contact with external id {external_id!r} was deleted or merged")
        contact = await writable_contact(session, user, found.id)
        check_if_match(if_match, "contact", contact)
        await _apply(session, settings, user, contact, changes)
        return await _contact_response(session, contact)

    @post("/{contact_id:int}/merge", summary="Fold a duplicate contact into this one (history kept)", status_code=200)
    async def merge(
        self,
        session: DbSession,
        settings: AppSettings,
        user: CurrentUser,
        contact_id: PathId,
        data: JSONBody[ContactMergeRequest],
    ) -> ContactMergePublic:
        target = await writable_contact(session, user, contact_id)
        source = await writable_contact(session, user, data.source_contact_id)
        merge = await merge_contacts(session, settings, target, source, actor=user.email, actor_user_id=user.id)
        return ContactMergePublic.model_validate(merge)

    @get("/{contact_id:int}/merges", summary="The merges this contact took part in")
    async def merges(self, session: DbSession, user: CurrentUser, contact_id: PathId) -> list[ContactMergePublic]:
        await readable_contact(session, user, contact_id)
        return [ContactMergePublic.model_validate(m) for m in await merges_of(session, contact_id)]


def _organisation_response(organisation: Organisation, status_code: int = 200) -> Response[OrganisationPublic]:
    return Response(
        OrganisationPublic.model_validate(organisation),
        status_code=status_code,
        headers={"ETag": etag("organisation", organisation)},
    )


class OrganisationController(Controller):
    path = "/api/v1/organisations"
    tags = ["contacts"]

    @get("/", summary="List organisations, keyset-paged by id")
    async def list_organisations(
        self,
        session: DbSession,
        user: CurrentUser,
        domain: Annotated[str | None, QueryParameter(max_length=253)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        cursor: Annotated[str | None, QueryParameter(max_length=500)] = None,
    ) -> OrganisationPage:
        query = select(Organisation).where(col(Organisation.deleted_at).is_(None))
        if domain:
            query = query.where(Organisation.domain == domain.lower())
        key = parse_sort("id", {"id": ("int", False)})
        rows, next_cursor = page_of(
            list(await session.exec(keyset(query, Organisation, key, cursor, limit))), key, limit
        )
        return OrganisationPage(items=[OrganisationPublic.model_validate(o) for o in rows], next_cursor=next_cursor)

    @post("/", summary="Create an organisation", response_headers=ETAG_HEADER)
    async def create(
        self, session: DbSession, user: CurrentUser, data: JSONBody[OrganisationCreate]
    ) -> Response[OrganisationPublic]:
        require_writer(user, "organisations")
        organisation = Organisation(name=data.name, domain=data.domain.lower() if data.domain else None)
        session.add(organisation)
        await session.flush()
        return _organisation_response(organisation, 201)

    @get("/{organisation_id:int}", summary="One organisation", response_headers=ETAG_HEADER)
    async def get_organisation(
        self, session: DbSession, user: CurrentUser, organisation_id: PathId
    ) -> Response[OrganisationPublic]:
        return _organisation_response(await readable_organisation(session, user, organisation_id))

    @patch("/{organisation_id:int}", summary="Change an organisation (If-Match guards)", response_headers=ETAG_HEADER)
    async def update(
        self,
        session: DbSession,
        user: CurrentUser,
        organisation_id: PathId,
        data: JSONBody[OrganisationUpdate],
        if_match: IfMatch = None,
    ) -> Response[OrganisationPublic]:
        organisation = await writable_organisation(session, user, organisation_id)
        check_if_match(if_match, "organisation", organisation)
        changes = data.model_dump(exclude_unset=True)
        if changes.get("name"):
            organisation.name = changes["name"]
        if "domain" in changes:
            organisation.domain = changes["domain"].lower() if changes["domain"] else None
        touch(organisation)
        session.add(organisation)
        await session.flush()
        return _organisation_response(organisation)

    @delete(
        "/{organisation_id:int}", summary="Delete an organisation (soft); its contacts are unlinked", status_code=204
    )
    async def remove(
        self, session: DbSession, user: CurrentUser, organisation_id: PathId, if_match: IfMatch = None
    ) -> None:
        organisation = await writable_organisation(session, user, organisation_id)
        check_if_match(if_match, "organisation", organisation)
        for contact in await session.exec(select(Contact).where(Contact.organisation_id == organisation_id)):
            contact.organisation_id = None
            touch(contact)
            session.add(contact)
        soft_delete(organisation)
        session.add(organisation)
