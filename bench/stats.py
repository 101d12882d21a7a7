"""The leaderboard's statistics: how sure a test accuracy is, and whether two models differ.

A test set of 360 images moves an accuracy by 0.28 points per image, so every number the
leaderboard prints needs its uncertainty beside it:

- :func:`wilson_interval`: a binomial interval for one accuracy from the test set's size (the
  Wilson score interval keeps its coverage near 0 and 1, where the normal one does not).
- :func:`mcnemar_exact`: whether two models scored on the *same* test images differ (a paired
  test: only the images where exactly one of them is right carry information).
- :func:`holm`: Holm's step-down correction, so comparing every family with the winner does not
  find differences by chance.
- :func:`t_halfwidth`: the Student-t interval of a mean over seeds (search noise only, when every
  seed is scored on the same test set).

>>> [round(x, 4) for x in wilson_interval(81, 263)]
[0.2553, 0.3662]
>>> mcnemar_exact([0, 1, 1], [0, 1, 0], [0, 1, 1])
1.0
>>> holm([0.01, 0.04, 0.03])
[0.03, 0.06, 0.06]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

CONFIDENCE = 0.95


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of ``successes`` out of ``n`` (``(nan, nan)`` when ``n`` is 0)."""
    if n <= 0:
        return math.nan, math.nan
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, n]; got {successes} of {n}")
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # exact ends at 0 and n: the formula gives them only up to rounding
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def discordant_pairs(y_true: ArrayLike, pred_a: ArrayLike, pred_b: ArrayLike) -> tuple[int, int]:
    """``(b, c)``: images only model a gets right, and images only model b gets right."""
    truth, a, b = (np.asarray(v) for v in (y_true, pred_a, pred_b))
    if not truth.shape == a.shape == b.shape:
        raise ValueError(f"predictions must be paired: shapes {truth.shape}, {a.shape}, {b.shape}")
    right_a, right_b = a == truth, b == truth
    return int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))


def mcnemar_exact(y_true: ArrayLike, pred_a: ArrayLike, pred_b: ArrayLike) -> float:
    """Exact two-sided McNemar p-value of two models' predictions on the same test images.

    Under "the two models are equally accurate", each discordant image is a fair coin: the
    p-value is the two-sided binomial test of ``b`` successes in ``b + c`` at 0.5; 1.0 when the
    models never disagree on correctness.
    """
    b, c = discordant_pairs(y_true, pred_a, pred_b)
    if b + c == 0:
        return 1.0
    return float(stats.binomtest(b, b + c, 0.5).pvalue)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order (NaN stays NaN, not counted).

    The i-th smallest of m p-values is multiplied by ``m - i`` (0-based), made non-decreasing
    along that order, and capped at 1: reject where the adjusted value is below alpha.
    """
    values = np.asarray(p_values, dtype=float)
    out = np.full(values.shape, np.nan)
    present = np.flatnonzero(~np.isnan(values))
    m = len(present)
    order = present[np.argsort(values[present], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * values[index]))
        out[index] = running
    return out.tolist()


def t_halfwidth(std: float, n: int, confidence: float = CONFIDENCE) -> float:
    """Half-width of the Student-t interval of a mean of ``n`` values with sample std ``std``
    (NaN below two values: one result has no spread to show)."""
    if n < 2 or std is None or math.isnan(std):
        return math.nan
    return float(stats.t.ppf(0.5 + confidence / 2, n - 1) * std / math.sqrt(n))


__all__ = ["CONFIDENCE", "discordant_pairs", "holm", "mcnemar_exact", "t_halfwidth", "wilson_interval"]
