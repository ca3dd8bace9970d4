"""What a channel adapter must offer: its platform key, its limits, a send, and whether a failed send may still
have reached the person.

The last one is what keeps sending exactly-once: a send that failed before anything left may be retried, one that
may have left must be looked at first, never resent blindly.

Named `ChannelAdapter`, not `Channel`, because `crm.models.Channel` already names a message's kind (DM, public
reply, e-mail), which is a different thing from the way it is delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from crm.models import Message


@dataclass(frozen=True, slots=True)
class ChannelLimits:
    """What one message on this channel may hold."""

    max_chars: int


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a channel learnt from sending: the platform's id for the message, when it gives one."""

    external_id: str | None = None


@runtime_checkable
class ChannelAdapter(Protocol):
    @property
    def platform(self) -> str:
        """The platform key messages on this channel carry (`Message.platform`)."""
        ...

    @property
    def limits(self) -> ChannelLimits: ...

    async def send(self, message: Message) -> Delivery:
        """Deliver the message's body to the person; raise if it did not go out as asked."""
        ...

    def may_have_sent(self, error: BaseException) -> bool:
        """Whether the message may have reached the person although `send` raised `error`."""
        ...
