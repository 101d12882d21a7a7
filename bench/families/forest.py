"""Random forest and extra trees, one family with the ensemble kind as a categorical choice.

Fidelity is the number of trees: the forest grows in chunks with ``warm_start`` and reports after
each, so the scheduler can stop a poor configuration after a few dozen trees. Growing in chunks
gives the same forest as one fit (scikit-learn draws each tree's seed in order).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.pipeline import Pipeline

from bench.errors import BenchInputError
from bench.families.base import Family, check_ceiling, chunk_ends, register_family
from bench.families.preprocess import preprocessing_steps

KINDS = {"random_forest": RandomForestClassifier, "extra_trees": ExtraTreesClassifier}
#: Trees added between two reports.
CHUNK = 50
#: Most trees a configuration may ask for; with ``CHUNK`` it sets the scheduler's horizon.
MAX_TREES = 500


@register_family
class Forest(Family):
    name = "forest"
    description = "random forest or extra trees (scikit-learn), grown in chunks of trees"
    fidelity_unit = "trees"

    def build(self, params: dict[str, Any], *, seed: int, n_jobs: int, device: str = "cpu") -> Pipeline:
        kind = params.get("kind", "random_forest")
        if kind not in KINDS:
            raise BenchInputError(f"forest: unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}")
        depth = params.get("max_depth")
        forest = KINDS[kind](
            n_estimators=self.max_fidelity(params),
            criterion=params.get("criterion", "gini"),
            max_features=params.get("max_features", "sqrt"),
            max_depth=None if depth is None else int(depth),
            min_samples_leaf=int(params.get("min_samples_leaf", 1)),
            bootstrap=bool(params.get("bootstrap", kind == "random_forest")),
            warm_start=True,
            n_jobs=n_jobs,
            random_state=seed,
        )
        return Pipeline([*preprocessing_steps(params, seed), ("model", forest)])

    def max_steps(self) -> int:
        return len(chunk_ends(MAX_TREES, CHUNK))

    def max_fidelity(self, params: dict[str, Any]) -> int:
        return check_ceiling(self.name, "n_estimators", int(params.get("n_estimators", 100)), MAX_TREES)

    def fit_stages(self, model: Pipeline, X: np.ndarray, y: np.ndarray) -> Iterator[int]:
        for trees in chunk_ends(model[-1].n_estimators, CHUNK):
            model.set_params(model__n_estimators=trees)
            model.fit(X, y)  # deskewing, when chosen, is cached: a chunk pays for its trees and one hash of X
            yield trees
