"""Which variant of a template a first message uses: Thompson sampling on reply rate.

Each variant's reply rate has a Beta posterior, Beta(1 + replies, 1 + sends - replies): the uniform Beta(1, 1)
prior says nothing about a new variant, so it is tried until its own sends speak. To choose, draw one reply rate
from every posterior and send the variant with the highest draw; a variant that is probably best is drawn best
most often, and a variant with few sends still gets tried while its posterior is wide. The caller keys the counts
per template and campaign (watch) and passes them in; nothing here reads or writes the database.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from scipy.special import betaincinv

PRIOR_ALPHA = 1.0
PRIOR_BETA = 1.0
CREDIBLE_LEVEL = 0.95

VariantId = TypeVar("VariantId", bound=Hashable)


@dataclass(frozen=True, slots=True)
class VariantStats:
    """How often a variant was sent and how many of those sends got a reply."""

    sends: int = 0
    replies: int = 0

    def __post_init__(self) -> None:
        if self.sends < 0 or self.replies < 0:
            raise ValueError(f"counts cannot be negative (sends={self.sends}, replies={self.replies})")
        if self.replies > self.sends:
            raise ValueError(f"a variant cannot have more replies ({self.replies}) than sends ({self.sends})")


@dataclass(frozen=True, slots=True)
class Posterior:
    """The Beta posterior of one variant's reply rate: its parameters, mean and equal-tailed credible interval."""

    alpha: float
    beta: float
    mean: float
    low: float
    high: float
    level: float = CREDIBLE_LEVEL


def _parameters(stats: VariantStats) -> tuple[float, float]:
    return PRIOR_ALPHA + stats.replies, PRIOR_BETA + stats.sends - stats.replies


def posterior(stats: VariantStats, level: float = CREDIBLE_LEVEL) -> Posterior:
    """Mean and `level` credible interval of the reply rate (the Beta's quantiles at (1 - level) / 2 and above)."""
    if not 0 < level < 1:
        raise ValueError(f"the credible level must lie between 0 and 1, not {level}")
    alpha, beta = _parameters(stats)
    tail = (1 - level) / 2
    return Posterior(
        alpha=alpha,
        beta=beta,
        mean=alpha / (alpha + beta),
        low=float(betaincinv(alpha, beta, tail)),
        high=float(betaincinv(alpha, beta, 1 - tail)),
        level=level,
    )


def posteriors(stats: Mapping[VariantId, VariantStats]) -> dict[VariantId, Posterior]:
    """Every variant's posterior, as the API shows them next to the counts."""
    return {variant: posterior(counts) for variant, counts in stats.items()}


def choose_variant(
    stats: Mapping[VariantId, VariantStats], rng: random.Random, pinned: VariantId | None = None
) -> VariantId:
    """The variant to send next: the pinned one when a rep pinned it, else the highest of one draw per posterior.

    `stats` holds every live variant of the template, those never sent with VariantStats(). Draws come from `rng`
    in the mapping's order, so a seeded generator gives the same choices for the same counts.
    """
    if not stats:
        raise ValueError("there is no variant to choose from")
    if pinned is not None:
        if pinned not in stats:
            raise ValueError(f"the pinned variant {pinned!r} is not one of this template's variants")
        return pinned
    best: VariantId | None = None
    best_draw = -1.0
    for variant, counts in stats.items():
        draw = rng.betavariate(*_parameters(counts))
        if draw > best_draw:
            best, best_draw = variant, draw
    assert best is not None  # stats is not empty and every draw is >= 0
    return best
