"""Held-out metrics for a binary scorer: ROC-AUC, average precision, F1 at the model's threshold, Brier score."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)


def metrics(
    labels: Sequence[int] | np.ndarray, probabilities: Sequence[float] | np.ndarray, threshold: float
) -> dict[str, Any]:
    y = np.asarray(labels, dtype=int)
    p = np.asarray(probabilities, dtype=float)
    both = len(set(y.tolist())) == 2
    predicted = p >= threshold
    return {
        "n": len(y),
        "positives": int(y.sum()),
        "roc_auc": round(float(roc_auc_score(y, p)), 4) if both else None,
        "average_precision": round(float(average_precision_score(y, p)), 4) if both else None,
        "f1": round(float(f1_score(y, predicted, zero_division=0)), 4),
        "precision": round(float(precision_score(y, predicted, zero_division=0)), 4),
        "recall": round(float(recall_score(y, predicted, zero_division=0)), 4),
        "brier": round(float(brier_score_loss(y, p)), 4),
        "threshold": threshold,
    }


def not_worse(candidate: dict[str, Any], active: dict[str, Any], tolerance: float = 0.005) -> bool:
    """Promotion rule: ROC-AUC and average precision each within `tolerance` of the active model's, or better."""
    for key in ("roc_auc", "average_precision"):
        new, old = candidate.get(key), active.get(key)
        if new is None:
            return False
        if old is not None and new < old - tolerance:
            return False
    return True
