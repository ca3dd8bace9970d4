"""The door to the outreach policy: `ensure_may_send` asks `outreach.policy.decide` and turns a refusal into a 409
problem naming the rule and the setting, audited.

Every door asks here (the API, the board, later jobs and connectors), at draft, at approval and at send: a person may
opt out, be erased or be messaged from another watch between the steps, and the hour of the day matters only when
the message leaves. The refusal's audit row travels with the error (`kept`) and is written by whoever rolls the
refused unit of work back (crm.db.roll_back: the request's session, a job's or the CLI's session_scope, the board),
after the rollback, so it stays while the refused change goes and never waits on that change's lock.
"""

from __future__ import annotations

from collections.abc import Callable

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
        raise OutreachBlocked(
            decision.explanation,
            extra={**decision.extra, "rule": decision.rule, "setting": decision.setting, "stage": attempt.stage},
            kept=refusal_record(attempt, decision),
        )
    return decision.contact


def refusal_record(attempt: Attempt, refusal: Deny) -> Callable[[AsyncSession], None]:
    """The `outreach.refused` audit row, added after the refused unit of work rolls back (crm.db.roll_back), so the
    refusal is on record while whatever the action had written is not."""

    # Read now: the rollback expires the rows, and the record is written after it.
    actor, actor_id, lead_id = attempt.author.email, attempt.author.id, attempt.lead.id
    detail = {
        "rule": refusal.rule,
        "setting": refusal.setting,
        "stage": attempt.stage,
        "channel": attempt.channel,
        "conversation_id": attempt.conversation_id,
        "explanation": refusal.explanation,
    }

    def keep(session: AsyncSession) -> None:
        audit.record(
            session,
            "outreach.refused",
            actor=actor,
            actor_user_id=actor_id,
            object_type="lead",
            object_id=lead_id,
            detail=detail,
        )

    return keep
