from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

import crm.models  # noqa: F401
from crm.ops.migrate import current_revision, head_revision
from crm.settings import Settings


async def test_the_migrated_database_matches_the_models(engine: AsyncEngine) -> None:
    def diff(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata)

    async with engine.connect() as connection:
        differences = await connection.run_sync(diff)
    assert differences == [], f"models and migrations drifted; run `alembic revision --autogenerate`: {differences}"


async def test_the_database_is_at_the_head_revision(engine: AsyncEngine, settings: Settings) -> None:
    assert await current_revision(engine) == head_revision(settings)
