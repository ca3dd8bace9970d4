"""The transparent baseline scorer: hand-written cues with fixed weights, used until a trained model is promoted.

It is named as such everywhere it appears (model version "baseline-rules-1") so nobody mistakes it for the
scikit-learn models that replace it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

VERSION = "baseline-rules-1"

_CUES: tuple[tuple[str, re.Pattern[str], float], ...] = (
    (
        "asks for an alternative",
        re.compile(r"\b(alternatives?|replacement|instead of|switch(ing)? (from|away)|migrat\w+ (from|off))\b", re.I),
        30,
    ),
    (
        "asks for a recommendation",
        re.compile(r"\b(recommend\w*|suggest\w*|any(one)? (know|use)|looking for|best (tool|app|way))\b", re.I),
        20,
    ),
    (
        "complaint or pain",
        re.compile(
            r"\b(frustrat\w+|annoy\w+|terrible|awful|broken|hate|sucks?|fed up|disappoint\w+|worst|cancel\w*)\b", re.I
        ),
        15,
    ),
    ("price question", re.compile(r"\b(pric\w+|cost\w*|expensive|cheaper|pay(ing)? for|subscription)\b", re.I), 10),
)


@dataclass(frozen=True, slots=True)
class BaselineInput:
    text: str
    competitors: tuple[str, ...] = ()
    followers: int | None = None
    dm_open: bool = False


@dataclass(frozen=True, slots=True)
class Scored:
    probability: float
    score: float
    reasons: tuple[str, ...]
    model_version: str


def score(item: BaselineInput) -> Scored:
    points = 5.0
    reasons: list[str] = []
    for label, pattern, weight in _CUES:
        if pattern.search(item.text):
            points += weight
            reasons.append(label)
    if "?" in item.text:
        points += 5
        reasons.append("question form")
    if item.competitors:
        points += 15
        reasons.append(f"mentions competitor {', '.join(item.competitors)}")
    if item.followers:
        points += min(10.0, 2.0 * math.log10(1 + item.followers))
        if item.followers >= 1000:
            reasons.append(f"author has {item.followers:,} followers")
    if item.dm_open:
        points += 5
        reasons.append("DMs open")
    value = max(0.0, min(100.0, points))
    return Scored(probability=value / 100, score=round(value, 1), reasons=tuple(reasons), model_version=VERSION)
