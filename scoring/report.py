"""Model report: calibration curve, ROC and PR curves and the score histogram as PNGs, plus a Markdown summary."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: no display in workers or CI

import matplotlib.pyplot as plt
import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_curve, roc_curve


def write_report(
    out: Path, labels: Sequence[int], probabilities: Sequence[float], measured: dict[str, Any], *, title: str
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    y = np.asarray(labels, dtype=int)
    p = np.asarray(probabilities, dtype=float)
    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        path = out / name
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)

    fig, ax = plt.subplots(figsize=(5, 5))
    frac, mean = calibration_curve(y, p, n_bins=10, strategy="quantile")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    ax.plot(mean, frac, "o-", label="model")
    ax.set(xlabel="predicted probability", ylabel="observed share warm", title="Calibration")
    ax.legend()
    save(fig, "calibration.png")

    fig, ax = plt.subplots(figsize=(5, 5))
    fpr, tpr, _ = roc_curve(y, p)
    ax.plot(fpr, tpr, label=f"ROC-AUC {measured.get('roc_auc')}")
    ax.plot([0, 1], [0, 1], "--", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax.legend()
    save(fig, "roc.png")

    fig, ax = plt.subplots(figsize=(5, 5))
    precision, recall, _ = precision_recall_curve(y, p)
    ax.plot(recall, precision, label=f"AP {measured.get('average_precision')}")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall")
    ax.legend()
    save(fig, "pr.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist([100 * p[y == 0], 100 * p[y == 1]], bins=20, range=(0, 100), stacked=True, label=["not warm", "warm"])
    ax.axvline(100 * float(measured.get("threshold", 0.5)), color="black", linestyle="--", label="threshold")
    ax.set(xlabel="score (0-100)", ylabel="mentions", title="Score histogram")
    ax.legend()
    save(fig, "histogram.png")

    rows = "\n".join(f"| {k} | {v} |" for k, v in measured.items())
    summary = (
        f"# {title}\n\n| metric | value |\n|---|---|\n{rows}\n\n"
        "![calibration](calibration.png) ![roc](roc.png) ![pr](pr.png) ![histogram](histogram.png)\n"
    )
    (out / "report.md").write_text(summary, encoding="utf-8")
    written.append(out / "report.md")
    return written
