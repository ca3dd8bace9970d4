"""Authors of a mention batch, set-wise: the platform account and contact behind each (platform, handle), found or
created with a few statements per batch, their reach figures refreshed and snapshotted.

Part of the mention store's bulk path (`listeners.store`): driver-level statements from `listeners.bulk_insert`,
inside the store's transaction. Whether a figure change becomes a snapshot is scoring.growth's rule
(`due_snapshot`, `snapshot_figures`); the column lengths values are cut to are the model's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from crm.models import AccountSnapshot, Contact, PlatformAccount, utcnow
from listeners.base import Author
from listeners.bulk_insert import BulkInsert, Codec, delete_ids, dialect_sql, select_in, update_by_id
from scoring.growth import due_snapshot, snapshot_due_before, snapshot_figures

ACCOUNT = PlatformAccount.__table__  # type: ignore[attr-defined]
CONTACT = Contact.__table__  # type: ignore[attr-defined]
SNAPSHOT = AccountSnapshot.__table__  # type: ignore[attr-defined]
DISPLAY_NAME_MAX: int = ACCOUNT.c.display_name.type.length
PROFILE_URL_MAX: int = ACCOUNT.c.profile_url.type.length
CONTACT_NAME_MAX: int = CONTACT.c.display_name.type.length

REFRESHED = ("display_name", "bio", "profile_url", "external_id", "followers", "following", "posts_count")
FLAGS = ("verified", "dm_open")
ACCOUNT_INSERT = BulkInsert(
    ACCOUNT,
    [
        "platform",
        "handle",
        "contact_id",
        *REFRESHED,
        *FLAGS,
        "account_created_at",
        "snapshot_at",
        "created_at",
        "updated_at",
    ],
    ["platform", "handle"],
)
CONTACT_INSERT = BulkInsert(CONTACT, ["display_name", "created_at", "updated_at"])
SNAPSHOT_INSERT = BulkInsert(SNAPSHOT, ["account_id", "at", "followers", "following", "posts_count"])
# Lookups as (columns, table, condition with $n placeholders), see `select_in`.
ACCOUNTS = (
    f"id, handle, contact_id, snapshot_at, {', '.join((*REFRESHED, *FLAGS))}",
    "platform_account",
    "platform = $1",
)
LINKED = ("id, handle, contact_id", "platform_account", "platform = $1")
LINK_SQL = "UPDATE platform_account SET contact_id = $1 WHERE platform = $2 AND handle = $3 AND contact_id IS NULL"

Key = tuple[str, str]  # (platform, handle)


@dataclass
class Authors:
    """What `find_or_create` found: (platform, handle) -> (account id, contact id), and the contacts it created."""

    accounts: dict[Key, tuple[int, int]] = field(default_factory=dict)
    new_contacts: list[int] = field(default_factory=list)


def by_platform(keys: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for platform, value in keys:
        grouped.setdefault(platform, []).append(value)
    return grouped


async def find_or_create(conn: AsyncConnection, codec: Codec, stamp: Any, latest: Mapping[Key, Author]) -> Authors:
    """The account and contact of every author (their latest figures in `latest`): new authors get both, known ones
    have their reach figures refreshed when they changed. Reach history for the influencer model's growth figures:
    a new author's first figures become a snapshot, and a change does when scoring.growth says one is due."""
    found = Authors()
    accounts = found.accounts
    changes: list[tuple[Any, ...]] = []
    snapshots: list[tuple[Any, ...]] = []
    unlinked: list[Key] = []
    due = codec.ts(snapshot_due_before(utcnow()))  # compares with the stored value (driver form on both dialects)
    for platform, handles in by_platform(latest).items():
        for account_id, handle, contact_id, snapshot_at, *current in await select_in(
            conn, *ACCOUNTS, (platform,), "handle", handles
        ):
            key = (platform, handle)
            if contact_id is None:
                unlinked.append(key)
            else:
                accounts[key] = (account_id, contact_id)
            a = latest[key]
            given = refreshed(a)
            wanted = [new if new not in (None, "") else old for new, old in zip(given, current, strict=False)]
            wanted += (a.verified, a.dm_open)
            if wanted != current:
                figures = due_snapshot(given[4:7], current[4:7], snapshot_at, due)
                if figures is not None:
                    snapshots.append((account_id, stamp, *figures))
                    snapshot_at = stamp
                changes.append((*wanted, snapshot_at, stamp, account_id))
    await update_by_id(conn, ACCOUNT, [*REFRESHED, *FLAGS, "snapshot_at", "updated_at"], changes)
    fresh = [key for key in latest if key not in accounts and key not in unlinked]
    if fresh or unlinked:
        await _new_authors(conn, codec, stamp, latest, fresh, unlinked, found, snapshots)
    await SNAPSHOT_INSERT.run(conn, snapshots)
    return found


def refreshed(a: Author) -> tuple[Any, ...]:
    """An author's REFRESHED values as the account columns take them."""
    return (
        (a.display_name or "")[:DISPLAY_NAME_MAX],
        a.bio or "",
        (a.profile_url or "")[:PROFILE_URL_MAX],
        a.external_id,
        a.followers,
        a.following,
        a.posts_count,
    )


async def _new_authors(
    conn: AsyncConnection,
    codec: Codec,
    stamp: Any,
    latest: Mapping[Key, Author],
    fresh: list[Key],
    unlinked: list[Key],
    found: Authors,
    snapshots: list[tuple[Any, ...]],
) -> None:
    """A contact for every author without one, and an account (with its first snapshot) for the authors never
    seen."""
    accounts = found.accounts
    needing = [*fresh, *unlinked]
    created = await CONTACT_INSERT.run_with_ids(
        conn,
        [
            ((latest[key].display_name or "")[:CONTACT_NAME_MAX] or key[1][:CONTACT_NAME_MAX], stamp, stamp)
            for key in needing
        ],
    )
    contact_of: dict[Key, int] = dict(zip(needing, created, strict=True))  # type: ignore[arg-type]
    account_rows = []
    first_figures = []
    for key in fresh:
        a = latest[key]
        figures = snapshot_figures((a.followers, a.following, a.posts_count), None)
        first_figures.append(figures)
        account_rows.append(
            (
                key[0],
                key[1],
                contact_of[key],
                *refreshed(a),
                a.verified,
                a.dm_open,
                codec.ts(a.account_created_at),
                None if figures is None else stamp,
                stamp,
                stamp,
            )
        )
    ids = await ACCOUNT_INSERT.run_with_ids(conn, account_rows)
    orphans = set(contact_of.values())
    uncertain = list(unlinked)  # another writer may have linked or created these first: read them back
    for key, account_id, figures in zip(fresh, ids, first_figures, strict=True):
        if account_id is None:
            uncertain.append(key)  # created by another writer, which keeps its first snapshot
        else:
            accounts[key] = (account_id, contact_of[key])
            if figures is not None:
                snapshots.append((account_id, stamp, *figures))
            orphans.discard(contact_of[key])
            found.new_contacts.append(contact_of[key])
    if unlinked:
        await conn.exec_driver_sql(dialect_sql(codec, LINK_SQL), [(contact_of[(p, h)], p, h) for p, h in unlinked])
    if uncertain:
        for platform, handles in by_platform(uncertain).items():
            for account_id, handle, contact_id in await select_in(conn, *LINKED, (platform,), "handle", handles):
                key = (platform, handle)
                accounts[key] = (account_id, contact_id)
                if contact_of.get(key) == contact_id:
                    orphans.discard(contact_id)
                    found.new_contacts.append(contact_id)
    if orphans:  # another writer created the same author first: its contact stands, ours goes
        await delete_ids(conn, CONTACT, sorted(orphans))
