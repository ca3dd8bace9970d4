"""Scoring speed: Warmline's batch scoring (with reasons) vs the bare predict_proba of the same fitted Pipeline on
the same rows, single-mention latency, and training time on 100k labelled mentions.

Texts are real tweets from the shared data sets (research licenses; nothing here ships), varied to reach 100k rows.
"""

from __future__ import annotations

import random
import statistics
import time

import numpy as np
import pandas as pd

from bench.data import require
from bench.report import table
from scoring.warm_lead import WarmLeadModel, frame, train

CORPUS = (
    "complaints_twitter/complaints_dev.csv",
    "airline_sentiment/Tweets.csv",
    "tweeteval_sentiment/sentiment_val_test.csv",
    "brand_product_emotions/tweet_product_company.csv",
)
N_TRAIN = 100_000
BATCH = 1_000
SINGLE_CALLS = 500


def corpus(n: int, seed: int = 7) -> tuple[pd.DataFrame, np.ndarray]:
    data = require(*CORPUS)
    texts = (
        pd.concat(
            [
                pd.read_csv(data / CORPUS[0])["text"],
                pd.read_csv(data / CORPUS[1])["text"],
                pd.read_csv(data / CORPUS[2])["text"],
                pd.read_csv(data / CORPUS[3])["tweet_text"],
            ]
        )
        .dropna()
        .astype(str)
        .tolist()
    )
    rng = random.Random(seed)
    rows = []
    labels = []
    for i in range(n):
        words = texts[i % len(texts)].split()
        if i >= len(texts):  # vary repeats so the vocabulary keeps growing like real traffic
            rng.shuffle(words)
            words = words[: max(3, len(words) - rng.randint(0, 3))]
        text = " ".join(words)
        rows.append(
            {
                "text": text,
                "competitor_mentioned": rng.random() < 0.3,
                "followers": int(10 ** rng.uniform(1, 6)),
                "following": int(10 ** rng.uniform(1, 4)),
                "likes": rng.randint(0, 50),
                "reposts": rng.randint(0, 10),
                "replies": rng.randint(0, 10),
                "age_hours": rng.uniform(0, 500),
                "dm_open": rng.random() < 0.4,
                "prior_interactions": rng.randint(0, 2),
            }
        )
        lowered = text.lower()
        labels.append(
            int(any(w in lowered for w in ("not", "never", "worst", "delay", "cancel", "?")) ^ (rng.random() < 0.1))
        )
    return pd.DataFrame(rows), np.asarray(labels)


def _rates(fns: dict[str, object], rows: int, repeats: int = 7) -> dict[str, float]:
    """Median rows/s of each function, runs interleaved so a burst of load from other jobs hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            started = time.perf_counter()
            fn()  # type: ignore[operator]
            times[name].append(time.perf_counter() - started)
    return {name: rows / statistics.median(values) for name, values in times.items()}


def run() -> str:
    df, y = corpus(N_TRAIN)
    started = time.perf_counter()
    result = train(df, y, version="bench")
    train_seconds = time.perf_counter() - started
    model: WarmLeadModel = result.model

    records = df.iloc[:BATCH].to_dict(orient="records")
    prepared = frame(records)  # the bare baseline gets its DataFrame ready-made
    model.score_records(records[:2])  # first call builds the feature-name tables
    rates = _rates(
        {
            "bare": lambda: model.pipeline.predict_proba(prepared),
            "ours": lambda: model.score_records(records),
            "plain": lambda: model.score_records(records, explain=False),
        },
        BATCH,
    )
    bare, ours, ours_plain = rates["bare"], rates["ours"], rates["plain"]

    one = records[:1]
    one_frame = frame(one)
    for _ in range(20):
        model.score_records(one)
        model.pipeline.predict_proba(one_frame)
    single, single_bare = [], []
    for i in range(SINGLE_CALLS):
        row = [records[i % BATCH]]
        t0 = time.perf_counter()
        model.score_records(row)
        single.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        model.pipeline.predict_proba(frame(row))
        single_bare.append(time.perf_counter() - t0)

    def p(values: list[float], q: float) -> float:
        return float(np.percentile(values, q) * 1000)

    rows = [
        ["batch of 1,000: bare Pipeline.predict_proba (DataFrame given)", f"{bare:,.0f} rows/s", "1.00", ""],
        [
            "batch of 1,000: Warmline score_records, calibrated + reasons",
            f"{ours:,.0f} rows/s",
            f"{ours / bare:.2f}",
            f"overhead {max(0.0, 1 - ours / bare):.0%} (bar <= 25%)",
        ],
        [
            "batch of 1,000: Warmline score_records, no reasons",
            f"{ours_plain:,.0f} rows/s",
            f"{ours_plain / bare:.2f}",
            "",
        ],
        [
            "one mention: bare Pipeline (DataFrame per call), p50 / p99",
            f"{p(single_bare, 50):.2f} / {p(single_bare, 99):.2f} ms",
            "1.00",
            "",
        ],
        [
            "one mention: Warmline fast path + reasons, p50 / p99",
            f"{p(single, 50):.2f} / {p(single, 99):.2f} ms",
            f"{p(single, 99) / p(single_bare, 99):.2f}",
            "bar p99 < 5 ms",
        ],
        [
            f"train on {N_TRAIN:,} labelled mentions (features once, calibration fit, final fit; > 50k rows: word n-grams + SGD)",
            f"{train_seconds:.1f} s",
            "",
            "bar < 60 s",
        ],
    ]
    return table(["measure", "value", "ratio to bare", "note"], rows) + (
        "\n\n_Throughput figures are medians of 7 interleaved runs._"
    )
