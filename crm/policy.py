"""Object-level authorization, in one place: which leads, contacts, campaigns and records a caller may see or change.

Every endpoint asks this module. Invisible objects are reported as 404 (their existence is not revealed),
visible but read-only ones as 403. List queries are filtered with the same rules as single reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, exists, false, not_, or_, true
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.errors import NotFound, PermissionDenied
from crm.models import Contact, Lead, Mention, Note, Role, Task, User, Watch

# Roles that read every lead; sales reps read only their own, unassigned and their team's leads.
READ_ALL = frozenset({Role.ADMIN.value, Role.MARKETER.value, Role.READ_ONLY.value})


def is_admin(user: User) -> bool:
    return user.role == Role.ADMIN.value


def require_admin(user: User, what: str = "this") -> None:
    if not is_admin(user):
        raise PermissionDenied(f"only an admin may change {what}")


def require_writer(user: User, what: str = "records") -> None:
    if user.role == Role.READ_ONLY.value:
        raise PermissionDenied(f"a read-only user cannot change {what}")


# --------------------------------------------------------------------------- leads


ScopeKind = Literal["all", "none", "own", "team"]


@dataclass(frozen=True)
class LeadScope:
    """Which leads a caller sees: a kind (it decides the SQL's shape) and the ids the SQL compares with."""

    kind: ScopeKind
    user_id: int | None = None
    team_id: int | None = None


def lead_scope_of(user: User) -> LeadScope:
    if user.role in READ_ALL:
        return LeadScope("all")
    if user.role != Role.SALES_REP.value:
        return LeadScope("none")
    if user.team_id is None:
        return LeadScope("own", user.id)
    return LeadScope("team", user.id, user.team_id)


def lead_scope_condition(kind: ScopeKind, user_id: Any = None, team_id: Any = None) -> ColumnElement[bool]:
    """The rule behind `lead_scope`, for a scope kind; the ids may be values or bind parameters (a statement
    compiled once per shape binds them on each request)."""
    if kind == "all":
        return true()
    if kind == "none":
        return false()
    owner = col(Lead.owner_id)
    conditions: list[ColumnElement[bool]] = [owner == user_id, owner.is_(None)]
    if kind == "team":
        conditions.append(owner.in_(select(User.id).where(col(User.team_id) == team_id)))
    return or_(*conditions)


def lead_scope(user: User) -> ColumnElement[bool]:
    """SQL condition on Lead for the leads this user may see."""
    scope = lead_scope_of(user)
    return lead_scope_condition(scope.kind, scope.user_id, scope.team_id)


async def lead_visible(session: AsyncSession, user: User, lead: Lead) -> bool:
    if user.role in READ_ALL:
        return True
    if user.role != Role.SALES_REP.value:
        return False
    if lead.owner_id is None or lead.owner_id == user.id:
        return True
    if user.team_id is None:
        return False
    owner = await session.get(User, lead.owner_id)
    return owner is not None and owner.team_id == user.team_id


def lead_writable(user: User, lead: Lead) -> bool:
    """Admins change any lead; a rep changes the leads they own and unassigned ones; teammates' leads are read-only."""
    if is_admin(user):
        return True
    return user.role == Role.SALES_REP.value and lead.owner_id in (None, user.id)


async def readable_lead(session: AsyncSession, user: User, lead_id: int) -> Lead:
    lead = await session.get(Lead, lead_id)
    if lead is None or lead.deleted_at is not None or not await lead_visible(session, user, lead):
        raise NotFound(f"lead {lead_id} does not exist")
    return lead


async def writable_lead(session: AsyncSession, user: User, lead_id: int) -> Lead:
    lead = await readable_lead(session, user, lead_id)
    require_lead_write(user, lead)
    return lead


def require_lead_write(user: User, lead: Lead) -> None:
    if not lead_writable(user, lead):
        raise PermissionDenied(f"you may read lead {lead.id} but not change it")


async def check_assignment(session: AsyncSession, user: User, owner_id: int | None) -> None:
    """Admins assign to anyone; a rep may take a lead or hand it to a teammate."""
    if owner_id is not None:
        owner = await session.get(User, owner_id)
        if owner is None or not owner.is_active:
            raise NotFound(f"user {owner_id} does not exist")
        if is_admin(user) or owner_id == user.id:
            return
        if user.role == Role.SALES_REP.value and user.team_id is not None and owner.team_id == user.team_id:
            return
    elif is_admin(user) or user.role == Role.SALES_REP.value:
        return
    raise PermissionDenied("you may not assign this lead to that user")


# --------------------------------------------------------------------------- contacts and mentions


def contact_scope(user: User) -> ColumnElement[bool]:
    """A rep sees contacts with no live lead, or with at least one lead the rep may see."""
    if user.role in READ_ALL:
        return true()
    live = and_(col(Lead.contact_id) == Contact.id, col(Lead.deleted_at).is_(None))
    return or_(not_(exists().where(live)), exists().where(live, lead_scope(user)))


async def contact_visible(session: AsyncSession, user: User, contact_id: int) -> bool:
    if user.role in READ_ALL:
        return True
    query = select(Contact.id).where(Contact.id == contact_id, contact_scope(user))
    return (await session.exec(query)).first() is not None


async def readable_contact(session: AsyncSession, user: User, contact_id: int) -> Contact:
    contact = await session.get(Contact, contact_id)
    if contact is None or contact.deleted_at is not None or not await contact_visible(session, user, contact_id):
        raise NotFound(f"contact {contact_id} does not exist")
    return contact


async def writable_contact(session: AsyncSession, user: User, contact_id: int) -> Contact:
    contact = await readable_contact(session, user, contact_id)
    require_writer(user, "contacts")
    return contact


def mention_scope(user: User) -> ColumnElement[bool]:
    if user.role in READ_ALL:
        return true()
    return or_(
        col(Mention.contact_id).is_(None),
        exists().where(col(Contact.id) == col(Mention.contact_id), contact_scope(user)),
    )


async def readable_mention(session: AsyncSession, user: User, mention_id: int) -> Mention:
    mention = await session.get(Mention, mention_id)
    visible = mention is not None and (
        mention.contact_id is None or await contact_visible(session, user, mention.contact_id)
    )
    if mention is None or not visible:
        raise NotFound(f"mention {mention_id} does not exist")
    return mention


# --------------------------------------------------------------------------- campaigns, pipelines, records


def require_campaign_write(user: User) -> None:
    """Campaigns (watches) are configured by admins and marketers."""
    if user.role not in (Role.ADMIN.value, Role.MARKETER.value):
        raise PermissionDenied("only admins and marketers may change campaigns")


async def readable_watch(session: AsyncSession, user: User, watch_id: int) -> Watch:
    watch = await session.get(Watch, watch_id)
    if watch is None or watch.deleted_at is not None:
        raise NotFound(f"campaign {watch_id} does not exist")
    return watch


async def writable_watch(session: AsyncSession, user: User, watch_id: int) -> Watch:
    watch = await readable_watch(session, user, watch_id)
    require_campaign_write(user)
    return watch


def note_writable(user: User, lead: Lead, note: Note) -> bool:
    return is_admin(user) or (lead_writable(user, lead) and note.author_user_id == user.id)


def task_writable(user: User, lead: Lead, task: Task) -> bool:
    return lead_writable(user, lead) or (user.role != Role.READ_ONLY.value and task.assignee_user_id == user.id)
