"""Staged fitting of the tree ensembles (trees, boosting rounds) and of svm/knn (training-set size)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.datasets import get_dataset
from bench.errors import BenchInputError
from bench.families import create_family
from bench.families.preprocess import deskew_images
from bench.families.subsets import FRACTIONS, nested_subsets


@pytest.fixture(scope="module")
def digits():
    data = get_dataset("digits").load()
    return data.X_train, data.y_train, data.X_test, data.y_test


@pytest.mark.parametrize("deskew", [False, True])
def test_forest_grown_in_chunks_equals_one_fit(digits, deskew: bool) -> None:
    X, y, X_test, _ = digits
    forest = create_family("forest")
    params = {"kind": "random_forest", "n_estimators": 120, "max_features": 0.1, "deskew": deskew}
    staged = forest.build(params, seed=0, n_jobs=1)
    assert list(forest.fit_stages(staged, X[:500], y[:500])) == [50, 100, 120]
    assert len(staged[-1].estimators_) == 120
    assert ("deskew" in staged.named_steps) == deskew
    one_shot = forest.build(params, seed=0, n_jobs=1).set_params(model__warm_start=False).fit(X[:500], y[:500])
    assert np.array_equal(staged.predict_proba(X_test), one_shot.predict_proba(X_test))


def test_extra_trees_is_a_choice_of_the_forest() -> None:
    model = create_family("forest").build({"kind": "extra_trees", "n_estimators": 100, "bootstrap": False}, seed=0, n_jobs=1)[-1]
    from sklearn.ensemble import ExtraTreesClassifier

    assert isinstance(model, ExtraTreesClassifier) and model.n_jobs == 1
    with pytest.raises(BenchInputError, match="unknown kind 'gbm'; valid kinds: random_forest, extra_trees"):
        create_family("forest").build({"kind": "gbm"}, seed=0, n_jobs=1)


def test_lightgbm_deskews_what_it_fits_and_what_it_predicts(digits) -> None:
    X, y, X_test, _ = digits
    params = {"n_rounds": 50, "num_leaves": 8, "deskew": True}
    model = create_family("lightgbm").build(params, seed=0, n_jobs=1).fit(X[:400], y[:400])
    plain = create_family("lightgbm").build({**params, "deskew": False}, seed=0, n_jobs=1)
    plain.fit(deskew_images(X[:400]), y[:400])  # the same model, deskewed by hand
    np.testing.assert_allclose(model.predict_proba(X_test), plain.predict_proba(deskew_images(X_test)))
    assert not np.allclose(model.predict_proba(X_test), plain.predict_proba(X_test))


def test_lightgbm_boosts_in_chunks_and_gains_from_more_rounds(digits) -> None:
    X, y, X_test, y_test = digits
    family = create_family("lightgbm")
    model = family.build({"n_rounds": 130, "learning_rate": 0.05, "num_leaves": 8}, seed=0, n_jobs=1)
    accuracies = []
    for rounds in family.fit_stages(model, X, y):
        assert model.booster_.current_iteration() == rounds
        accuracies.append((rounds, (model.predict(X_test) == y_test).mean()))
    assert [r for r, _ in accuracies] == [50, 100, 130]
    assert accuracies[-1][1] > accuracies[0][1] > 0.8
    assert model.predict_proba(X_test).shape == (len(y_test), 10)


@pytest.mark.parametrize(("family", "param"), [("forest", "n_estimators"), ("lightgbm", "n_rounds"), ("cnn", "epochs")])
def test_fidelity_above_the_horizon_is_refused(family: str, param: str) -> None:
    model_family = create_family(family)
    too_many = 10**6
    with pytest.raises(BenchInputError, match=f"{family}: {param}={too_many} is out of range"):
        model_family.max_fidelity({param: too_many})
    # the horizon the scheduler gets covers the largest allowed value
    assert model_family.max_steps() >= 2


def test_nested_subsets_grow_stratified_and_repeat() -> None:
    y = np.repeat(np.arange(10), 900)
    stages = nested_subsets(y, FRACTIONS, seed=0)
    assert [p for p, _ in stages] == [11, 33, 100]
    assert [len(rows) for _, rows in stages] == [1000, 3000, 9000]
    for (_, small), (_, large) in zip(stages, stages[1:]):
        assert set(small) <= set(large)
    assert all(np.bincount(y[rows]).min() == np.bincount(y[rows]).max() for _, rows in stages)
    again = nested_subsets(y, FRACTIONS, seed=0)
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(stages, again))


def test_stages_below_a_thousand_rows_or_a_hundred_a_class_are_skipped() -> None:
    y = np.repeat(np.arange(10), 300)  # a ninth would be 333 rows, a third 1,000
    assert [p for p, _ in nested_subsets(y, FRACTIONS, seed=0)] == [33, 100]
    assert [p for p, _ in nested_subsets(y[:2000], FRACTIONS, seed=0)] == [100]
    many = np.repeat(np.arange(20), 300)  # 20 classes: a third (2,000 rows) holds 100 a class
    assert [p for p, _ in nested_subsets(many, FRACTIONS, seed=0)] == [33, 100]
    assert [p for p, _ in nested_subsets(many[:5000], FRACTIONS, seed=0)] == [100]


@pytest.mark.parametrize(("family", "params"), [
    ("svm", {"kernel": "rbf", "C": 10.0, "gamma": 0.02}),
    ("knn", {"n_neighbors": 3, "weights": "distance"}),
])
def test_kernel_families_score_on_growing_training_sets(family: str, params: dict, digits) -> None:
    X, y, _, _ = digits
    noise = np.random.default_rng(0).normal(0, 0.02, (7 * len(y), X.shape[1])).astype(X.dtype)
    X, y = np.tile(X, (7, 1)) + noise, np.tile(y, 7)  # 10,059 rows: a ninth still holds 1,000
    model_family = create_family(family)
    model = model_family.build(params, seed=0, n_jobs=1)
    seen = []
    for percent in model_family.fit_stages(model, X, y):
        seen.append((percent, model[-1].n_samples_fit_ if family == "knn" else int(model[-1].n_support_.sum())))
    assert [p for p, _ in seen] == [11, 33, 100] and model_family.max_fidelity(params) == 100
    if family == "knn":
        assert [n for _, n in seen] == [round(len(y) / 9), round(len(y) / 3), len(y)]
    else:
        assert seen[0][1] < seen[1][1] < seen[2][1]  # more rows, more support vectors
    # the refit fits once, on every row
    refit = model_family.build(params, seed=0, n_jobs=1)
    assert model_family.fit(refit, X, y) == 100
    assert np.array_equal(refit.predict(X), model.predict(X))


@pytest.mark.parametrize("family", ["forest", "lightgbm", "mlp", "cnn", "svm", "logreg"])
def test_early_stopping_compares_like_with_like(family: str) -> None:
    """Prefix fits (trees, rounds, data size) are compared at equal fidelity; fits whose
    learning-rate schedule spans the planned epochs at equal fractions of their own plan."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    from bench.runner import make_scheduler

    model_family = create_family(family)
    scheduler = make_scheduler("auto", model_family)
    if not model_family.has_fidelity:
        assert isinstance(scheduler, FIFOScheduler)
        return
    assert isinstance(scheduler, ASHAScheduler)
    if model_family.schedule_bound:
        assert scheduler._time_attr == "progress" and scheduler._max_t == 1.0
    else:
        assert scheduler._time_attr == "training_iteration" and scheduler._max_t == model_family.max_steps()
    assert isinstance(make_scheduler("none", model_family), FIFOScheduler)


def test_trials_report_progress_through_their_own_plan(digits) -> None:
    pytest.importorskip("torch")
    from bench.searchdata import Fold, SearchData
    from bench.trial import _fit_and_score

    X, y, X_val, y_val = digits
    data = SearchData((Fold(X[:300], y[:300], X_val[:100], y_val[:100]),), "holdout")
    params = {"hidden_units": 32, "layers": 1, "epochs": 4, "batch_size": 64}  # 5 steps an epoch, 20 in all
    reports = [scores for _, scores, _ in _fit_and_score(params, data, create_family("mlp"), seed=0, cpus=1, device="cpu")]
    # every epoch, and the first step at or past 1/27, 1/9 and 1/3 of the plan
    assert [r["progress"] for r in reports] == [0.05, 0.15, 0.25, 0.35, 0.5, 0.75, 1.0]
    assert [r["fidelity"] for r in reports] == [0.2, 0.6, 1, 1.4, 2, 3, 4]
