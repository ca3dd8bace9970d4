"""Measure the influencer authenticity check on real labelled accounts (Gilani 2017 bots, InstaFake fakes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.metrics import roc_auc_score

from crm.errors import InvalidInput
from scoring.influencer import authenticity, gilani_signals, instafake_signals

GILANI = Path("twitter_accounts_gilani2017") / "accounts.csv"
INSTAFAKE = Path("instagram_fake_accounts") / "instafake_fake_v1.csv"


def default_data_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def evaluate_authenticity(data_dir: Path | None = None) -> dict[str, Any]:
    root = data_dir or default_data_dir()
    for part in (GILANI, INSTAFAKE):
        if not (root / part).exists():
            raise InvalidInput(f"{root / part}: not found (pass --data-dir)")
    gilani = pd.read_csv(root / GILANI)
    suspicion = [authenticity(gilani_signals(r))[0] for r in gilani.to_dict("records")]
    result: dict[str, Any] = {
        "gilani_n": len(gilani),
        "gilani_roc_auc": round(float(roc_auc_score(gilani["label"] == "bot", suspicion)), 4),
    }
    for band in ("1k", "100k", "1M", "10M"):
        mask = (gilani["popularity_band"] == band).tolist()
        labels = [lab == "bot" for lab, keep in zip(gilani["label"], mask, strict=True) if keep]
        scores = [s for s, keep in zip(suspicion, mask, strict=True) if keep]
        if len(set(labels)) == 2:
            result[f"gilani_roc_auc_{band}"] = round(float(roc_auc_score(labels, scores)), 4)
    insta = pd.read_csv(root / INSTAFAKE)
    insta_scores = [authenticity(instafake_signals(r))[0] for r in insta.to_dict("records")]
    result["instafake_n"] = len(insta)
    result["instafake_roc_auc"] = round(float(roc_auc_score(insta["isFake"], insta_scores)), 4)
    return result
