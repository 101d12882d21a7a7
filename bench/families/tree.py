"""A single decision tree: the interpretable baseline, fitted in one shot (no fidelity).

``DecisionTreeClassifier()`` grows unlimited depth with no pruning; the space reaches that point
through two switches, ``limit_depth`` (then ``max_depth``) and ``prune`` (then ``ccp_alpha``), so
that "no limit" and "no pruning" are values rather than the far end of a range.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier

from bench.families.base import Family, Hyperparameter, register_family
from bench.families.preprocess import PREPROCESSING, preprocessing_steps


@register_family
class Tree(Family):
    name = "tree"
    parallel_fit = False  # the tree builder runs on one core
    ceilings: ClassVar[dict[str, int]] = {"max_depth": 200}
    description = "CART decision tree (gini or entropy, depth and leaf-size limits, cost-complexity pruning)"
    hyperparameters: ClassVar[tuple[Hyperparameter, ...]] = (
        *PREPROCESSING,
        Hyperparameter("criterion", str, "gini", "DecisionTreeClassifier(criterion='gini')"),
        Hyperparameter("splitter", str, "best", "DecisionTreeClassifier(splitter='best')"),
        Hyperparameter("limit_depth", bool, False, "DecisionTreeClassifier(max_depth=None): no depth limit"),
        Hyperparameter("max_depth", int, None, "unset: no depth limit (read only when limit_depth is true)"),
        Hyperparameter("min_samples_leaf", int, 1, "DecisionTreeClassifier(min_samples_leaf=1)"),
        Hyperparameter("max_features", (float, int, str), 1.0, "DecisionTreeClassifier(max_features=None): every feature"),
        Hyperparameter("prune", bool, False, "DecisionTreeClassifier(ccp_alpha=0.0): no pruning"),
        Hyperparameter("ccp_alpha", float, 0.0, "DecisionTreeClassifier(ccp_alpha=0.0) (read only when prune is true)"),
    )

    def build(self, params: dict[str, Any], *, seed: int, n_jobs: int, device: str = "cpu") -> Pipeline:
        depth = params.get("max_depth") if params.get("limit_depth", True) else None
        alpha = params.get("ccp_alpha", 0.0) if params.get("prune", True) else 0.0
        tree = DecisionTreeClassifier(
            criterion=params.get("criterion", "gini"),
            splitter=params.get("splitter", "best"),
            max_depth=None if depth is None else int(depth),
            min_samples_leaf=int(params.get("min_samples_leaf", 1)),
            max_features=params.get("max_features"),
            ccp_alpha=float(alpha),
            random_state=seed,
        )
        return Pipeline([*preprocessing_steps(params, seed), ("model", tree)])
