"""Random forest and extra trees, one family with the ensemble kind as a categorical choice.

Fidelity is the number of trees: the forest grows in chunks with ``warm_start`` and reports after
each, so the scheduler can stop a poor configuration after a few dozen trees. Growing in chunks
gives the same forest as one fit (scikit-learn draws each tree's seed in order).

The features tried per split are searched as a multiple of sqrt(n_features)
(``max_features_factor``): factor 1 is scikit-learn's default ``'sqrt'``, and a range of factors
means the same thing on 64 pixels as on 784, where a fraction of the pixels does not.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.pipeline import Pipeline

from bench.errors import BenchInputError
from bench.families.base import Family, Hyperparameter, check_ceiling, chunk_ends, register_family
from bench.families.preprocess import PREPROCESSING, preprocessing_steps


def sqrt_features(factor: float, n_features: int) -> int:
    """``factor`` times sklearn's ``'sqrt'`` count, max(1, int(sqrt(n))), kept within 1..n;
    factor 1 gives exactly the count ``'sqrt'`` gives."""
    return min(n_features, max(1, int(factor * math.sqrt(n_features))))


class _SqrtRelative:
    """Mixin for a scikit-learn forest: ``max_features`` is set at fit time from
    ``max_features_factor`` and the width of the data the forest sees (after deskewing)."""

    def __init__(
        self,
        *,
        max_features_factor: float = 1.0,
        n_estimators: int = 100,
        criterion: str = "gini",
        max_depth: int | None = None,
        min_samples_leaf: int = 1,
        bootstrap: bool = True,
        warm_start: bool = False,
        n_jobs: int | None = None,
        random_state: int | None = None,
    ) -> None:
        super().__init__(  # type: ignore[call-arg]
            n_estimators=n_estimators,
            criterion=criterion,
            max_depth=max_depth,
            min_samples_leaf=min_samples_leaf,
            bootstrap=bootstrap,
            warm_start=warm_start,
            n_jobs=n_jobs,
            random_state=random_state,
        )
        self.max_features_factor = max_features_factor

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> _SqrtRelative:
        if not float(self.max_features_factor) > 0:
            raise ValueError(f"max_features_factor must be positive, got {self.max_features_factor!r}")
        self.max_features = sqrt_features(float(self.max_features_factor), np.shape(X)[1])
        return super().fit(X, y, sample_weight)  # type: ignore[misc]


class SqrtRandomForestClassifier(_SqrtRelative, RandomForestClassifier):
    """``RandomForestClassifier`` with ``max_features`` = ``max_features_factor`` x sqrt(n_features)."""


class SqrtExtraTreesClassifier(_SqrtRelative, ExtraTreesClassifier):
    """``ExtraTreesClassifier`` with ``max_features`` = ``max_features_factor`` x sqrt(n_features)."""


KINDS = {"random_forest": SqrtRandomForestClassifier, "extra_trees": SqrtExtraTreesClassifier}
#: The plain classes, for configurations that give ``max_features`` itself (a fraction, 'sqrt').
PLAIN_KINDS = {"random_forest": RandomForestClassifier, "extra_trees": ExtraTreesClassifier}
#: Trees added between two reports.
CHUNK = 50
#: Most trees a configuration may ask for; with ``CHUNK`` it sets the scheduler's horizon.
MAX_TREES = 500


@register_family
class Forest(Family):
    name = "forest"
    description = "random forest or extra trees (scikit-learn), grown in chunks of trees"
    fidelity_unit = "trees"
    ceilings: ClassVar[dict[str, int]] = {"max_depth": 200}
    hyperparameters: ClassVar[tuple[Hyperparameter, ...]] = (
        *PREPROCESSING,
        Hyperparameter("kind", str, "random_forest", "RandomForestClassifier (extra_trees: ExtraTreesClassifier)"),
        Hyperparameter("n_estimators", int, 100, "RandomForestClassifier(n_estimators=100)"),
        Hyperparameter("criterion", str, "gini", "RandomForestClassifier(criterion='gini')"),
        Hyperparameter("max_features_factor", float, 1.0, "RandomForestClassifier(max_features='sqrt')"),
        Hyperparameter(
            "max_features",
            (float, int, str),
            None,
            "unset: max_features_factor decides; scikit-learn's own max_features (older spaces) replaces it",
        ),
        Hyperparameter("max_depth", int, None, "RandomForestClassifier(max_depth=None): no depth limit"),
        Hyperparameter("min_samples_leaf", int, 1, "RandomForestClassifier(min_samples_leaf=1)"),
        Hyperparameter("bootstrap", bool, True, "RandomForestClassifier(bootstrap=True); unset, extra trees get their own False"),
    )

    def build(self, params: dict[str, Any], *, seed: int, n_jobs: int, device: str = "cpu") -> Pipeline:
        kind = params.get("kind", "random_forest")
        if kind not in KINDS:
            raise BenchInputError(f"forest: unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}")
        depth = params.get("max_depth")
        if "max_features" in params:  # hand-made configurations and older spaces: sklearn's own meaning
            cls, features = PLAIN_KINDS[kind], {"max_features": params["max_features"]}
        else:
            cls, features = KINDS[kind], {"max_features_factor": float(params.get("max_features_factor", 1.0))}
        forest = cls(
            n_estimators=self.max_fidelity(params),
            criterion=params.get("criterion", "gini"),
            max_depth=None if depth is None else int(depth),
            min_samples_leaf=int(params.get("min_samples_leaf", 1)),
            bootstrap=bool(params.get("bootstrap", kind == "random_forest")),
            warm_start=True,
            n_jobs=n_jobs,
            random_state=seed,
            **features,
        )
        return Pipeline([*preprocessing_steps(params, seed), ("model", forest)])

    def max_steps(self) -> int:
        return len(chunk_ends(MAX_TREES, CHUNK))

    def planned_steps(self, params: dict[str, Any]) -> int:
        return len(chunk_ends(self.max_fidelity(params), CHUNK))

    def max_fidelity(self, params: dict[str, Any]) -> int:
        return check_ceiling(self.name, "n_estimators", int(params.get("n_estimators", 100)), MAX_TREES)

    def fit_stages(self, model: Pipeline, X: np.ndarray, y: np.ndarray) -> Iterator[int]:
        for trees in chunk_ends(model[-1].n_estimators, CHUNK):
            model.set_params(model__n_estimators=trees)
            model.fit(X, y)  # deskewing, when chosen, is cached: a chunk pays for its trees and one hash of X
            yield trees
