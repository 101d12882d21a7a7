"""Walks the family registry: every family builds, fits, predicts and refits on a digits slice.

A new family is tested here without anyone adding a test for it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.datasets import get_dataset
from bench.errors import BenchInputError
from bench.families import create_family, list_families
from bench.metrics import evaluate
from bench.space import load_space


@pytest.fixture(scope="module")
def tiny_digits():
    data = get_dataset("digits").load()
    return data.X_train[:300], data.y_train[:300], data.X_test[:100], data.y_test[:100]


def _configs(family: str, n: int) -> list[dict]:
    return load_space(family).sample(n, seed=1)


#: (family, params) -> (model fitted by fit_stages on tiny_digits, its stages). sample(4, seed=1)
#: begins with sample(3, seed=1), so the learning test scores the contract test's models instead
#: of growing the same forests and training the same nets again (the data and seed are the same).
_STAGED: dict[tuple[str, str], tuple[object, list[int]]] = {}


def _fit_in_stages(family: str, params: dict, X: np.ndarray, y: np.ndarray) -> tuple[object, list[int]]:
    key = (family, json.dumps(params, sort_keys=True, default=str))
    if key not in _STAGED:
        model_family = create_family(family)
        model = model_family.build(params, seed=0, n_jobs=1)
        _STAGED[key] = model, list(model_family.fit_stages(model, X, y))
    return _STAGED[key]


@pytest.mark.parametrize("family", list_families())
def test_family_fits_in_stages_and_scores(family: str, tiny_digits) -> None:
    X, y, X_val, y_val = tiny_digits
    model_family = create_family(family)
    for params in _configs(family, 3):
        model, stages = _fit_in_stages(family, params, X, y)
        assert stages and stages == sorted(set(stages)), stages  # strictly increasing
        assert len(stages) <= model_family.max_steps()  # within the early-stopping horizon
        if not model_family.schedule_bound:  # reproducible ASHA waits only for trials planned to reach a rung
            assert len(stages) <= model_family.planned_steps(params)
            assert len(stages) == model_family.planned_steps(params) or model_family.fidelity_unit == "train_percent"
        assert stages[-1] == model_family.max_fidelity(params)
        scores, predicted = evaluate(model, X_val, y_val, prefix="val_")
        assert predicted.shape == y_val.shape
        assert 0.0 <= scores["val_accuracy"] <= 1.0
        # refit contract: a fresh build with the same params and seed, fitted in one go as the
        # refit does, reaches the full fidelity and gives the same predictions
        again = model_family.build(params, seed=0, n_jobs=1)
        assert model_family.fit(again, X, y) == stages[-1]
        assert np.array_equal(again.predict(X_val), predicted)


@pytest.mark.parametrize("family", list_families())
def test_family_learns_something(family: str, tiny_digits) -> None:
    X, y, X_val, y_val = tiny_digits
    scores = []
    # the library default, the space's start configurations (known-good settings) and a few sampled ones
    space = load_space(family)
    for params in [space.default, *space.start, *_configs(family, 4)]:
        model, _ = _fit_in_stages(family, params, X, y)
        scores.append(evaluate(model, X_val, y_val, prefix="")[0]["accuracy"])
    assert max(scores) > 0.5, scores  # far above the 0.1 of guessing


def test_unknown_family_lists_valid_ones() -> None:
    with pytest.raises(BenchInputError, match="unknown family 'xgboost'; valid families: .*svm.*all"):
        create_family("xgboost")
