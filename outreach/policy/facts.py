"""What the policy decides about and with: the attempt (a message one step from the person), the facts the rules
read, and the two answers, `Allow` and `Deny(rule, setting, explanation)`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlmodel.ext.asyncio.session import AsyncSession

from crm.models import Channel, Contact, Lead, PlatformAccount, User, utcnow
from crm.settings import Settings

Stage = Literal["draft", "approve", "send"]
Purpose = Literal["marketing", "service"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """A message someone wants to move one step towards the person: what, to whom, by whom, at which stage."""

    lead: Lead
    author: User
    stage: Stage
    channel: str = Channel.DM.value
    conversation_id: int | None = None
    # Service messages (after a support case) answer the person; everything else sells and needs a basis to.
    purpose: Purpose = "marketing"
    # A connector sending on its own, as opposed to the rep sending by hand and marking it sent.
    automated: bool = False
    now: datetime = field(default_factory=utcnow)

    @property
    def platform(self) -> str:
        return self.lead.platform or "file"


@dataclass(frozen=True, slots=True)
class Allow:
    contact: Contact
    allowed: Literal[True] = True


@dataclass(frozen=True, slots=True)
class Deny:
    """A refusal: `rule` is stable for clients, `setting` is where it is configured, `explanation` is for the rep."""

    rule: str
    setting: str
    explanation: str
    extra: dict[str, Any] = field(default_factory=dict)
    allowed: Literal[False] = False


Decision = Allow | Deny


@dataclass(frozen=True, slots=True)
class Facts:
    """What every rule reads, loaded once per decision."""

    session: AsyncSession
    settings: Settings
    attempt: Attempt
    contact: Contact
    accounts: tuple[PlatformAccount, ...]

    @property
    def account(self) -> PlatformAccount | None:
        """The person's account on the platform the message goes out on."""
        return next((a for a in self.accounts if a.platform == self.attempt.platform), None)


Rule = Callable[[Facts], Awaitable[Deny | None]]
