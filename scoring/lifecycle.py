"""Model lifecycle: train on a held-out split and save with metrics, and the retrain-from-outcomes loop that
registers a candidate and promotes it only if it is not worse than the active model on the same slice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.model_selection import train_test_split
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access import audit
from crm.models import ModelStatus
from scoring import artifacts, registry
from scoring.dataset import data_hash, outcome_frame, outcome_labels
from scoring.evaluate import metrics, not_worse
from scoring.warm_lead import NAME, WarmLeadModel, train

SEED = 20261123


def new_version(prefix: str = "wl") -> str:
    return f"{prefix}-{datetime.now(UTC):%Y%m%d-%H%M%S-%f}"


@dataclass
class Trained:
    model: WarmLeadModel
    metrics: dict[str, Any]
    saved: artifacts.Saved
    seconds: float


def split(labels: list[int], test_size: float, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels)
    stratify = y if len(set(y.tolist())) == 2 and min(np.bincount(y)) >= 2 else None
    train_idx, test_idx = train_test_split(np.arange(len(y)), test_size=test_size, random_state=seed, stratify=stratify)
    return train_idx, test_idx


def train_and_save(
    df: pd.DataFrame,
    labels: list[int],
    out: Path,
    *,
    version: str | None = None,
    test_size: float = 0.2,
    infer_competitors: bool = False,
    sources: list[str] | None = None,
    card: str | None = None,
) -> Trained:
    """Train on (1 - test_size) of the rows, measure on the rest, save artifact + meta.json (+ card)."""
    version = version or new_version()
    y = np.asarray(labels, dtype=int)
    train_idx, test_idx = split(labels, test_size)
    result = train(
        df.iloc[train_idx].reset_index(drop=True), y[train_idx], version=version, infer_competitors=infer_competitors
    )
    probs = result.model.predict_proba(df.iloc[test_idx].reset_index(drop=True))
    measured = metrics(y[test_idx], probs, result.model.threshold)
    meta = {
        "name": NAME,
        "metrics": measured,
        "data_hash": data_hash(df, labels),
        "n_train": len(train_idx),
        "n_test": len(test_idx),
        "split": {"test_size": test_size, "seed": SEED, "stratified": True},
        "sources": sources or [],
        "train_seconds": round(result.seconds, 2),
        # How C, the n-gram range and the threshold were chosen (training rows only), for the model card.
        "selection": result.selection,
        "created_at": datetime.now(UTC).isoformat(),
    }
    saved = artifacts.save(result.model, out, meta)
    if card:
        (out / "MODEL_CARD.md").write_text(card, encoding="utf-8")
    return Trained(result.model, measured, saved, result.seconds)


@dataclass
class RetrainOutcome:
    status: str  # skipped | promoted | rejected
    version: str | None = None
    n_labels: int = 0
    candidate: dict[str, Any] | None = None
    active: dict[str, Any] | None = None


async def retrain_from_outcomes(
    session: AsyncSession, model_dir: Path, *, min_new_labels: int = 200, test_size: float = 0.25
) -> RetrainOutcome:
    """Train a candidate on CRM outcome labels when enough new ones exist; promote it only if not worse."""
    labels = await outcome_labels(session)
    current = await registry.active(session)
    trained_on = (
        int(current.metrics.get("n_labels", 0))
        if current is not None and current.metrics.get("source") == "crm-outcomes"
        else 0
    )
    if len(labels) - trained_on < min_new_labels:
        return RetrainOutcome("skipped", n_labels=len(labels))
    df, ys = await outcome_frame(session, labels)
    if len(set(ys)) < 2 or min(ys.count(0), ys.count(1)) < 5:
        return RetrainOutcome("skipped", n_labels=len(labels))
    version = new_version("wl-outcomes")
    trained = train_and_save(
        df, ys, model_dir / NAME / version, version=version, test_size=test_size, sources=["crm-outcomes"]
    )
    row = await registry.register(session, trained.saved)
    row.metrics = {**trained.metrics, "source": "crm-outcomes", "n_labels": len(labels)}
    candidate_metrics = trained.metrics
    active_metrics: dict[str, Any] | None = None
    if current is not None:
        # Judge both models on the same held-out slice of the outcome labels.
        _, test_idx = split(ys, test_size)
        old = artifacts.load(Path(current.path), expected_sha256=current.sha256)
        held = df.iloc[test_idx].reset_index(drop=True)
        y_held = np.asarray(ys)[test_idx]
        active_metrics = metrics(y_held, old.predict_proba(held), old.threshold)
    if active_metrics is None or not_worse(candidate_metrics, active_metrics):
        await registry.promote(session, version)
        audit.record(
            session,
            "model.promote",
            actor="scoring-retrain",
            object_type="model_version",
            object_id=row.id,
            detail={"name": row.name, "version": version, "previous": current.version if current else None},
        )
        return RetrainOutcome("promoted", version, len(labels), candidate_metrics, active_metrics)
    row.status = ModelStatus.REJECTED.value
    session.add(row)
    await session.flush()
    return RetrainOutcome("rejected", version, len(labels), candidate_metrics, active_metrics)


def sklearn_version() -> str:
    return str(sklearn.__version__)
