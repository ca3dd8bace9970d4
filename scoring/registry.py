"""The model registry: model_version rows (candidate/active/retired/rejected), promote, rollback, active lookup,
and a per-process cache that loads each active artifact once."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.errors import NotFound, PreconditionFailed
from crm.models import ModelStatus, ModelVersion, utcnow
from scoring import artifacts
from scoring.warm_lead import NAME, WarmLeadModel


async def register(
    session: AsyncSession, saved: artifacts.Saved, *, name: str = NAME, status: ModelStatus = ModelStatus.CANDIDATE
) -> ModelVersion:
    meta = saved.meta
    row = ModelVersion(
        name=name,
        version=str(meta["version"]),
        path=str(saved.directory.resolve()),
        sha256=saved.sha256,
        sklearn_version=str(meta["sklearn_version"]),
        metrics=dict(meta.get("metrics", {})),
        data_hash=str(meta.get("data_hash", "")),
        n_train=int(meta.get("n_train", 0)),
        status=status.value,
    )
    session.add(row)
    await session.flush()
    return row


async def versions(session: AsyncSession, name: str = NAME) -> Sequence[ModelVersion]:
    query = select(ModelVersion).where(ModelVersion.name == name).order_by(col(ModelVersion.id))
    return (await session.exec(query)).all()


async def active(session: AsyncSession, name: str = NAME) -> ModelVersion | None:
    query = select(ModelVersion).where(ModelVersion.name == name, ModelVersion.status == ModelStatus.ACTIVE.value)
    return (await session.exec(query.order_by(col(ModelVersion.id).desc()))).first()


async def get(session: AsyncSession, version: str, name: str = NAME) -> ModelVersion:
    query = select(ModelVersion).where(ModelVersion.name == name, ModelVersion.version == version)
    row = (await session.exec(query)).first()
    if row is None:
        raise NotFound(f"no {name} model version {version!r}")
    return row


async def promote(session: AsyncSession, version: str, name: str = NAME) -> ModelVersion:
    """Make `version` the active model; the previous active one is retired. Its artifact must load first."""
    row = await get(session, version, name)
    artifacts.load(Path(row.path), expected_sha256=row.sha256)
    current = await active(session, name)
    if current is not None and current.id != row.id:
        current.status = ModelStatus.RETIRED.value
        session.add(current)
    row.status = ModelStatus.ACTIVE.value
    row.promoted_at = utcnow()
    session.add(row)
    await session.flush()
    return row


async def reject(session: AsyncSession, version: str, name: str = NAME) -> ModelVersion:
    row = await get(session, version, name)
    row.status = ModelStatus.REJECTED.value
    session.add(row)
    await session.flush()
    return row


async def rollback(session: AsyncSession, name: str = NAME) -> ModelVersion | None:
    """Retire the active model and re-activate the most recently promoted retired one (None: back to baseline)."""
    current = await active(session, name)
    if current is None:
        raise PreconditionFailed(f"no active {name} model to roll back")
    current.status = ModelStatus.RETIRED.value
    current.promoted_at = None  # so a later rollback does not jump back to it
    session.add(current)
    query = (
        select(ModelVersion)
        .where(
            ModelVersion.name == name,
            ModelVersion.status == ModelStatus.RETIRED.value,
            col(ModelVersion.id) != current.id,
            col(ModelVersion.promoted_at).is_not(None),
        )
        .order_by(col(ModelVersion.promoted_at).desc())
    )
    previous = (await session.exec(query)).first()
    if previous is not None:
        previous.status = ModelStatus.ACTIVE.value
        previous.promoted_at = utcnow()
        session.add(previous)
    await session.flush()
    return previous


class ModelCache:
    """One loaded artifact per process, reloaded only when the active version changes (promotion or rollback)."""

    def __init__(self) -> None:
        self._key: tuple[str, str] | None = None
        self._model: WarmLeadModel | None = None
        self.loads = 0

    async def current(self, session: AsyncSession, name: str = NAME) -> WarmLeadModel | None:
        row = await active(session, name)
        if row is None:
            return None
        key = (row.version, row.sha256)
        if key != self._key:
            self._model = self.load(row)
            self._key = key
        return self._model

    def load(self, row: ModelVersion) -> WarmLeadModel:
        model = artifacts.load(Path(row.path), expected_sha256=row.sha256)
        model.version = row.version
        self.loads += 1
        return model


def describe(row: ModelVersion) -> dict[str, Any]:
    return {
        "name": row.name,
        "version": row.version,
        "status": row.status,
        "metrics": row.metrics,
        "n_train": row.n_train,
        "sha256": row.sha256,
        "sklearn_version": row.sklearn_version,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "promoted_at": row.promoted_at.isoformat() if row.promoted_at else None,
        "path": row.path,
    }
