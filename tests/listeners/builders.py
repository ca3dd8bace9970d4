from datetime import UTC, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from crm.models import Watch
from listeners.base import Author, RawMention

COMPETITORS = [{"name": "Salesforce", "aliases": ["sfdc"], "handles": ["@salesforce"]}]


async def make_watch(session: AsyncSession, **overrides: Any) -> Watch:
    fields: dict[str, Any] = {"name": "CRM alternatives", "keywords": ["crm"], "competitors": COMPETITORS}
    fields.update(overrides)
    watch = Watch(**fields)
    session.add(watch)
    await session.flush()
    return watch


def mention(
    external_id: str = "m-1", text: str = "Can anyone recommend a CRM that isn't Salesforce?", **overrides: Any
) -> RawMention:
    author = overrides.pop("author", None) or Author(handle=overrides.pop("handle", "maria_ops"), followers=2300)
    fields: dict[str, Any] = {
        "platform": "file",
        "external_id": external_id,
        "text": text,
        "url": f"https://example.org/{external_id}",
        "created_at": datetime(2026, 11, 20, 9, 12, tzinfo=UTC),
        "author": author,
        "raw": {"id": external_id, "text": text},
    }
    fields.update(overrides)
    return RawMention(**fields)


def jsonl_record(
    external_id: str, text: str = "Looking for a CRM that isn't Salesforce", handle: str = ""
) -> dict[str, Any]:
    return {
        "platform": "file",
        "id": external_id,
        "text": text,
        "created_at": "2026-11-20T09:12:00Z",
        "url": f"https://example.org/{external_id}",
        "author": {"handle": handle or f"user_{external_id}", "followers": 120},
    }
