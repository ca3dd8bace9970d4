"""A lead's records around the stage machine: tags, and the one activity timeline (mentions, scores, messages,
stage changes, notes, tasks, assignments) assembled from the tables that already hold them."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.models import (
    AuditEvent,
    Lead,
    LeadScore,
    LeadTag,
    Mention,
    MentionMatch,
    Message,
    Note,
    StageChange,
    Tag,
    Task,
    utcnow,
)
from crm.schemas import TimelineItem


async def tag_ids(session: AsyncSession, names: list[str]) -> dict[str, int]:
    """The ids of the tags named, creating the missing ones.

    Two requests can introduce the same new tag at once, each having seen it missing: a plain INSERT then fails the
    unique name for one of them. ON CONFLICT DO NOTHING lets the later insert yield to the row the other wrote (on
    PostgreSQL it waits for that transaction), and the select after it reads the row whoever wrote it.
    """
    if not names:
        return {}
    named = select(Tag.name, Tag.id).where(col(Tag.name).in_(names))
    found = {name: tag_id for name, tag_id in await session.exec(named) if tag_id is not None}
    missing = [name for name in names if name not in found]
    if missing:
        conn = await session.connection()
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        now = utcnow()
        await conn.execute(
            insert(Tag)
            .values([{"name": name, "created_at": now} for name in missing])
            .on_conflict_do_nothing(index_elements=["name"])
        )
        found.update({name: tag_id for name, tag_id in await session.exec(named) if tag_id is not None})
    return found


async def set_lead_tags(session: AsyncSession, lead: Lead, names: list[str]) -> list[str]:
    """Replace a lead's tags with `names` (created on first use); returns the sorted, de-duplicated names."""
    assert lead.id is not None
    wanted = sorted({n.strip().lower() for n in names if n.strip()})
    keep = set((await tag_ids(session, wanted)).values())
    current = {lt.tag_id: lt for lt in await session.exec(select(LeadTag).where(LeadTag.lead_id == lead.id))}
    for tag_id, link in current.items():
        if tag_id not in keep:
            await session.delete(link)
    for tag_id in keep - current.keys():
        session.add(LeadTag(lead_id=lead.id, tag_id=tag_id))
    await session.flush()
    return wanted


async def tags_of(session: AsyncSession, lead_ids: list[int]) -> dict[int, list[str]]:
    if not lead_ids:
        return {}
    rows = await session.exec(
        select(LeadTag.lead_id, Tag.name)
        .join(Tag, col(Tag.id) == col(LeadTag.tag_id))
        .where(col(LeadTag.lead_id).in_(lead_ids))
        .order_by(col(Tag.name))
    )
    found: dict[int, list[str]] = defaultdict(list)
    for lead_id, name in rows:
        found[lead_id].append(name)
    return found


def lead_mentions_query(lead: Lead) -> Any:
    """The contact's mentions that matched this lead's campaign (all of the contact's mentions without one)."""
    query = select(Mention).where(Mention.contact_id == lead.contact_id)
    if lead.watch_id is not None:
        query = query.where(
            select(MentionMatch.id)
            .where(MentionMatch.mention_id == Mention.id, MentionMatch.watch_id == lead.watch_id)
            .exists()
        )
    return query


async def timeline(session: AsyncSession, lead: Lead, *, limit: int = 200) -> list[TimelineItem]:
    """Everything that happened to a lead, newest first (the latest `limit` entries)."""
    assert lead.id is not None
    items: list[TimelineItem] = []
    for mention in await session.exec(lead_mentions_query(lead).limit(limit)):
        assert mention.id is not None
        items.append(
            TimelineItem(
                kind="mention",
                id=mention.id,
                at=mention.posted_at or mention.fetched_at,
                summary=mention.text[:280],
                detail={"platform": mention.platform, "url": mention.url},
            )
        )
    for score in await session.exec(select(LeadScore).where(LeadScore.lead_id == lead.id).limit(limit)):
        assert score.id is not None
        items.append(
            TimelineItem(
                kind="score",
                id=score.id,
                at=score.created_at,
                summary=f"scored {score.score:g} by {score.model_version}",
                detail={"score": score.score, "reasons": score.reasons},
            )
        )
    for message in await session.exec(select(Message).where(Message.lead_id == lead.id).limit(limit)):
        assert message.id is not None
        items.append(
            TimelineItem(
                kind="message",
                id=message.id,
                at=message.sent_at or message.received_at or message.created_at,
                summary=f"{message.direction} {message.status}: {message.body[:200]}",
                detail={"direction": message.direction, "status": message.status},
            )
        )
    for change in await session.exec(select(StageChange).where(StageChange.lead_id == lead.id).limit(limit)):
        assert change.id is not None
        items.append(
            TimelineItem(
                kind="stage_change",
                id=change.id,
                at=change.at,
                summary=f"{change.from_stage} -> {change.to_stage}",
                actor=change.actor,
                detail={"from": change.from_stage, "to": change.to_stage, "reason": change.reason},
            )
        )
    notes = select(Note).where(Note.lead_id == lead.id, col(Note.deleted_at).is_(None)).limit(limit)
    for note in await session.exec(notes):
        assert note.id is not None
        items.append(
            TimelineItem(
                kind="note",
                id=note.id,
                at=note.created_at,
                summary=note.body[:280],
                detail={"author_user_id": note.author_user_id},
            )
        )
    tasks = select(Task).where(Task.lead_id == lead.id, col(Task.deleted_at).is_(None)).limit(limit)
    for task in await session.exec(tasks):
        assert task.id is not None
        items.append(
            TimelineItem(
                kind="task",
                id=task.id,
                at=task.created_at,
                summary=task.title,
                detail={"due_at": task.due_at.isoformat() if task.due_at else None, "done": task.done_at is not None},
            )
        )
    assignments = select(AuditEvent).where(
        AuditEvent.action == "lead.assigned", AuditEvent.object_type == "lead", AuditEvent.object_id == str(lead.id)
    )
    for event in await session.exec(assignments.limit(limit)):
        assert event.id is not None
        items.append(
            TimelineItem(
                kind="assignment",
                id=event.id,
                at=event.at,
                summary=f"owner {event.detail.get('from')} -> {event.detail.get('to')}",
                actor=event.actor,
                detail=event.detail,
            )
        )
    items.sort(key=lambda item: (item.at, item.kind, item.id), reverse=True)
    return items[:limit]
