from datetime import UTC, datetime
from typing import Any

from litestar.testing import AsyncTestClient
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.leads.opening import open_lead
from crm.models import Contact, Lead, Watch
from listeners.base import Author, RawMention

COMPETITORS = [{"name": "Salesforce", "aliases": ["sfdc"], "handles": ["@salesforce"]}]


async def make_watch(session: AsyncSession, **overrides: Any) -> Watch:
    fields: dict[str, Any] = {"name": "CRM alternatives", "keywords": ["crm"], "competitors": COMPETITORS}
    fields.update(overrides)
    watch = Watch(**fields)
    session.add(watch)
    await session.flush()
    return watch


async def make_lead(
    session: AsyncSession, contact_id: int | None = None, watch_id: int | None = None, **fields: Any
) -> Lead:
    """A lead opened the way every door opens one (crm.leads.opening), for a new contact unless one is given;
    `fields` are open_lead's (pipeline_id, platform, first_mention_id, owner_id, ...)."""
    if contact_id is None:
        contact = Contact(display_name=fields.pop("display_name", "Ada"))
        session.add(contact)
        await session.flush()
        assert contact.id is not None
        contact_id = contact.id
    return await open_lead(session, contact_id, watch_id, **fields)


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


async def campaign_on_pipeline(
    client: AsyncTestClient[Any], caller: Any, name: str, stages: list[dict[str, str]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A custom pipeline and a campaign (watch on "crm") that opens its leads there, both made through the API."""
    pipeline = await client.post(
        "/api/v1/pipelines", json={"name": name.title(), "stages": stages}, headers=caller.headers
    )
    assert pipeline.status_code == 201, pipeline.text
    campaign = await client.post(
        "/api/v1/watches",
        json={"name": name, "keywords": ["crm"], "pipeline_id": pipeline.json()["id"]},
        headers=caller.headers,
    )
    assert campaign.status_code == 201, campaign.text
    return pipeline.json(), campaign.json()
