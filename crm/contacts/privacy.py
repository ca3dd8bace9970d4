"""Privacy and consent per contact: consent records, do-not-contact, a full data export, erasure and suppression.

Erasure removes personal data from every table that holds it and keeps only keyed hashes of the person's
identifiers in `suppression`, so `is_suppressed` can stop them from being stored, imported or contacted again.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import sqlalchemy as sa
from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access import audit
from crm.errors import Conflict
from crm.integrations.changelog import record_change
from crm.models import (
    AccountSnapshot,
    AuditEvent,
    ConsentRecord,
    Contact,
    ContactMerge,
    Conversation,
    Lead,
    LeadScore,
    Mention,
    Message,
    Note,
    PlatformAccount,
    QuarantinedPayload,
    StageChange,
    Suppression,
    Task,
    User,
    utcnow,
)
from crm.settings import Settings


def normalise(kind: str, value: str) -> str:
    """The form an identifier is hashed in: handles as `platform:handle`, lower-case, without `@`."""
    value = value.strip().lower()
    if kind == "handle" and ":" in value:
        platform, handle = value.split(":", 1)
        value = f"{platform.strip()}:{handle.strip().lstrip('@')}"
    return value


def suppression_hash(settings: Settings, kind: str, value: str) -> str:
    key = settings.secret_key.get_secret_value().encode()
    return hmac.new(key, f"{kind}\x00{normalise(kind, value)}".encode(), hashlib.sha256).hexdigest()


async def is_suppressed(session: AsyncSession, settings: Settings, kind: str, value: str | None) -> bool:
    """True when this identifier belongs to someone erased or suppressed; call before storing or contacting.

    kind: "email", "handle" (value "platform:handle"), "account_id" ("platform:external id") or "external_id".
    """
    if not value or not value.strip():
        return False
    digest = suppression_hash(settings, kind, value)
    found = await session.exec(select(Suppression.id).where(Suppression.value_hash == digest))
    return found.first() is not None


# The identifiers intake knows an author by: their handle and their platform account id.
AUTHOR_KINDS = ("handle", "account_id")


class AuthorSuppression:
    """The suppression list as intake checks it, read once per import: `covers` says whether an author (by
    platform, handle and account id) belongs to someone erased or opted out, without a query per mention."""

    def __init__(self, settings: Settings, hashes: set[str]) -> None:
        self.settings = settings
        self.hashes = hashes

    def __bool__(self) -> bool:
        return bool(self.hashes)

    def covers(self, platform: str, handle: str, account_id: str | None) -> bool:
        if suppression_hash(self.settings, "handle", f"{platform}:{handle}") in self.hashes:
            return True
        return bool(account_id) and suppression_hash(self.settings, "account_id", f"{platform}:{account_id}") in (
            self.hashes
        )


async def author_suppression(session: AsyncSession, settings: Settings) -> AuthorSuppression:
    found = await session.exec(select(Suppression.value_hash).where(col(Suppression.kind).in_(AUTHOR_KINDS)))
    return AuthorSuppression(settings, set(found.all()))


async def refuse_suppressed(session: AsyncSession, settings: Settings, identifiers: dict[str, str | None]) -> None:
    """Refuse to store a person again under an identifier of someone erased (`identifiers`: kind -> value).

    The refusal names the kind of identifier, not whose it was: the hash is all that is left to compare with.
    """
    for kind, value in identifiers.items():
        if await is_suppressed(session, settings, kind, value):
            label = kind.replace("_", " ")
            raise Conflict(
                f"this {label} belongs to a person who was erased; they cannot be stored or contacted again",
                extra={"suppressed": kind},
            )


async def suppress(session: AsyncSession, settings: Settings, kind: str, value: str, reason: str) -> None:
    digest = suppression_hash(settings, kind, value)
    exists = (await session.exec(select(Suppression.id).where(Suppression.value_hash == digest))).first()
    if exists is None:
        session.add(Suppression(value_hash=digest, kind=kind, reason=reason))


def dump(rows: Any) -> list[dict[str, Any]]:
    return [row.model_dump(mode="json") for row in rows]


async def _family(session: AsyncSession, contact_id: int) -> list[int]:
    """The contact and every contact merged into it (the same person under older records)."""
    ids, frontier = [contact_id], [contact_id]
    while frontier:
        found = list(await session.exec(select(Contact.id).where(col(Contact.merged_into_id).in_(frontier))))
        frontier = [i for i in found if i is not None and i not in ids]
        ids += frontier
    return ids


async def export_contact(session: AsyncSession, contact: Contact) -> dict[str, Any]:
    """Everything Warmline holds about one person, as JSON-ready data (a subject access request)."""
    assert contact.id is not None
    ids = await _family(session, contact.id)
    contacts = list(await session.exec(select(Contact).where(col(Contact.id).in_(ids))))
    accounts = list(await session.exec(select(PlatformAccount).where(col(PlatformAccount.contact_id).in_(ids))))
    account_ids = [a.id for a in accounts]
    mentions = await session.exec(
        select(Mention)
        .where((col(Mention.contact_id).in_(ids)) | (col(Mention.account_id).in_(account_ids)))
        .order_by(col(Mention.id))
    )
    leads = list(await session.exec(select(Lead).where(col(Lead.contact_id).in_(ids)).order_by(col(Lead.id))))
    lead_ids = [lead.id for lead in leads]
    by_lead = col(Message.lead_id).in_(lead_ids)
    return {
        "contact": contact.model_dump(mode="json"),
        "merged_contacts": dump(c for c in contacts if c.id != contact.id),
        "accounts": dump(accounts),
        "mentions": dump(mentions),
        "leads": dump(leads),
        "lead_scores": dump(await session.exec(select(LeadScore).where(col(LeadScore.lead_id).in_(lead_ids)))),
        "stage_changes": dump(await session.exec(select(StageChange).where(col(StageChange.lead_id).in_(lead_ids)))),
        "conversations": dump(await session.exec(select(Conversation).where(col(Conversation.contact_id).in_(ids)))),
        "messages": dump(await session.exec(select(Message).where(by_lead).order_by(col(Message.id)))),
        "notes": dump(await session.exec(select(Note).where(col(Note.lead_id).in_(lead_ids)))),
        "tasks": dump(await session.exec(select(Task).where(col(Task.lead_id).in_(lead_ids)))),
        "consents": dump(await session.exec(select(ConsentRecord).where(col(ConsentRecord.contact_id).in_(ids)))),
    }


async def erase_contact(session: AsyncSession, settings: Settings, contact: Contact, actor: User) -> dict[str, int]:
    """Remove the person's data everywhere, keep hashed identifiers in `suppression`; returns counts per table."""
    assert contact.id is not None
    ids = await _family(session, contact.id)
    contacts = list(await session.exec(select(Contact).where(col(Contact.id).in_(ids))))
    accounts = list(await session.exec(select(PlatformAccount).where(col(PlatformAccount.contact_id).in_(ids))))
    leads = list(await session.exec(select(Lead).where(col(Lead.contact_id).in_(ids))))
    account_ids = [a.id for a in accounts]
    lead_ids = [lead.id for lead in leads]
    now = utcnow()
    reason = f"erased contact {contact.id}"
    # Identifiers long enough to find in free text without hitting unrelated rows.
    identifiers = {x for x in [*(c.email for c in contacts), *(a.handle for a in accounts)] if x and len(x) >= 4}

    for person in contacts:
        if person.email:
            await suppress(session, settings, "email", person.email, reason)
        if person.external_id:
            await suppress(session, settings, "external_id", person.external_id, reason)
        person.display_name, person.email, person.external_id, person.organisation_id = "", None, None, None
        person.consent_basis, person.consent_at, person.do_not_contact = None, None, True
        person.deleted_at, person.updated_at, person.version = person.deleted_at or now, now, person.version + 1
        session.add(person)
        assert person.id is not None
        record_change(session, "contact", person.id, "erase")
    for account in accounts:
        await suppress(session, settings, "handle", f"{account.platform}:{account.handle}", reason)
        if account.external_id:
            await suppress(session, settings, "account_id", f"{account.platform}:{account.external_id}", reason)
        # The (platform, handle) pair is unique, so the handle becomes a placeholder rather than empty.
        account.handle, account.external_id = f"erased-{account.id}", None
        account.display_name, account.bio, account.profile_url, account.profile = "", "", "", {}
        account.followers = account.following = account.posts_count = account.snapshot_at = None
        account.influencer_reasons, account.updated_at = [], now
        session.add(account)
    for lead in leads:
        lead.external_id, lead.score_reasons, lead.response_due_at = None, [], None
        if lead.deleted_at is None:
            lead.deleted_at = now
        lead.updated_at, lead.version = now, lead.version + 1
        session.add(lead)
    await session.flush()

    mentions = await session.exec(
        update(Mention)
        .where((col(Mention.contact_id).in_(ids)) | (col(Mention.account_id).in_(account_ids)))
        .values(
            text="",
            url="",
            raw={},
            in_reply_to=None,
            quote_of=None,
            content_hash="",
            # (platform, external_id) is unique, so a placeholder; re-imports are stopped by the suppressed handle.
            external_id=sa.literal("erased-") + sa.cast(col(Mention.id), sa.String),
            matched_terms=[],
            score_reasons=[],
        )
    )
    # Follower history is the person's data too (their reach over time); nothing needs it once the account is gone.
    snapshots = await session.exec(delete(AccountSnapshot).where(col(AccountSnapshot.account_id).in_(account_ids)))
    messages = await session.exec(
        update(Message).where(col(Message.lead_id).in_(lead_ids)).values(body="", external_id=None, error=None)
    )
    await session.exec(
        update(Conversation).where(col(Conversation.contact_id).in_(ids)).values(external_thread_id=None)
    )
    notes = await session.exec(update(Note).where(col(Note.lead_id).in_(lead_ids)).values(body=""))
    await session.exec(update(Task).where(col(Task.lead_id).in_(lead_ids)).values(title="erased", description=""))
    await session.exec(update(LeadScore).where(col(LeadScore.lead_id).in_(lead_ids)).values(reasons=[]))
    await session.exec(
        update(ConsentRecord).where(col(ConsentRecord.contact_id).in_(ids)).values(source="", withdrawn_at=now)
    )
    # Merge history copies field values (email, name) into its detail, both in contact_merge and the audit log.
    merged = (col(ContactMerge.source_contact_id).in_(ids)) | (col(ContactMerge.target_contact_id).in_(ids))
    await session.exec(update(ContactMerge).where(merged).values(detail={}))
    await session.exec(
        update(AuditEvent)
        .where(
            col(AuditEvent.action) == "contact.merged",
            col(AuditEvent.object_type) == "contact",
            col(AuditEvent.object_id).in_([str(i) for i in ids]),
        )
        .values(detail={})
    )
    # Quarantined intake keeps raw payloads; any that name one of the person's handles or emails goes.
    quarantined = 0
    for identifier in identifiers:
        cleared = await session.exec(
            update(QuarantinedPayload)
            .where(col(QuarantinedPayload.body).contains(identifier))
            .values(body="", reason="erased", status="discarded")
        )
        quarantined += cleared.rowcount
    counts = {
        "contacts": len(contacts),
        "accounts": len(accounts),
        "account_snapshots": snapshots.rowcount,
        "leads": len(leads),
        "mentions": mentions.rowcount,
        "messages": messages.rowcount,
        "notes": notes.rowcount,
        "quarantined_payloads": quarantined,
    }
    # The audit row names only ids and counts: it must not bring back what was erased.
    audit.record(
        session,
        "contact.erased",
        actor=actor.email,
        actor_user_id=actor.id,
        object_type="contact",
        object_id=contact.id,
        detail=counts,
    )
    await session.flush()
    return counts
