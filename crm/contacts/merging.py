"""Merge two contacts that are the same person: accounts, mentions, conversations and leads move to the survivor,
the duplicate is kept as a soft-deleted row pointing at it, and a ContactMerge row records what moved.

Erased people are never merged back: an erased contact is deleted (so not a merge party), and a merge that would
hand the survivor an identifier on the suppression list is refused."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access import audit
from crm.contacts.privacy import refuse_suppressed
from crm.errors import Conflict, InvalidInput
from crm.http.etags import soft_delete, touch
from crm.models import (
    ConsentRecord,
    Contact,
    ContactMerge,
    Conversation,
    Lead,
    Mention,
    Message,
    Note,
    PlatformAccount,
    Task,
)
from crm.settings import Settings

FILLED_FIELDS = ("display_name", "email", "organisation_id", "external_id")


async def _fold_lead(session: AsyncSession, source: Lead, target: Lead) -> None:
    """Both contacts had a lead in the same campaign: the survivor's lead takes the other's records."""
    for model in (Note, Task, Message, Conversation):
        for row in await session.exec(select(model).where(model.lead_id == source.id)):  # type: ignore[attr-defined]
            row.lead_id = target.id
            session.add(row)
    soft_delete(source)
    session.add(source)
    touch(target)
    session.add(target)


async def merge_contacts(
    session: AsyncSession,
    settings: Settings,
    target: Contact,
    source: Contact,
    *,
    actor: str,
    actor_user_id: int | None = None,
) -> ContactMerge:
    if target.id == source.id:
        raise InvalidInput("a contact cannot be merged into itself")
    for party in (source, target):
        if party.merged_into_id is not None or party.deleted_at is not None:
            raise Conflict(f"contact {party.id} has already been merged, deleted or erased")
    # Checked before anything moves: the identifiers the survivor would take over from the duplicate.
    await refuse_suppressed(
        session,
        settings,
        {name: getattr(source, name) for name in ("email", "external_id") if not getattr(target, name)},
    )
    detail: dict[str, Any] = {"accounts": [], "mentions": 0, "leads_moved": [], "leads_folded": {}, "fields": {}}

    for account in await session.exec(select(PlatformAccount).where(PlatformAccount.contact_id == source.id)):
        account.contact_id = target.id
        session.add(account)
        detail["accounts"].append(account.id)
    for mention in await session.exec(select(Mention).where(Mention.contact_id == source.id)):
        mention.contact_id = target.id
        session.add(mention)
        detail["mentions"] += 1
    for model in (Conversation, ConsentRecord):
        for row in await session.exec(select(model).where(model.contact_id == source.id)):  # type: ignore[attr-defined]
            row.contact_id = target.id
            session.add(row)

    # Leads are unique per (contact, campaign), soft-deleted ones included, so a clash folds into the survivor's.
    target_leads = {
        lead.watch_id: lead for lead in await session.exec(select(Lead).where(Lead.contact_id == target.id))
    }
    for lead in list(await session.exec(select(Lead).where(Lead.contact_id == source.id))):
        survivor = target_leads.get(lead.watch_id)
        if survivor is not None:
            if lead.deleted_at is None:
                await _fold_lead(session, lead, survivor)
                detail["leads_folded"][str(lead.id)] = survivor.id
            continue
        lead.contact_id = target.id  # type: ignore[assignment]
        touch(lead)
        session.add(lead)
        detail["leads_moved"].append(lead.id)

    external_id = source.external_id
    if external_id and not target.external_id:
        source.external_id = None  # unique column: free it before the survivor takes it
        session.add(source)
        await session.flush()
    for name in FILLED_FIELDS:
        value = external_id if name == "external_id" else getattr(source, name)
        if value and not getattr(target, name):
            setattr(target, name, value)
            detail["fields"][name] = value
    source.merged_into_id = target.id
    source.do_not_contact = source.do_not_contact or target.do_not_contact
    target.do_not_contact = source.do_not_contact
    soft_delete(source)
    touch(target)
    session.add_all([source, target])
    assert source.id is not None and target.id is not None
    merge = ContactMerge(
        source_contact_id=source.id, target_contact_id=target.id, actor_user_id=actor_user_id, detail=detail
    )
    session.add(merge)
    audit.record(
        session,
        "contact.merged",
        actor=actor,
        actor_user_id=actor_user_id,
        object_type="contact",
        object_id=target.id,
        detail={"source_contact_id": source.id, **detail},
    )
    await session.flush()
    return merge


async def merges_of(session: AsyncSession, contact_id: int) -> list[ContactMerge]:
    rows = await session.exec(
        select(ContactMerge)
        .where(
            (col(ContactMerge.target_contact_id) == contact_id) | (col(ContactMerge.source_contact_id) == contact_id)
        )
        .order_by(col(ContactMerge.at), col(ContactMerge.id))
    )
    return list(rows)
