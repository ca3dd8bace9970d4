"""Warm-lead quality on the public complaint data (train on part, test on a disjoint part), vs a plain TF-IDF +
logistic-regression baseline on the same splits; plus influencer authenticity ROC-AUC on labelled accounts.

Reproduce: `.venv/bin/python -m bench bench_scoring_quality` (or one split via the CLI, see docs/benchmarks.md).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from bench.report import table
from scoring.evaluate import metrics
from scoring.influencer_eval import evaluate_authenticity
from scoring.warm_lead import best_threshold, train

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
COMPLAINTS = DATA / "complaints_twitter" / "complaints_dev.csv"
SEEDS = (1, 2, 3, 4, 5)
TEST_SIZE = 0.2


def run() -> str:
    df = pd.read_csv(COMPLAINTS)
    strata = df["domain"] + "/" + df["complaint"].astype(str)
    rows: list[list[object]] = []
    ours: list[dict[str, float]] = []
    base: list[dict[str, float]] = []
    for seed in SEEDS:
        tr, te = train_test_split(df, test_size=TEST_SIZE, random_state=seed, stratify=strata)
        started = time.perf_counter()
        result = train(
            tr[["text"]].reset_index(drop=True), tr["complaint"].to_numpy(), version="bench", infer_competitors=True
        )
        seconds = time.perf_counter() - started
        m = metrics(te["complaint"].to_numpy(), result.model.predict_proba(te[["text"]]), result.model.threshold)
        # Baseline from the data README: word 1-2-gram TF-IDF + logistic regression, F1 at 0.5.
        plain = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(max_iter=2000))
        plain.fit(tr["text"], tr["complaint"])
        pb = plain.predict_proba(te["text"])[:, 1]
        b = metrics(te["complaint"].to_numpy(), pb, 0.5)
        b_tuned = metrics(te["complaint"].to_numpy(), pb, best_threshold(te["complaint"].to_numpy(), pb))
        ours.append(m)
        base.append(b)
        rows.append(
            [
                f"seed {seed}",
                len(tr),
                len(te),
                *(f"{m[k]:.3f}" for k in ("roc_auc", "average_precision", "f1")),
                m["threshold"],
                f"{m['brier']:.3f}",
                f"{b['roc_auc']:.3f}",
                f"{b['f1']:.3f}",
                f"{b_tuned['f1']:.3f}",
                round(seconds, 1),
            ]
        )
    mean = {k: float(np.mean([m[k] for m in ours])) for k in ("roc_auc", "average_precision", "f1", "brier")}
    bmean = {k: float(np.mean([m[k] for m in base])) for k in ("roc_auc", "f1")}
    rows.append(
        [
            "**mean**",
            "",
            "",
            *(f"**{mean[k]:.3f}**" for k in ("roc_auc", "average_precision", "f1")),
            "",
            f"{mean['brier']:.3f}",
            f"{bmean['roc_auc']:.3f}",
            f"{bmean['f1']:.3f}",
            "",
            "",
        ]
    )
    headers = [
        "split",
        "train",
        "test",
        "ROC-AUC",
        "AP",
        "F1 @thr",
        "thr",
        "Brier",
        "baseline AUC",
        "baseline F1@0.5",
        "baseline F1 (thr tuned on test)",
        "train s",
    ]
    quality = table(headers, rows)
    auth = evaluate_authenticity(DATA)
    auth_rows = [[k, v] for k, v in auth.items()]
    bar = "met" if mean["roc_auc"] >= 0.92 and mean["f1"] >= 0.80 else "NOT met"
    return (
        f"Complaint data (`complaints_twitter/complaints_dev.csv`, 2,449 rows): {len(SEEDS)} stratified "
        f"(domain x label) {int((1 - TEST_SIZE) * 100)}/{int(TEST_SIZE * 100)} splits, seeds {list(SEEDS)}; each model "
        "trains on the train part only (its threshold and Platt calibration come from 3-fold out-of-fold scores on the train part; "
        "watched brands = handles addressed >= 3 times in the train part, `--infer-competitors`) and is scored on "
        f"the disjoint test part. Bar ROC-AUC >= 0.92 and F1 >= 0.80 (means): **{bar}** "
        f"(ROC-AUC {mean['roc_auc']:.3f}, F1 {mean['f1']:.3f}; ratio to baseline AUC "
        f"{mean['roc_auc'] / bmean['roc_auc']:.3f}). The upstream 1,000-row hold-out is hidden and was not used. "
        "Regularisation is fixed at C=3 (chosen on cross-validation of the whole file before these splits); a larger "
        "C (6) reached mean F1 0.799 on these same splits, but choosing it here would tune on the test parts.\n\n"
        f"{quality}\n\nOne split from the command line: `crm scoring train --data "
        "../shared/data/complaints_twitter/complaints_dev.csv --label-column complaint --infer-competitors --out "
        "/tmp/wl` (seeded 80/20 split, prints held-out metrics).\n\n"
        "Influencer authenticity (transparent rules, no fitting on these sets) — `crm scoring authenticity`:\n\n"
        f"{table(['measure', 'value'], auth_rows)}\n\n_Measured on a 2-core machine shared with other jobs._"
    )
