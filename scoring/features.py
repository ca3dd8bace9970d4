"""Pure feature extraction for the warm-lead model: intent cues, sentiment and author signals from plain values.

No I/O and no database: the same functions serve training (a DataFrame), batch scoring and the one-row fast path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from scoring.sentiment import NEGATORS, lexicon_scores

TEXT = "text"
# Author and context columns a labelled file or a CRM mention may carry; all optional (missing -> neutral value).
AUTHOR_COLUMNS: tuple[str, ...] = (
    "competitor_mentioned",
    "followers",
    "following",
    "likes",
    "reposts",
    "replies",
    "age_hours",
    "dm_open",
    "prior_interactions",
)

# (feature name, pattern, human reason shown on the board); the order is the column order of CueFeatures.
CUES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    (
        "alternative",
        re.compile(
            r"\b(alternatives?|replacements?|instead of|switch(ing|ed)? (from|away|to)|migrat\w+ (from|off|to)|"
            r"move (away )?from|leaving|ditch\w*)\b",
            re.I,
        ),
        "asks for an alternative",
    ),
    (
        "recommendation",
        re.compile(
            r"\b(recommend\w*|suggest\w*|any(one)? (know|use|tried)|looking for|best (tool|app|way|option)|"
            r"what do you use|which (one|tool|app) )",
            re.I,
        ),
        "asks for a recommendation",
    ),
    (
        "complaint",
        re.compile(
            r"\b(frustrat\w+|annoy\w+|terrible|awful|broken|hate|sucks?|fed up|disappoint\w+|worst|ridiculous|"
            r"unacceptable|useless|still (not|no|waiting)|never again|refund|waste)\b",
            re.I,
        ),
        "complaint or pain",
    ),
    (
        "price",
        re.compile(r"\b(pric\w+|cost\w*|expensive|cheaper|pay(ing)? for|subscription|plan|quote)\b", re.I),
        "price question",
    ),
    (
        "buying",
        re.compile(r"\b(buy\w*|purchas\w+|sign(ing)? up|trial|demo|want to get|need an?)\b", re.I),
        "buying intent",
    ),
    (
        "negation",
        re.compile(r"\b(not|no|never|cannot|can't|won't|doesn't|don't|didn't|isn't|wasn't|yet|again)\b|n't", re.I),
        "",
    ),
    ("question", re.compile(r"\?"), "question form"),
)
CUE_NAMES: tuple[str, ...] = (*(name for name, _, _ in CUES), "sent_neg", "sent_pos", "sent_compound")
CUE_REASONS: dict[str, str] = {name: reason for name, _, reason in CUES if reason}
CUE_REASONS.update({"sent_neg": "negative tone", "sent_compound": "positive tone"})


# Case-folded once per text, then case-sensitive patterns: ~2x faster than re.I on every pattern.
_LOWER_CUES = tuple(re.compile(pattern.pattern) for _, pattern, _ in CUES)


def cue_row(text: str) -> list[float]:
    lowered = text.lower()
    row = [1.0 if pattern.search(lowered) else 0.0 for pattern in _LOWER_CUES]
    row.extend(lexicon_scores(text))
    return row


def cue_matrix(texts: Iterable[str]) -> np.ndarray:
    rows = [cue_row(t if isinstance(t, str) else "") for t in texts]
    return np.asarray(rows, dtype=np.float64).reshape(-1, len(CUE_NAMES))


def _num(value: Any) -> float:
    if value is None:
        return 0.0
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if math.isnan(number) else number


def author_row(values: Sequence[Any]) -> list[float]:
    """Author/context values in AUTHOR_COLUMNS order -> scaled features (logs for counts, decay for age)."""
    competitor, followers, following, likes, reposts, replies, age_hours, dm_open, prior = (_num(v) for v in values)
    engagement = likes + 2 * reposts + 2 * replies
    return [
        1.0 if competitor > 0 else 0.0,
        math.log10(1 + max(followers, 0)) / 7,
        math.log10(1 + max(followers, 0)) / 7 - math.log10(1 + max(following, 0)) / 7,
        math.log10(1 + max(engagement, 0)) / 4,
        # Recent posts are warmer; unknown age (0) counts as fresh because listeners score on arrival.
        math.exp(-max(age_hours, 0) / 168),
        1.0 if dm_open > 0 else 0.0,
        math.log1p(max(prior, 0)) / 3,
    ]


AUTHOR_FEATURES: tuple[str, ...] = (
    "competitor",
    "reach",
    "follower_ratio",
    "engagement",
    "recency",
    "dm_open",
    "prior_interactions",
)


class CueFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Text column -> intent cues + VADER sentiment; stateless, so fit is a no-op."""

    def fit(self, X: Any, y: Any = None) -> CueFeatures:
        return self

    def transform(self, X: Any) -> np.ndarray:
        return cue_matrix(_as_texts(X))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(CUE_NAMES, dtype=object)


class AuthorFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Author/context columns (AUTHOR_COLUMNS order) -> scaled reach, engagement, recency, DM and history features."""

    def fit(self, X: Any, y: Any = None) -> AuthorFeatures:
        return self

    def transform(self, X: Any) -> np.ndarray:
        rows = np.asarray(X, dtype=object)
        if rows.ndim == 1:
            rows = rows.reshape(1, -1)
        return np.asarray([author_row(r) for r in rows], dtype=np.float64).reshape(-1, len(AUTHOR_FEATURES))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(AUTHOR_FEATURES, dtype=object)


def _as_texts(X: Any) -> list[str]:
    if hasattr(X, "tolist"):
        X = X.tolist()
    out: list[str] = []
    for item in X:
        if isinstance(item, list | tuple):
            item = item[0] if item else ""
        out.append(item if isinstance(item, str) else "")
    return out


_HANDLE = re.compile(r"@(\w{2,})")


def handles(text: str) -> list[str]:
    return [h.lower() for h in _HANDLE.findall(text)]


# ---------------------------------------------------------------------------- style and form

_URL = re.compile(r"https?://|www\.")
_LEADING_HANDLE = re.compile(r"\s*(?:\.\s*)?@\w")
# Customer-care handles (@AdobeCare, @hulu_support, @FC_Help): a post addressed to one is about a product or service.
_CARE_HANDLE = re.compile(r"@\w*(?:help|support|care|cares|service|desk|team|_cs|cs_|assist)\b", re.I)
_EMPHASIS = re.compile(r"[!?]{2,}")
_DIGIT = re.compile(r"\d")
_WAITING = re.compile(
    r"\b(\d+\+? ?(min(ute)?s?|hours?|hrs?|days?|weeks?|months?)|still|waiting|yet|since|again|ages)\b"
)
_COMPLAINT_LOWER = re.compile(CUES[2][1].pattern)
# Word sets looked up on one tokenisation (a set lookup per word is several times cheaper than an alternation regex).
_FIRST_PERSON = frozenset({"i", "i'm", "i've", "i'd", "im", "me", "my", "mine", "we", "our", "us"})
_POLITE = frozenset({"thanks", "thank", "thx", "love", "great", "awesome", "amazing", "lol", "haha", "congrats"})
_WORD = re.compile(r"[a-z][a-z']*")
_NEGATION_WORDS = NEGATORS | {"nothing", "nobody", "nowhere", "yet", "again", "cant", "wont", "dont", "didnt"}

STYLE_NAMES: tuple[str, ...] = (
    "starts_with_handle",
    "care_handle",
    "handles",
    "url",
    "truncated",
    "hashtags",
    "exclamations",
    "questions",
    "emphasis",
    "caps_words",
    "caps_share",
    "length",
    "words",
    "first_person",
    "waiting",
    "polite",
    "complaint_words",
    "negations",
    "digits",
)

STYLE_REASONS: dict[str, str] = {
    "care_handle": "addresses a customer-care handle",
    "waiting": "still waiting",
    "complaint_words": "complaint or pain",
    "emphasis": "emphatic tone",
    "questions": "question form",
}


def style_row(text: str) -> list[float]:
    """Form of a post: who it is addressed to, links, emphasis, length, and counts of pain and negation words."""
    lowered = text.lower()
    words = _WORD.findall(lowered)
    letters = sum(map(str.isalpha, text))
    capitals = sum(map(str.isupper, text))
    shouted = sum(1 for w in text.split() if len(w) >= 3 and w.isupper())
    return [
        1.0 if _LEADING_HANDLE.match(text) else 0.0,
        1.0 if _CARE_HANDLE.search(text) else 0.0,
        math.log1p(text.count("@")),
        1.0 if _URL.search(lowered) else 0.0,
        1.0 if text.rstrip().endswith(("…", "...")) or "… http" in text else 0.0,
        math.log1p(text.count("#")),
        math.log1p(text.count("!")),
        math.log1p(text.count("?")),
        1.0 if _EMPHASIS.search(text) else 0.0,
        math.log1p(shouted),
        capitals / letters if letters else 0.0,
        math.log1p(len(text)),
        math.log1p(len(words)),
        math.log1p(sum(1 for w in words if w in _FIRST_PERSON)),
        math.log1p(len(_WAITING.findall(lowered))),
        math.log1p(sum(1 for w in words if w in _POLITE)),
        math.log1p(len(_COMPLAINT_LOWER.findall(lowered))),
        math.log1p(sum(1 for w in words if w in _NEGATION_WORDS or w.endswith("n't"))),
        1.0 if _DIGIT.search(text) else 0.0,
    ]


class StyleFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Text column -> form features (addressee, links, emphasis, length, lexicon counts), standardised with the
    training rows' mean and spread so they sit on one scale next to the tf-idf columns; `weight` then sets how
    much they count against the n-grams under the classifier's one regularisation strength."""

    def __init__(self, weight: float = 1.0) -> None:
        self.weight = weight

    def fit(self, X: Any, y: Any = None) -> StyleFeatures:
        raw = self._raw(_as_texts(X))
        self.mean_ = raw.mean(axis=0)
        spread = raw.std(axis=0)
        self.scale_ = np.where(spread > 0, spread, 1.0)
        return self

    def transform(self, X: Any) -> np.ndarray:
        result: np.ndarray = (self._raw(_as_texts(X)) - self.mean_) * (self.weight / self.scale_)
        return result

    @staticmethod
    def _raw(texts: list[str]) -> np.ndarray:
        return np.asarray([style_row(t) for t in texts], dtype=np.float64).reshape(-1, len(STYLE_NAMES))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(STYLE_NAMES, dtype=object)
