"""Rules about the person: the workspace's emergency stop, do-not-contact, the suppression list, and a consent
basis for marketing where the workspace requires one."""

from __future__ import annotations

from sqlmodel import col, select

from crm.contacts.privacy import is_suppressed
from crm.models import Channel, ConsentRecord
from outreach.policy.facts import Deny, Facts

# A marketing message needs the person's agreement or an existing relationship, not merely a legitimate interest:
# unsolicited electronic marketing is what consent rules (PECR, the ePrivacy directive) are written against.
MARKETING_BASES = ("consent", "contract", "contact_initiated")
# A public reply under the person's own post answers them where they spoke; direct marketing is a DM or an e-mail.
DIRECT_CHANNELS = (Channel.DM.value, Channel.EMAIL.value)


async def outreach_paused(facts: Facts) -> Deny | None:
    if facts.settings.outreach_paused:
        return Deny(
            "outreach_paused",
            "CRM_OUTREACH_PAUSED",
            "outreach is paused for the whole workspace: nothing can be drafted, approved or sent until an admin "
            "turns it back on (CRM_OUTREACH_PAUSED)",
        )
    return None


async def contactable(facts: Facts) -> Deny | None:
    """People who asked not to be contacted are refused on every channel."""
    if facts.contact.do_not_contact:
        return Deny(
            "do_not_contact",
            "the contact's do-not-contact flag (PUT /api/v1/contacts/{id}/privacy)",
            "this person is on the do-not-contact list",
        )
    return None


async def not_suppressed(facts: Facts) -> Deny | None:
    """An erased or suppressed person back under another record: the intake check only sees identifiers as they
    arrive, so every identifier of the person is checked again here."""
    contact = facts.contact
    identifiers: list[tuple[str, str | None]] = [("email", contact.email), ("external_id", contact.external_id)]
    for account in facts.accounts:
        identifiers.append(("handle", f"{account.platform}:{account.handle}"))
        if account.external_id:
            identifiers.append(("account_id", f"{account.platform}:{account.external_id}"))
    for kind, value in identifiers:
        if await is_suppressed(facts.session, facts.settings, kind, value):
            return Deny(
                "suppressed",
                "the suppression list (erasure and opt-outs)",
                f"this person's {kind.replace('_', ' ')} is on the suppression list (erased or opted out)",
                extra={"suppressed": kind},
            )
    return None


async def marketing_consent(facts: Facts) -> Deny | None:
    """Where the workspace requires it, a marketing DM or e-mail needs a live consent record for the channel."""
    attempt = facts.attempt
    if (
        not facts.settings.marketing_requires_consent
        or attempt.purpose != "marketing"
        or attempt.channel not in DIRECT_CHANNELS
    ):
        return None
    found = await facts.session.exec(
        select(ConsentRecord.id).where(
            ConsentRecord.contact_id == facts.contact.id,
            col(ConsentRecord.withdrawn_at).is_(None),
            col(ConsentRecord.basis).in_(MARKETING_BASES),
            col(ConsentRecord.channel).in_(("any", attempt.channel, attempt.platform)),
        )
    )
    if found.first() is None:
        return Deny(
            "marketing_consent",
            "CRM_MARKETING_REQUIRES_CONSENT",
            "this workspace sends marketing messages only to people who agreed to them, and there is no live consent "
            "record for this person: record their consent first, or reply publicly instead "
            "(CRM_MARKETING_REQUIRES_CONSENT)",
        )
    return None
