"""What scoring wrote: each lead score and the model registry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm.models.base import ModelStatus, json_field, ts_field


class LeadScore(SQLModel, table=True):
    """Each score a lead received, with the model version and the reasons behind the number."""

    __tablename__ = "lead_score"
    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    mention_id: int | None = Field(default=None, foreign_key="mention.id")
    model_version: str = Field(max_length=80)
    probability: float
    score: float
    reasons: list[str] = json_field(list)
    created_at: datetime = ts_field(default_now=True)


class ModelVersion(SQLModel, table=True):
    """A trained artifact in the registry: where it is, its hash, metrics, data hash and sklearn version."""

    __tablename__ = "model_version"
    __table_args__ = (sa.UniqueConstraint("name", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=60)
    version: str = Field(max_length=80)
    path: str = Field(max_length=500)
    sha256: str = Field(max_length=64)
    sklearn_version: str = Field(max_length=20)
    metrics: dict[str, Any] = json_field()
    data_hash: str = Field(default="", max_length=64)
    n_train: int = 0
    status: str = Field(default=ModelStatus.CANDIDATE.value, max_length=20)
    created_at: datetime = ts_field(default_now=True)
    promoted_at: datetime | None = ts_field()
