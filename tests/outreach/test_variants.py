"""Thompson sampling over a template's variants, in a seeded simulation of people who reply at known rates.

The world is drawn first: for every send and every variant, whether that person would reply to that variant. The
bandit and a uniform split (round robin) then read the same outcomes, so the comparison is of the policies only.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

import pytest

from outreach.compose.variants import VariantStats, choose_variant, posterior, posteriors

TRUE_REPLY_RATES = {"short": 0.05, "question": 0.10, "resource": 0.20}
BEST = "resource"
SENDS = 500
# "Sends the best at least 70% of the time after learning": measured over the last 200 of the 500 sends (301-500).
LAST_WINDOW = 200


@dataclass
class Run:
    chosen: list[str]
    bandit_replies: int
    uniform_replies: int
    stats: dict[str, VariantStats]

    def share_of_best_in_last_window(self) -> float:
        return self.chosen[-LAST_WINDOW:].count(BEST) / LAST_WINDOW


def simulate(seed: int, sends: int = SENDS) -> Run:
    world = random.Random(seed)
    would_reply = [{v: world.random() < rate for v, rate in TRUE_REPLY_RATES.items()} for _ in range(sends)]
    rng = random.Random(seed + 10_000)
    stats = {variant: VariantStats() for variant in TRUE_REPLY_RATES}
    chosen: list[str] = []
    replies = 0
    for outcomes in would_reply:
        variant = choose_variant(stats, rng)
        replied = outcomes[variant]
        chosen.append(variant)
        replies += replied
        before = stats[variant]
        stats[variant] = VariantStats(before.sends + 1, before.replies + replied)
    order = list(TRUE_REPLY_RATES)
    uniform = sum(outcomes[order[i % len(order)]] for i, outcomes in enumerate(would_reply))
    return Run(chosen, replies, uniform, stats)


def test_the_bandit_sends_the_best_variant_at_least_70_percent_of_the_last_200_of_500_sends() -> None:
    run = simulate(seed=12)

    assert run.share_of_best_in_last_window() >= 0.70
    assert Counter(run.chosen).most_common(1)[0][0] == BEST


def test_the_bandit_gets_more_replies_than_a_uniform_split_of_the_same_500_people() -> None:
    run = simulate(seed=12)

    assert run.bandit_replies > run.uniform_replies


def test_after_500_sends_the_learnt_posteriors_choose_the_best_variant_at_least_70_percent_of_the_time() -> None:
    learnt = simulate(seed=12).stats
    rng = random.Random(1)

    choices = Counter(choose_variant(learnt, rng) for _ in range(1000))

    assert choices[BEST] >= 700


def test_the_bandit_finds_the_best_variant_for_at_least_18_of_20_seeds() -> None:
    runs = [simulate(seed) for seed in range(20)]

    assert sum(run.share_of_best_in_last_window() >= 0.70 for run in runs) >= 18
    assert sum(run.bandit_replies > run.uniform_replies for run in runs) >= 18


def test_the_same_seed_and_counts_give_the_same_choices() -> None:
    stats = {"a": VariantStats(10, 2), "b": VariantStats(12, 3), "c": VariantStats(0, 0)}

    first = [choose_variant(stats, random.Random(7)) for _ in range(5)]
    second = [choose_variant(stats, random.Random(7)) for _ in range(5)]

    assert first == second


def test_a_variant_never_sent_is_still_tried() -> None:
    stats = {"proven": VariantStats(200, 30), "new": VariantStats()}
    rng = random.Random(3)

    choices = Counter(choose_variant(stats, rng) for _ in range(2000))

    assert choices["new"] > 0


def test_a_pinned_variant_is_always_sent_whatever_its_counts() -> None:
    stats = {"winner": VariantStats(400, 120), "loser": VariantStats(400, 4)}
    rng = random.Random(5)

    assert {choose_variant(stats, rng, pinned="loser") for _ in range(200)} == {"loser"}


def test_pinning_a_variant_the_template_does_not_have_is_an_error() -> None:
    with pytest.raises(ValueError, match="not one of this template's variants"):
        choose_variant({"a": VariantStats()}, random.Random(0), pinned="zzz")


def test_there_is_nothing_to_choose_from_an_empty_template() -> None:
    with pytest.raises(ValueError, match="no variant"):
        choose_variant({}, random.Random(0))


def test_counts_cannot_have_more_replies_than_sends_or_be_negative() -> None:
    with pytest.raises(ValueError, match="more replies"):
        VariantStats(sends=3, replies=4)
    with pytest.raises(ValueError, match="negative"):
        VariantStats(sends=-1)


def test_a_variant_never_sent_has_the_uniform_prior_as_its_posterior() -> None:
    prior = posterior(VariantStats())

    assert (prior.alpha, prior.beta) == (1.0, 1.0)
    assert prior.mean == pytest.approx(0.5)
    assert prior.low == pytest.approx(0.025) and prior.high == pytest.approx(0.975)


def test_the_posterior_mean_is_the_smoothed_reply_rate_and_the_interval_narrows_with_sends() -> None:
    few = posterior(VariantStats(sends=10, replies=2))
    many = posterior(VariantStats(sends=1000, replies=200))

    assert few.mean == pytest.approx(3 / 12)
    assert many.mean == pytest.approx(201 / 1002)
    assert few.low < few.mean < few.high
    assert many.high - many.low < few.high - few.low
    # Beta(201, 801): the normal approximation is close at this size, mean +- 1.96 sd.
    sd = (many.mean * (1 - many.mean) / (1002 + 1)) ** 0.5
    assert many.low == pytest.approx(many.mean - 1.96 * sd, abs=0.002)
    assert many.high == pytest.approx(many.mean + 1.96 * sd, abs=0.002)


def test_posteriors_are_reported_for_every_variant() -> None:
    stats = {"a": VariantStats(5, 1), "b": VariantStats()}

    assert set(posteriors(stats)) == {"a", "b"}
    assert posteriors(stats)["a"] == posterior(VariantStats(5, 1))


def test_a_credible_level_outside_zero_and_one_is_an_error() -> None:
    with pytest.raises(ValueError, match="credible level"):
        posterior(VariantStats(), level=1.0)
