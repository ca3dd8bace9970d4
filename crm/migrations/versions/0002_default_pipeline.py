"""default pipeline and its stages

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of crm.pipeline.DEFAULT_STAGES at the time of this revision: migrations never import live code.
STAGES = [
    ("new", "New", "open"),
    ("contacted", "Contacted", "open"),
    ("replied", "Replied", "open"),
    ("qualified", "Qualified", "open"),
    ("meeting", "Meeting", "open"),
    ("won", "Won", "won"),
    ("lost", "Lost", "lost"),
    ("disqualified", "Disqualified", "lost"),
]


def upgrade() -> None:
    now = datetime.now(UTC)
    pipeline = sa.table(
        "pipeline",
        sa.column("id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("is_default", sa.Boolean),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    stage = sa.table(
        "stage",
        sa.column("pipeline_id", sa.Integer),
        sa.column("key", sa.String),
        sa.column("name", sa.String),
        sa.column("position", sa.Integer),
        sa.column("kind", sa.String),
    )
    bind = op.get_bind()
    pipeline_id = bind.execute(
        sa.insert(pipeline)
        .values(name="Default", is_default=True, created_at=now, updated_at=now)
        .returning(pipeline.c.id)
    ).scalar_one()
    op.bulk_insert(
        stage,
        [
            {"pipeline_id": pipeline_id, "key": key, "name": name, "position": i, "kind": kind}
            for i, (key, name, kind) in enumerate(STAGES)
        ],
    )


def downgrade() -> None:
    bind = op.get_bind()
    bind.execute(sa.text("DELETE FROM stage WHERE pipeline_id IN (SELECT id FROM pipeline WHERE name = 'Default')"))
    bind.execute(sa.text("DELETE FROM pipeline WHERE name = 'Default'"))
