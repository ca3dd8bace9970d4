"""The sender profile: who is writing, read and changed by the API and the CLI, and turned into a `Sender` per draft.

The workspace profile (company, product, one-line value proposition, website) is one row; admins and marketers
change it, everyone reads it. Each user keeps their own display name and signature. Until someone saves a profile,
the deployment's CRM_PRODUCT_NAME and CRM_COMPANY_NAME stand in for product and company; with neither, drafts
name no product at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from crm.errors import PermissionDenied
from crm.http.etags import check_if_match, touch
from crm.models import SENDER_PROFILE_ID, Role, SenderProfile, SenderSignature, User
from crm.settings import Settings
from outreach.compose.writer import Sender

PROFILE_FIELDS = ("company", "product", "value_proposition", "website")
SIGNATURE_FIELDS = ("display_name", "signature")
PROFILE_WRITERS = frozenset({Role.ADMIN.value, Role.MARKETER.value})


def unsaved_profile(settings: Settings) -> SenderProfile:
    """The profile as drafts see it before anyone saved one: the deployment's settings, version 0."""
    return SenderProfile(id=SENDER_PROFILE_ID, company=settings.company_name, product=settings.product_name, version=0)


async def read_profile(session: AsyncSession, settings: Settings) -> SenderProfile:
    return await session.get(SenderProfile, SENDER_PROFILE_ID) or unsaved_profile(settings)


def require_profile_write(user: User) -> None:
    if user.role not in PROFILE_WRITERS:
        raise PermissionDenied("only admins and marketers may change the sender profile")


async def save_profile(
    session: AsyncSession,
    settings: Settings,
    user: User | None,
    changes: Mapping[str, Any],
    if_match: str | None = None,
) -> SenderProfile:
    """Apply the given fields (others stay); If-Match must name the current version when sent. `user` is None for
    the operator at the CLI; the API checks the caller's role first (`require_profile_write`)."""
    profile = await session.get(SenderProfile, SENDER_PROFILE_ID)
    if profile is None:
        profile = unsaved_profile(settings)
        check_if_match(if_match, "sender-profile", profile)
        profile.version = 1
    else:
        check_if_match(if_match, "sender-profile", profile)
        touch(profile)
    for name in PROFILE_FIELDS:
        if name in changes and changes[name] is not None:
            setattr(profile, name, " ".join(str(changes[name]).split()))
    profile.updated_by_user_id = user.id if user else None
    session.add(profile)
    await session.flush()
    return profile


async def read_signature(session: AsyncSession, user: User) -> SenderSignature:
    assert user.id is not None
    return await session.get(SenderSignature, user.id) or SenderSignature(
        user_id=user.id, display_name=user.name, version=0
    )


async def save_signature(
    session: AsyncSession, user: User, changes: Mapping[str, Any], if_match: str | None = None
) -> SenderSignature:
    assert user.id is not None
    row = await session.get(SenderSignature, user.id)
    if row is None:
        row = SenderSignature(user_id=user.id, display_name=user.name, version=0)
        check_if_match(if_match, "signature", _Versioned(row))
        row.version = 1
    else:
        check_if_match(if_match, "signature", _Versioned(row))
        touch(row)
    if changes.get("display_name") is not None:
        row.display_name = " ".join(str(changes["display_name"]).split())
    if changes.get("signature") is not None:
        row.signature = str(changes["signature"]).strip()
    session.add(row)
    await session.flush()
    return row


class _Versioned:
    """A signature row seen as an ETag source: it is keyed by its user."""

    def __init__(self, row: SenderSignature) -> None:
        self.id: int | None = row.user_id
        self.version = row.version


def signature_etag_source(row: SenderSignature) -> _Versioned:
    return _Versioned(row)


async def sender_for(session: AsyncSession, settings: Settings, author: User) -> Sender:
    """Who writes the author's drafts: the workspace profile and the author's own name and signature."""
    profile = await read_profile(session, settings)
    signature = await read_signature(session, author)
    return Sender(
        product=profile.product,
        company=profile.company,
        value_proposition=profile.value_proposition,
        rep_name=signature.display_name,
        signature=signature.signature,
    )
