"""The door to the outreach policy: `ensure_may_send` asks `outreach.policy.decide` and turns a refusal into a 409
problem naming the rule and the setting, audited.

Every door asks here (the API, the board, later jobs and connectors), at draft, at approval and at send: a person may
opt out, be erased or be messaged from another watch between the steps, and the hour of the day matters only when
the message leaves. The refusal's audit row is written in its own transaction, because the request that was refused
rolls back whatever it did.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access import audit
from crm.errors import OutreachBlocked
from crm.models import Channel, Contact, Lead, User
from crm.settings import Settings
from outreach.policy.decide import decide
from outreach.policy.facts import Attempt, Deny, Purpose, Stage

# Templates that answer the person rather than sell to them (the marketing-consent rule leaves them alone).
SERVICE_TEMPLATES = frozenset({"after_support_case"})


async def ensure_may_send(
    session: AsyncSession,
    settings: Settings,
    lead: Lead,
    author: User,
    *,
    conversation_id: int | None,
    sending: bool = False,
    stage: Stage | None = None,
    channel: str = Channel.DM.value,
    purpose: Purpose = "marketing",
    automated: bool = False,
) -> Contact:
    """Every rule for this message at this stage (`sending` is the older spelling of stage "send"); returns the
    contact, or raises OutreachBlocked with `rule`, `setting` and `stage` in the problem document."""
    attempt = Attempt(
        lead=lead,
        author=author,
        stage=stage or ("send" if sending else "draft"),
        channel=channel,
        conversation_id=conversation_id,
        purpose=purpose,
        automated=automated,
    )
    decision = await decide(session, settings, attempt)
    if isinstance(decision, Deny):
        await audit_refusal(session, attempt, decision)
        raise OutreachBlocked(
            decision.explanation,
            extra={**decision.extra, "rule": decision.rule, "setting": decision.setting, "stage": attempt.stage},
        )
    return decision.contact


async def audit_refusal(session: AsyncSession, attempt: Attempt, refusal: Deny) -> None:
    """One `outreach.refused` row, committed apart from the caller's transaction (which the refusal rolls back).
    Callers ask the policy before they write, so the separate connection never waits on the caller's own lock."""
    bind = session.bind
    assert isinstance(bind, AsyncEngine)
    async with AsyncSession(bind) as separate:
        audit.record(
            separate,
            "outreach.refused",
            actor=attempt.author.email,
            actor_user_id=attempt.author.id,
            object_type="lead",
            object_id=attempt.lead.id,
            detail={
                "rule": refusal.rule,
                "setting": refusal.setting,
                "stage": attempt.stage,
                "channel": attempt.channel,
                "conversation_id": attempt.conversation_id,
                "explanation": refusal.explanation,
            },
        )
        await separate.commit()
