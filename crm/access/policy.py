"""Object-level authorization, in one place: which leads, contacts, organisations, watches and records a caller
may see or change, and who may change a person's privacy state.

Every endpoint asks this module. Invisible objects are reported as 404 (their existence is not revealed),
visible but read-only ones as 403. List queries are filtered with the same rules as single reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, exists, false, func, not_, or_, true
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from crm.models import Contact, Lead, Mention, Note, Organisation, Role, Task, User, Watch

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


def lead_write_condition(user: User) -> ColumnElement[bool]:
    """`lead_writable` as SQL on Lead, for rules that look at many leads at once."""
    if is_admin(user):
        return true()
    if user.role != Role.SALES_REP.value:
        return false()
    return or_(col(Lead.owner_id) == user.id, col(Lead.owner_id).is_(None))


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


def contact_write_condition(user: User) -> ColumnElement[bool]:
    """SQL on Contact: a contact is changed by admins, and by a rep or marketer who may change every live lead of it.

    A person with no live lead belongs to no one yet, like an unassigned lead, so any writer may change them; once
    a lead is opened, the person follows that lead's owner (a teammate's contact is read-only, as the lead is).
    """
    if is_admin(user):
        return true()
    if user.role == Role.READ_ONLY.value:
        return false()
    live = and_(col(Lead.contact_id) == Contact.id, col(Lead.deleted_at).is_(None))
    return not_(exists().where(live, not_(lead_write_condition(user))))


async def contact_writable(session: AsyncSession, user: User, contact_id: int) -> bool:
    if is_admin(user):
        return True
    query = select(Contact.id).where(Contact.id == contact_id, contact_write_condition(user))
    return (await session.exec(query)).first() is not None


async def writable_contact(session: AsyncSession, user: User, contact_id: int) -> Contact:
    contact = await readable_contact(session, user, contact_id)
    require_writer(user, "contacts")
    if not await contact_writable(session, user, contact_id):
        raise PermissionDenied(f"you may read contact {contact_id} but not change it: it has leads you may not change")
    return contact


async def require_contact_deletable(session: AsyncSession, contact: Contact) -> None:
    """A contact with live leads is not deleted under them: the leads would point at no one (delete them first)."""
    live = await session.exec(
        select(func.count()).select_from(Lead).where(col(Lead.contact_id) == contact.id, col(Lead.deleted_at).is_(None))
    )
    count = int(live.one())
    if count:
        raise Conflict(
            f"contact {contact.id} has {count} live lead{'s' if count != 1 else ''}; delete or merge them first",
            extra={"live_leads": count},
        )


def require_privacy_change(user: User, reason: str | None, *, protective: bool) -> str | None:
    """Who may change a person's privacy state; returns the reason to audit.

    Recording an opt-out (do-not-contact set to true) only protects the person, so anyone who sees the contact and
    may write at all does it, whoever owns the lead. Everything that makes a person contactable again or changes
    the lawful basis we claim for contacting them (lifting do-not-contact, adding or withdrawing consent, the
    contact-initiated flag) is an admin's decision, and the admin states why: the reason goes to the audit log.
    """
    require_writer(user, "a contact's privacy settings")
    if protective:
        return reason.strip() if reason and reason.strip() else None
    require_admin(user, "a person's opt-out or lawful basis; ask an admin")
    if not reason or not reason.strip():
        raise InvalidInput(
            "changing a person's opt-out or lawful basis needs a reason: send `reason` (an opt-out is lifted through"
            " PUT /api/v1/contacts/{id}/privacy)"
        )
    return reason.strip()


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


# --------------------------------------------------------------------------- organisations


async def readable_organisation(session: AsyncSession, user: User, organisation_id: int) -> Organisation:
    """Organisations are company records (a name and a domain), readable by every user."""
    organisation = await session.get(Organisation, organisation_id)
    if organisation is None or organisation.deleted_at is not None:
        raise NotFound(f"organisation {organisation_id} does not exist")
    return organisation


async def organisation_writable(session: AsyncSession, user: User, organisation_id: int) -> bool:
    """Admins and marketers (who keep account-level data) change any organisation; a rep changes one only when
    they may change every live contact in it, so no rep renames or deletes another team's customer."""
    if user.role in (Role.ADMIN.value, Role.MARKETER.value):
        return True
    if user.role != Role.SALES_REP.value:
        return False
    refused = select(Contact.id).where(
        col(Contact.organisation_id) == organisation_id,
        col(Contact.deleted_at).is_(None),
        not_(contact_write_condition(user)),
    )
    return (await session.exec(refused.limit(1))).first() is None


async def writable_organisation(session: AsyncSession, user: User, organisation_id: int) -> Organisation:
    organisation = await readable_organisation(session, user, organisation_id)
    require_writer(user, "organisations")
    if not await organisation_writable(session, user, organisation_id):
        raise PermissionDenied(
            f"you may read organisation {organisation_id} but not change it: it has contacts you may not change"
        )
    return organisation


# --------------------------------------------------------------------------- watches, pipelines, records


def require_watch_write(user: User) -> None:
    """Watches are configured by admins and marketers."""
    if user.role not in (Role.ADMIN.value, Role.MARKETER.value):
        raise PermissionDenied("only admins and marketers may change watches")


async def readable_watch(session: AsyncSession, user: User, watch_id: int) -> Watch:
    watch = await session.get(Watch, watch_id)
    if watch is None or watch.deleted_at is not None:
        raise NotFound(f"watch {watch_id} does not exist")
    return watch


async def writable_watch(session: AsyncSession, user: User, watch_id: int) -> Watch:
    watch = await readable_watch(session, user, watch_id)
    require_watch_write(user)
    return watch


def note_writable(user: User, lead: Lead, note: Note) -> bool:
    return is_admin(user) or (lead_writable(user, lead) and note.author_user_id == user.id)


def task_writable(user: User, lead: Lead, task: Task) -> bool:
    return lead_writable(user, lead) or (user.role != Role.READ_ONLY.value and task.assignee_user_id == user.id)
