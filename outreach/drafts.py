"""Drafting a message for a lead: the send policy first, then the personalised text, then the draft record.

Every door that drafts (the API, the board, later jobs) calls `create_draft`, so no draft exists that the policy
would have refused at the time it was written.
"""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.models import Lead, Mention, Message, PlatformAccount, User
from crm.settings import Settings
from outreach.compose.drafting import DraftContext, render_first_dm
from outreach.conversations import add_draft, conversation_for, find_conversation
from outreach.send_policy import ensure_may_send


async def create_draft(
    session: AsyncSession, settings: Settings, lead: Lead, author: User, template: str | None = None
) -> Message:
    """A first-DM draft personalised from the lead's mention.

    The send policy is checked here, before the rep copies the text out to send it (and again when it is marked
    sent): do-not-contact, erased and suppressed people, the recipient cooldown and the rep's daily cap all refuse
    the draft with the rule that applied.
    """
    existing = await find_conversation(session, lead)
    contact = await ensure_may_send(
        session, settings, lead, author, conversation_id=existing.id if existing else None, sending=False
    )
    mention = await session.get(Mention, lead.first_mention_id) if lead.first_mention_id else None
    accounts = list(await session.exec(select(PlatformAccount).where(PlatformAccount.contact_id == contact.id)))
    accounts.sort(key=lambda a: (a.platform != lead.platform, a.id or 0))  # the lead's own platform first
    body = await render_first_dm(
        DraftContext(
            name=contact.display_name,
            platform=lead.platform or "file",
            mention_text=mention.text if mention else "",
            competitor=mention.matched_competitors[0] if mention and mention.matched_competitors else None,
            product=settings.product_name,
            company=settings.company_name,
            handles=tuple(a.handle for a in accounts),
            other_names=tuple(a.display_name for a in accounts if a.display_name),
        ),
        template,
    )
    conversation = await conversation_for(session, lead, found=existing)
    return await add_draft(
        session, conversation, body, template="first_dm" if template is None else "custom", author=author
    )
