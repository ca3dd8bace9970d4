"""Contacts, platform accounts and leads: find-or-create a person behind a handle, and find or open their lead."""

from __future__ import annotations

from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.leads import opening
from crm.models import Contact, Lead, PlatformAccount, utcnow

ACCOUNT_FIELDS = ("display_name", "bio", "profile_url", "followers", "following", "posts_count", "verified", "dm_open")


async def upsert_account(session: AsyncSession, platform: str, handle: str, **fields: Any) -> PlatformAccount:
    """The account for (platform, handle), created with a new contact if unseen; reach figures refreshed."""
    handle = handle.strip().lstrip("@").lower()
    account = (
        await session.exec(
            select(PlatformAccount).where(PlatformAccount.platform == platform, PlatformAccount.handle == handle)
        )
    ).first()
    if account is None:
        contact = Contact(display_name=fields.get("display_name") or handle)
        session.add(contact)
        await session.flush()
        account = PlatformAccount(platform=platform, handle=handle, contact_id=contact.id)
    for name in ACCOUNT_FIELDS:
        value = fields.get(name)
        if value is not None and value != "":
            setattr(account, name, value)
    if fields.get("external_id"):
        account.external_id = str(fields["external_id"])
    account.updated_at = utcnow()
    session.add(account)
    await session.flush()
    return account


async def open_lead(
    session: AsyncSession,
    contact_id: int,
    watch_id: int | None,
    *,
    platform: str | None = None,
    mention_id: int | None = None,
) -> tuple[Lead, bool]:
    """The lead for this contact in this campaign, opened (crm.leads.opening) if there is none yet; True if new."""
    lead = (await session.exec(select(Lead).where(Lead.contact_id == contact_id, Lead.watch_id == watch_id))).first()
    if lead is not None:
        return lead, False
    return await opening.open_lead(session, contact_id, watch_id, platform=platform, first_mention_id=mention_id), True
