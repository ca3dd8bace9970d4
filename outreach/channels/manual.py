"""The manual channel: the rep copies the draft into the platform, sends it there by hand, and marks it sent here.

Nothing leaves Warmline on this channel, so `send` only carries the rep's report (and the platform's id for the
message, when the rep pastes it); the policy and the record follow the same path as any channel.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from crm.errors import Conflict
from crm.models import Direction, Lead, Message, MessageStatus, User
from crm.settings import Settings
from outreach.channels.base import ChannelLimits, Delivery
from outreach.compose.drafting import dm_char_limit
from outreach.conversations import UNSENT
from outreach.send_policy import SERVICE_TEMPLATES, ensure_may_send
from outreach.sending import record_sent


class ManualChannel:
    """One rep's report of a message they sent by hand on `platform`."""

    def __init__(self, platform: str, external_id: str | None = None) -> None:
        self._platform, self._external_id = platform, external_id

    @property
    def platform(self) -> str:
        return self._platform

    @property
    def limits(self) -> ChannelLimits:
        return ChannelLimits(max_chars=dm_char_limit(self._platform))

    async def send(self, message: Message) -> Delivery:
        return Delivery(external_id=self._external_id)

    def may_have_sent(self, error: BaseException) -> bool:
        # The rep reports a send they already made on the platform: whatever fails here, the person has the text.
        return True


async def mark_sent(
    session: AsyncSession, settings: Settings, message: Message, user: User, external_id: str | None = None
) -> Message:
    """A rep sent the draft by hand: record it, stop the response clock if it answers a reply, and move a new lead
    to Contacted. The send policy is asked again: the person may have opted out, been erased or been messaged from
    another campaign since the draft, and the rep's cap counts what went out today."""
    if message.direction != Direction.OUTBOUND.value:
        raise Conflict("only outbound messages can be marked sent")
    if message.status == MessageStatus.SENT.value:
        return message  # marking twice is harmless
    if message.status not in UNSENT:
        raise Conflict(f"a {message.status} message cannot be marked sent")
    lead = await session.get(Lead, message.lead_id)
    assert lead is not None
    await ensure_may_send(
        session,
        settings,
        lead,
        user,
        conversation_id=message.conversation_id,
        stage="send",
        channel=message.channel,
        purpose="service" if message.template in SERVICE_TEMPLATES else "marketing",
    )
    delivery = await ManualChannel(message.platform, external_id).send(message)
    return await record_sent(session, message, lead, user, delivery.external_id)
