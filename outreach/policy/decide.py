"""The one decision every outbound message passes at draft, at approval and at send: allow, or deny naming the rule,
the setting behind it and what the rep can do about it.

Rules run in the order a rep can act on them: who the person is (opted out, suppressed, consent), what the platform
permits, how often the person and the rep are messaged, and last the hour of the day, which only asks to wait.
`decide` only reads; the refusal is audited and raised by `outreach.send_policy.ensure_may_send`.
"""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.models import Contact, PlatformAccount
from crm.settings import Settings
from outreach.policy import people, platforms, quiet_hours, volume
from outreach.policy.facts import Allow, Attempt, Decision, Deny, Facts, Rule

RULES: tuple[Rule, ...] = (
    people.outreach_paused,
    people.contactable,
    people.not_suppressed,
    people.marketing_consent,
    platforms.eligible_on_platform,
    volume.recipient_cooled_down,
    volume.one_first_dm_until_answered,
    volume.within_daily_cap,
    quiet_hours.outside_quiet_hours,
)


async def decide(session: AsyncSession, settings: Settings, attempt: Attempt) -> Decision:
    """Allow or deny `attempt` as things stand at `attempt.now`; the first rule that refuses decides."""
    contact = await session.get(Contact, attempt.lead.contact_id)
    if contact is None or contact.deleted_at is not None:
        return Deny("contact_gone", "the contact record", "the lead's contact no longer exists")
    accounts = tuple(await session.exec(select(PlatformAccount).where(PlatformAccount.contact_id == contact.id)))
    facts = Facts(session, settings, attempt, contact, accounts)
    for rule in RULES:
        refusal = await rule(facts)
        if refusal is not None:
            return refusal
    return Allow(contact)
