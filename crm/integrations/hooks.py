"""Installs the Session hooks that make a commit tell other systems: the sync change log and the webhook outbox's
lead.created / lead.assigned events.

The hooks apply to every Session in the process, so they are installed by the composition roots (create_app, the
worker's startup, the CLI, the demo, the test harness) rather than as a side effect of importing the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from crm.integrations import changelog, outbox

# In this order: the change log's before_commit flushes what is still pending before the outbox writes its events.
HOOKS: tuple[tuple[str, Callable[..., Any]], ...] = (
    ("after_flush", changelog.collect_changes),
    ("before_commit", changelog.write_changes),
    ("after_soft_rollback", changelog.forget_changes),
    ("after_flush", outbox.notice_lead_events),
    ("before_commit", outbox.write_lead_events),
    ("after_soft_rollback", outbox.forget_lead_events),
)


def install() -> None:
    """Register the hooks on Session; calling it again (a second app in one process, say) changes nothing."""
    for identifier, hook in HOOKS:
        if not event.contains(Session, identifier, hook):
            event.listen(Session, identifier, hook)


def installed() -> bool:
    return all(event.contains(Session, identifier, hook) for identifier, hook in HOOKS)
