"""Training-set size as a fidelity, for the kernel and neighbour methods that scale badly with rows.

An SVM costs roughly quadratic time in its training rows and k-NN's prediction cost is linear in
them, so a configuration scored on a ninth of the data first is a cheap early read. The subsets
are nested and stratified (each one contains the smaller ones) and drawn with the fixed split
seed, like the validation split: every configuration of every run is scored on the same rows at a
given stage, so a scheduler comparing trials at a low fidelity compares configurations, not subsets.
The fidelity is the percentage of the fitting rows used (11, 33, 100) so a full fit is 100 for
any dataset, which is what ``max_fidelity`` must state without seeing the data.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from bench.datasets.splits import SPLIT_SEED
from bench.families.base import Family

#: Fractions of the fitting rows each stage uses; the last is always the whole set.
FRACTIONS = (1 / 9, 1 / 3, 1.0)
#: A stage below this many rows per class, or below MIN_ROWS in all, says little about the full fit
#: (on 126 digits images ASHA pruned half the configurations); it is skipped.
MIN_ROWS_PER_CLASS = 100
MIN_ROWS = 1000


def nested_subsets(y: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[tuple[int, np.ndarray]]:
    """``(percent, row indices)`` for each fraction that leaves enough rows, smallest first.

    Each subset is a stratified sample of the next larger one, so stages grow by adding rows.
    """
    n = len(y)
    n_classes = len(np.unique(y))
    floor = max(MIN_ROWS, MIN_ROWS_PER_CLASS * n_classes)
    stages: list[tuple[int, np.ndarray]] = [(100, np.arange(n))]
    for fraction in sorted(fractions, reverse=True):
        size = round(fraction * n)
        if fraction >= 1.0 or size < floor:
            continue
        larger = stages[0][1]
        keep, _ = train_test_split(larger, train_size=size, stratify=y[larger], random_state=seed)
        stages.insert(0, (round(100 * fraction), np.sort(keep)))
    return stages


class RowFidelity(Family):
    """Mixin for families fitted on growing stratified subsets of the fitting rows."""

    fidelity_unit = "train_percent"
    stages_refit = True

    def max_steps(self) -> int:
        return len(FRACTIONS)

    def max_fidelity(self, params: dict[str, Any]) -> int:
        return 100

    def fit_stages(self, model: Any, X: np.ndarray, y: np.ndarray) -> Iterator[int]:
        for percent, rows in nested_subsets(np.asarray(y), FRACTIONS, SPLIT_SEED):
            model.fit(X[rows], y[rows])
            yield percent

    def fit(self, model: Any, X: np.ndarray, y: np.ndarray) -> int:
        model.fit(X, y)
        return 100
