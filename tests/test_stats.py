"""The leaderboard's statistics against independent references: scipy's binomial test, published
Wilson intervals (Newcombe 1998, Table II) and hand-computed Holm adjustments."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from bench.stats import discordant_pairs, holm, mcnemar_exact, t_halfwidth, wilson_interval

Z = stats.norm.ppf(0.975)

# ----------------------------------------------------------------- McNemar

# (y_true, model a, model b, images only a gets right, images only b gets right), counted by hand
PAIRS = [
    # 1 and 2: only a right; 4: only b right; 0 and 5: both right; 3: both wrong (with different labels)
    ([0, 1, 2, 3, 4, 5], [0, 1, 2, 9, 0, 5], [0, 7, 7, 8, 4, 5], 2, 1),
    # a right everywhere, b wrong on 9 of 10, right on 1
    (list(range(10)), list(range(10)), [0] + [9 - i for i in range(1, 10)], 9, 0),
    # b beats a on the last 9 images, a beats b on the first
    ([1] * 10, [1] + [0] * 9, [0] + [1] * 9, 1, 9),
]


@pytest.mark.parametrize(("truth", "a", "b", "only_a", "only_b"), PAIRS)
def test_mcnemar_is_the_binomial_test_of_the_discordant_pairs(truth, a, b, only_a, only_b) -> None:
    assert discordant_pairs(truth, a, b) == (only_a, only_b)
    expected = stats.binomtest(only_a, only_a + only_b, 0.5, alternative="two-sided").pvalue
    assert mcnemar_exact(truth, a, b) == pytest.approx(expected)
    assert mcnemar_exact(truth, b, a) == pytest.approx(expected)  # two-sided: symmetric


def test_mcnemar_known_value() -> None:
    # b = 1, c = 9: 2 * P(X <= 1 | n = 10, p = 1/2) = 2 * (1 + 10) / 2**10
    truth, a, b = PAIRS[2][:3]
    assert mcnemar_exact(truth, a, b) == pytest.approx(22 / 1024)


def test_mcnemar_without_discordant_pairs_is_one() -> None:
    truth = [0, 1, 2, 3]
    assert mcnemar_exact(truth, [0, 1, 9, 9], [0, 1, 8, 7]) == 1.0  # same images right, labels differ where wrong
    assert mcnemar_exact(truth, truth, truth) == 1.0


def test_mcnemar_refuses_unpaired_predictions() -> None:
    with pytest.raises(ValueError, match="paired"):
        mcnemar_exact([0, 1, 2], [0, 1], [0, 1, 2])


def test_mcnemar_on_a_larger_planted_case() -> None:
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 10, size=500)
    a, b = truth.copy(), truth.copy()
    a[:5] = (truth[:5] + 1) % 10     # a wrong on 5 images
    b[3:33] = (truth[3:33] + 1) % 10  # b wrong on 30, two of them shared with a
    only_a, only_b = 30 - 2, 5 - 2
    assert discordant_pairs(truth, a, b) == (only_a, only_b)
    assert mcnemar_exact(truth, a, b) == pytest.approx(stats.binomtest(only_a, only_a + only_b).pvalue)
    assert mcnemar_exact(truth, a, b) < 0.001


# ----------------------------------------------------------------- Wilson

# Newcombe (1998), Statistics in Medicine 17:857-872, Table II, method 3 (score, no continuity correction)
NEWCOMBE = [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)]


@pytest.mark.parametrize(("k", "n", "low", "high"), NEWCOMBE)
def test_wilson_matches_newcombe(k: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(k, n)
    assert got == pytest.approx((low, high), abs=5e-5)


def test_wilson_edges_have_closed_forms() -> None:
    # 0 of n: [0, z^2 / (n + z^2)]; n of n: [n / (n + z^2), 1]
    assert wilson_interval(0, 10) == pytest.approx((0.0, Z**2 / (10 + Z**2)))
    assert wilson_interval(10, 10) == pytest.approx((10 / (10 + Z**2), 1.0))
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert all(math.isnan(x) for x in wilson_interval(0, 0))
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


@pytest.mark.parametrize(("k", "n"), [(350, 360), (9800, 10000), (3, 7), (1, 2)])
def test_wilson_agrees_with_scipy(k: int, n: int) -> None:
    reference = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(k, n) == pytest.approx((reference.low, reference.high))
    low90, high90 = wilson_interval(k, n, confidence=0.90)
    assert reference.low < low90 < high90 < reference.high  # a lower confidence, a narrower interval


# ----------------------------------------------------------------- Holm


def test_holm_by_hand() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.02, 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one_and_skips_missing() -> None:
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    adjusted = holm([0.02, math.nan, 0.04])  # two tests, not three
    assert adjusted[0] == pytest.approx(0.04) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.04)
    assert holm([0.03]) == pytest.approx([0.03]) and holm([]) == []


def test_holm_is_never_below_the_raw_p_and_keeps_the_order() -> None:
    rng = np.random.default_rng(0)
    raw = rng.uniform(0, 0.2, size=8)
    adjusted = np.asarray(holm(raw))
    assert (adjusted >= raw).all() and (adjusted <= 1).all()
    order = np.argsort(raw)
    assert np.all(np.diff(adjusted[order]) >= 0)
    assert adjusted[order[0]] == pytest.approx(min(1.0, len(raw) * raw[order[0]]))  # the smallest: Bonferroni


# ----------------------------------------------------------------- Student t


def test_t_halfwidth_is_scipys_interval() -> None:
    values = np.array([0.97, 0.975, 0.96])
    low, high = stats.t.interval(0.95, 2, loc=values.mean(), scale=stats.sem(values))
    assert t_halfwidth(values.std(ddof=1), 3) == pytest.approx((high - low) / 2)
    assert math.isnan(t_halfwidth(0.01, 1)) and math.isnan(t_halfwidth(math.nan, 3))
