"""Sentiment of a text, from one VADER lexicon: the full reading stored with each mention, the lean one the warm-lead
model's features use.

Both come from the same analyzer (loaded once per process, on first use) and the same compound normalisation. They
stay two readings on purpose: the stored score is VADER's own compound (boosters, capitals, "but"), which people see
and filter by; the model reads a lexicon-only version about ten times faster, because scoring budgets ~20k
mentions/s per process and the shipped model was fitted on exactly those numbers.
"""

from __future__ import annotations

import re
from functools import cache

from vaderSentiment.vaderSentiment import N_SCALAR, SentimentIntensityAnalyzer, normalize

# The lean reading's own negators (fewer than VADER's list; the model was fitted with these).
NEGATORS = frozenset(
    {
        "not",
        "no",
        "never",
        "nor",
        "without",
        "cannot",
        "isn't",
        "doesn't",
        "don't",
        "didn't",
        "won't",
        "can't",
        "wasn't",
        "aren't",
    }
)
_WORD = re.compile(r"[a-z][a-z']*")


@cache
def analyzer() -> SentimentIntensityAnalyzer:
    """VADER's analyzer; reading its lexicon file takes a few ms, so a CLI that never scores never pays for it."""
    return SentimentIntensityAnalyzer()


@cache
def _lexicon() -> dict[str, float]:
    return dict(analyzer().lexicon)


def vader_compound(text: str) -> float:
    """VADER's compound score in [-1, 1], all its rules applied; tuned for English social media text."""
    return float(analyzer().polarity_scores(text)["compound"])


def lexicon_scores(text: str) -> tuple[float, float, float]:
    """Negative, positive and compound scores from the VADER lexicon with negation flips.

    VADER's word valences, negation scalar and compound normalisation, without its booster, capitalisation and
    "but" rules; only the first 1000 characters are read."""
    lexicon = _lexicon()
    pos = neg = 0.0
    previous: tuple[str, ...] = ()
    for token in _WORD.findall(text[:1000].lower()):
        valence = lexicon.get(token)
        if valence is not None:
            if NEGATORS.intersection(previous) or any(p.endswith("n't") for p in previous):
                valence *= N_SCALAR
            if valence > 0:
                pos += valence
            else:
                neg -= valence
        previous = (*previous[-2:], token)
    total = pos + neg
    if total == 0:
        return 0.0, 0.0, 0.0
    return neg / (total + 1), pos / (total + 1), float(normalize(pos - neg))
