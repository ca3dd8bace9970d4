"""Warm-lead quality on the public complaint data (train on part, test on a disjoint part), vs a plain TF-IDF +
logistic-regression baseline on the same splits; plus influencer authenticity ROC-AUC on labelled accounts.

Two sets of splits: seeds 1-5 were used while developing the trainer (exploration, possibly optimistic); seeds
101-110 were never looked at before the trainer was settled and are the headline.

Reproduce: `.venv/bin/python -m bench bench_scoring_quality` (or one split via the CLI, see docs/benchmarks.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from bench.data import require
from bench.report import table
from scoring.evaluate import metrics
from scoring.influencer_eval import evaluate_authenticity
from scoring.warm_lead import C_GRID, CHAR_RANGES, DEFAULT_C, STYLE_WEIGHTS, best_threshold, train

COMPLAINTS = "complaints_twitter/complaints_dev.csv"
ACCOUNTS = ("twitter_accounts_gilani2017/accounts.csv", "instagram_fake_accounts/instafake_fake_v1.csv")
EXPLORATION_SEEDS = (1, 2, 3, 4, 5)
FRESH_SEEDS = tuple(range(101, 111))
TEST_SIZE = 0.2
KEYS = ("roc_auc", "average_precision", "f1", "brier")


@dataclass
class SplitSet:
    rows: list[list[object]] = field(default_factory=list)
    ours: list[dict[str, float]] = field(default_factory=list)
    base: list[dict[str, float]] = field(default_factory=list)
    fixed: list[dict[str, float]] = field(default_factory=list)

    def mean(self, runs: list[dict[str, float]], keys: tuple[str, ...] = KEYS) -> dict[str, float]:
        return {k: float(np.mean([m[k] for m in runs])) for k in keys}


def evaluate(df: pd.DataFrame, seeds: tuple[int, ...], *, with_fixed: bool) -> SplitSet:
    """Train on each seed's 80% and score its disjoint 20%; `with_fixed` adds the trainer with C=3 and char 2-5
    fixed (what the inner-CV search adds)."""
    strata = df["domain"] + "/" + df["complaint"].astype(str)
    out = SplitSet()
    for seed in seeds:
        tr, te = train_test_split(df, test_size=TEST_SIZE, random_state=seed, stratify=strata)
        y_test = te["complaint"].to_numpy()
        started = time.perf_counter()
        result = train(
            tr[["text"]].reset_index(drop=True), tr["complaint"].to_numpy(), version="bench", infer_competitors=True
        )
        seconds = time.perf_counter() - started
        m = metrics(y_test, result.model.predict_proba(te[["text"]]), result.model.threshold)
        fixed_cell = ""
        if with_fixed:
            fixed_model = train(
                tr[["text"]].reset_index(drop=True),
                tr["complaint"].to_numpy(),
                version="bench-fixed",
                infer_competitors=True,
                c=DEFAULT_C,
            ).model
            fixed = metrics(y_test, fixed_model.predict_proba(te[["text"]]), fixed_model.threshold)
            out.fixed.append(fixed)
            fixed_cell = f"{fixed['roc_auc']:.3f} / {fixed['f1']:.3f}"
        chosen = result.selection
        # Baseline from the data README: word 1-2-gram TF-IDF + logistic regression, F1 at 0.5.
        plain = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(max_iter=2000))
        plain.fit(tr["text"], tr["complaint"])
        pb = plain.predict_proba(te["text"])[:, 1]
        b = metrics(y_test, pb, 0.5)
        b_tuned = metrics(y_test, pb, best_threshold(y_test, pb))
        out.ours.append(m)
        out.base.append(b)
        low, high = chosen["char_ngram_range"]
        out.rows.append(
            [
                f"seed {seed}",
                len(tr),
                len(te),
                *(f"{m[k]:.3f}" for k in ("roc_auc", "average_precision", "f1")),
                m["threshold"],
                f"C={chosen['C']:g}, char {low}-{high}, form x{chosen['style_weight']:g}",
                f"{m['brier']:.3f}",
                fixed_cell,
                f"{b['roc_auc']:.3f}",
                f"{b['f1']:.3f}",
                f"{b_tuned['f1']:.3f}",
                round(seconds, 1),
            ]
        )
    mean, bmean = out.mean(out.ours), out.mean(out.base, ("roc_auc", "f1"))
    fmean = out.mean(out.fixed, ("roc_auc", "f1")) if out.fixed else None
    f1s = [m["f1"] for m in out.ours]
    out.rows.append(
        [
            "**mean**",
            "",
            "",
            *(f"**{mean[k]:.3f}**" for k in ("roc_auc", "average_precision", "f1")),
            "",
            f"F1 min {min(f1s):.3f}, max {max(f1s):.3f}, sd {np.std(f1s, ddof=1):.3f}",
            f"{mean['brier']:.3f}",
            f"{fmean['roc_auc']:.3f} / {fmean['f1']:.3f}" if fmean else "",
            f"{bmean['roc_auc']:.3f}",
            f"{bmean['f1']:.3f}",
            "",
            "",
        ]
    )
    return out


HEADERS = [
    "split",
    "train",
    "test",
    "ROC-AUC",
    "AP",
    "F1 @thr",
    "thr",
    "chosen by inner CV",
    "Brier",
    "fixed C=3, char 2-5: AUC / F1",
    "baseline AUC",
    "baseline F1@0.5",
    "baseline F1 (thr tuned on test)",
    "train s",
]


def _verdict(split_set: SplitSet) -> tuple[str, dict[str, float]]:
    mean = split_set.mean(split_set.ours)
    return ("met" if mean["roc_auc"] >= 0.92 and mean["f1"] >= 0.80 else "NOT met"), mean


def run() -> str:
    data = require(COMPLAINTS, *ACCOUNTS)
    df = pd.read_csv(data / COMPLAINTS)
    fresh = evaluate(df, FRESH_SEEDS, with_fixed=False)
    explored = evaluate(df, EXPLORATION_SEEDS, with_fixed=True)
    bar, mean = _verdict(fresh)
    explored_bar, explored_mean = _verdict(explored)
    bmean = fresh.mean(fresh.base, ("roc_auc",))
    auth = evaluate_authenticity(data)
    auth_rows = [[k, v] for k, v in auth.items()]
    return (
        f"Complaint data (`complaints_twitter/complaints_dev.csv`, {len(df):,} rows): stratified (domain x label) "
        f"{int((1 - TEST_SIZE) * 100)}/{int(TEST_SIZE * 100)} splits. Each model is trained by "
        "`scoring.warm_lead.train` (what `crm scoring train` runs) on the train part only: 3-fold cross-validation "
        f"on the train part picks C from {list(C_GRID)}, the char n-gram range from "
        f"{[f'{a}-{b}' for a, b in CHAR_RANGES]} and the weight of the standardised form features (addressee, "
        f"links, emphasis, length, pain/negation/waiting counts; `StyleFeatures`) from {list(STYLE_WEIGHTS)} by "
        "out-of-fold ROC-AUC, then Platt calibration and the F1-optimal threshold come from the winner's "
        "out-of-fold scores, and the final model is refitted on the whole train part; watched brands = handles "
        "addressed >= 3 times in the train part (`--infer-competitors`). The disjoint test part is only scored, at "
        "that chosen threshold (stored in the model's meta.json and used by `crm scoring evaluate`).\n\n"
        f"**Headline — fresh splits, seeds {FRESH_SEEDS[0]}-{FRESH_SEEDS[-1]}** (never looked at while the "
        "trainer was developed; run once after it was settled). Bar ROC-AUC >= 0.92 and F1 >= 0.80 (means): "
        f"**{bar}** (ROC-AUC {mean['roc_auc']:.4f}, F1 {mean['f1']:.4f}; ratio to baseline AUC "
        f"{mean['roc_auc'] / bmean['roc_auc']:.3f}).\n\n"
        f"{table(HEADERS[:9] + HEADERS[10:], [r[:9] + r[10:] for r in fresh.rows])}\n\n"
        f"Exploration splits, seeds {list(EXPLORATION_SEEDS)}: used to develop the trainer (candidate grids, "
        "features), so optimistic; shown for continuity with earlier runs. Bar on these: "
        f"**{explored_bar}** (ROC-AUC {explored_mean['roc_auc']:.4f}, F1 {explored_mean['f1']:.4f}).\n\n"
        f"{table(HEADERS, explored.rows)}\n\n"
        "The upstream 1,000-row hold-out is hidden and was not used. One split from the command line: "
        "`crm scoring train --data ../shared/data/complaints_twitter/complaints_dev.csv --label-column complaint "
        "--infer-competitors --out /tmp/wl` (seeded 80/20 split, prints held-out metrics).\n\n"
        "Influencer authenticity (transparent rules, no fitting on these sets) — `crm scoring authenticity`:\n\n"
        f"{table(['measure', 'value'], auth_rows)}"
    )
