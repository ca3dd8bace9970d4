"""The change log and outbox hooks are installed by the composition roots, once, and not by importing the engine."""

from __future__ import annotations

import subprocess
import sys

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.integrations.hooks import install, installed
from crm.models import ChangeLog, Contact, Lead, Pipeline, WebhookEvent


def test_importing_the_engine_leaves_every_flush_as_it_was() -> None:
    probe = "import sys, crm.db; print(sorted(m for m in sys.modules if m.startswith('crm.integrations')))"
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"


async def test_installing_the_hooks_again_still_writes_one_change_and_one_event_per_new_lead(
    session: AsyncSession,
) -> None:
    install()
    install()
    assert installed()
    pipeline = (await session.exec(select(Pipeline).where(col(Pipeline.is_default).is_(True)))).one()
    contact = Contact(display_name="Ana")
    session.add(contact)
    await session.flush()
    assert contact.id is not None and pipeline.id is not None
    lead = Lead(contact_id=contact.id, pipeline_id=pipeline.id)
    session.add(lead)
    await session.commit()
    changes = (await session.exec(select(ChangeLog).where(ChangeLog.entity == "lead"))).all()
    events = (await session.exec(select(WebhookEvent).where(WebhookEvent.type == "lead.created"))).all()
    assert [(c.entity_id, c.op) for c in changes] == [(lead.id, "create")]
    assert [e.payload["lead_id"] for e in events] == [lead.id]
