"""Where the benchmarks find the research data sets, and the skip (naming the missing file) when they are absent.

The sets carry research or non-commercial licenses, so they are not in the repository: `make bench` reads them from
`../shared/data` beside the checkout, or from the folder named by WARMLINE_BENCH_DATA.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "WARMLINE_BENCH_DATA"

# Folder -> where to fetch it (each folder's README in the shared data names the file, commit and license).
SOURCES = {
    "complaints_twitter": "github.com/danielpreotiuc/complaints-social-media (complaints-data.csv)",
    "airline_sentiment": "github.com/Riccocez/Sentiment-Classifier (Tweets.csv; CC BY-NC-SA 4.0)",
    "tweeteval_sentiment": "github.com/cardiffnlp/tweeteval (datasets/sentiment, val + test)",
    "brand_product_emotions": "github.com/LilianToo/NLP-Sentiment-Analysis-Project (tweet_product_company.csv)",
    "twitter_accounts_gilani2017": "github.com/Flajt/Twitter_bot_detection (Datasets/classification_processed)",
    "instagram_fake_accounts": "github.com/fcakyon/instafake-dataset (data/fake-v1.0)",
}


class MissingData(Exception):
    """A data set a benchmark needs is not there; the message names the path and where to get it."""


def data_dir() -> Path:
    configured = os.environ.get(DATA_ENV, "").strip()
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared" / "data"


def require(*relative: str) -> Path:
    """The data folder, once every named file in it exists; else MissingData for the first missing one."""
    root = data_dir()
    for part in relative:
        if not (root / part).exists():
            folder = part.split("/", 1)[0]
            where = SOURCES.get(folder, "see the benchmark's docstring")
            raise MissingData(
                f"{root / part} not found: put the research data sets in {root} (or set {DATA_ENV}); "
                f"{folder} comes from {where}"
            )
    return root
