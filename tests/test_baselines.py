"""The published-baseline data files: schema, completeness, era defaults, and the report's API."""

from __future__ import annotations

import copy
import json
from collections import Counter
from importlib import resources

import jsonschema
import numpy as np
import pytest
import yaml
from sklearn.datasets import load_digits

from bench.baselines import (DATASETS, FAMILIES, best_published, comparable_published, list_sources, load_source, published_rows,
                             run_protocol, schema, validate_source)
from bench.baselines.protocol import published_protocol, scaling_matches
from bench.errors import BenchInputError
from bench.reproduce.estimator import build, seeded
from bench.reproduce.plan import effective_spec

SOURCES = list_sources()


def _raw(name: str) -> dict:
    return yaml.safe_load(resources.files("bench.baselines").joinpath(f"{name}.yaml").read_text())


def test_the_five_sources_ship() -> None:
    assert SOURCES == ["lecun", "notebook", "sklearn-bench-mnist", "sklearn-digits", "zalando"]


def test_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())


@pytest.mark.parametrize("name", SOURCES)
def test_source_file_matches_schema(name: str) -> None:
    data = _raw(name)
    jsonschema.validate(data, schema(), cls=jsonschema.Draft202012Validator)
    assert data["name"] == name
    ids = [row["id"] for row in data["rows"]]
    assert len(ids) == len(set(ids)), "row ids must be unique within a source"


@pytest.mark.parametrize(
    ("path", "value", "needle"),
    [
        (("rows", 0, "published", "mnist"), 1.5, "1.5"),
        (("rows", 0, "estimator"), "os.system", "os.system"),
        (("rows", 0, "family"), "xgboost", "xgboost"),
        (("protocol", "split"), "random", "random"),
        (("tolerance",), 0, "0"),
    ],
)
def test_schema_rejects_broken_files(path: tuple, value: object, needle: str) -> None:
    data = copy.deepcopy(_raw("zalando"))
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(BenchInputError, match="zalando.yaml is invalid") as info:
        validate_source(data, "zalando.yaml")
    assert needle in str(info.value)


def test_schema_requires_an_estimator_for_rerun_sources() -> None:
    data = copy.deepcopy(_raw("sklearn-digits"))
    del data["rows"][0]["estimator"]
    with pytest.raises(BenchInputError, match="estimator"):
        validate_source(data, "sklearn-digits.yaml")
    lecun = _raw("lecun")
    assert not lecun["rerun"] and all("estimator" not in row for row in lecun["rows"])


def test_zalando_table3_is_complete() -> None:
    source = load_source("zalando")
    counts = Counter(row["classifier"] for row in source["rows"])
    assert counts == {
        "DecisionTreeClassifier": 12, "ExtraTreeClassifier": 12, "GaussianNB": 1, "GradientBoostingClassifier": 7,
        "KNeighborsClassifier": 12, "LinearSVC": 18, "LogisticRegression": 5, "MLPClassifier": 8,
        "PassiveAggressiveClassifier": 3, "Perceptron": 3, "RandomForestClassifier": 18, "SGDClassifier": 15, "SVC": 12,
    }
    assert all(set(row["published"]) == {"fashion-mnist", "mnist"} for row in source["rows"])
    trees = {(r["params"]["criterion"], r["params"]["max_depth"], r["params"]["splitter"])
             for r in source["rows"] if r["classifier"] == "DecisionTreeClassifier"}
    assert trees == {(c, d, s) for c in ("gini", "entropy") for d in (10, 50, 100) for s in ("best", "random")}


def _spec(source: str, row_id: str) -> dict:
    data = load_source(source)
    row = next(r for r in data["rows"] if r["id"] == row_id)
    return effective_spec(data, row)


def test_zalando_spells_out_scikit_learn_0_19_defaults() -> None:
    assert _spec("zalando", "svc-rbf-c10")["params"]["gamma"] == "auto"
    logreg = _spec("zalando", "logreg-c1-ovr-l1")
    assert logreg["wrap"] == "sklearn.multiclass.OneVsRestClassifier"
    assert logreg["params"]["solver"] == "liblinear" and logreg["params"]["l1_ratio"] == 1.0
    assert _spec("zalando", "gb-n10-d3")["params"]["loss"] == "log_loss"
    sgd = _spec("zalando", "sgd-log-l2")["params"]
    assert (sgd["loss"], sgd["max_iter"], sgd["tol"]) == ("log_loss", 5, None)
    perceptron = _spec("zalando", "perceptron-l1")["params"]
    assert (perceptron["max_iter"], perceptron["tol"], perceptron["random_state"]) == (5, None, 0)
    assert _spec("zalando", "forest-n10-gini-d10")["params"]["max_features"] == "sqrt"
    assert _spec("zalando", "linearsvc-hinge-c1-ovr-l2")["params"]["dual"] is True
    assert _spec("zalando", "pa-c10")["params"] | {"eta0": 10.0} == _spec("zalando", "pa-c10")["params"]


def _runnable_rows() -> list[tuple[str, str]]:
    return [(name, row["id"]) for name in SOURCES if load_source(name)["rerun"] for row in load_source(name)["rows"]]


@pytest.mark.parametrize(("source", "row_id"), _runnable_rows())
def test_every_published_configuration_fits_with_todays_scikit_learn(source: str, row_id: str) -> None:
    """Zalando's own sanity check: every configuration fits a few samples (catches renamed params)."""
    X, y = load_digits(return_X_y=True)
    pick = np.concatenate([np.flatnonzero(y == c)[:6] for c in range(10)])
    spec = seeded(_spec(source, row_id), 0)
    if spec.get("steps"):  # kernel approximations cannot have more components than samples here
        spec["steps"] = [{**s, "params": {**s["params"], "n_components": 20}} for s in spec["steps"]]
    # Fewer rounds keep this quick; every parameter name and value is still validated by fit.
    spec["params"].update({k: min(spec["params"][k], 3) for k in ("max_iter", "n_estimators") if k in spec["params"]})
    model = build(spec).fit(X[pick] / 16.0, y[pick])
    assert model.predict(X[pick][:5]).shape == (5,)


def test_published_numbers_are_accuracies_converted_from_errors() -> None:
    for name in ("lecun", "sklearn-bench-mnist"):
        for row in load_source(name)["rows"]:
            text = row["published_as"]
            error = float(text.split("%")[0]) / 100 if name == "lecun" else float(text.split("error-rate ")[1].split()[0])
            assert row["published"]["mnist"] == pytest.approx(1 - error, abs=1e-9), row["id"]


def test_load_source_rejects_unknown_names_with_the_valid_ones() -> None:
    with pytest.raises(BenchInputError) as info:
        load_source("imagenet")
    assert "'imagenet'" in str(info.value) and "zalando" in str(info.value) and "notebook" in str(info.value)


def test_load_source_returns_a_copy() -> None:
    load_source("notebook")["rows"][0]["published"]["mnist"] = 0.0
    assert load_source("notebook")["rows"][0]["published"]["mnist"] == 0.9207


def test_best_published_shape_and_choice() -> None:
    best = best_published("fashion-mnist", "svm")
    assert set(best) >= {"accuracy", "source", "classifier", "params", "citation"}
    assert (best["accuracy"], best["source"], best["classifier"]) == (0.897, "zalando", "SVC")
    assert best["params"] == "C=10 kernel=rbf"
    assert isinstance(best["accuracy"], float) and "Xiao" in best["citation"]
    json.dumps(best)  # plain data the report can embed


def test_best_published_maps_zalando_classifiers_to_families() -> None:
    assert best_published("fashion-mnist", "tree")["classifier"] == "DecisionTreeClassifier"
    assert best_published("fashion-mnist", "forest")["classifier"] == "RandomForestClassifier"
    assert best_published("fashion-mnist", "knn")["classifier"] == "KNeighborsClassifier"
    assert best_published("fashion-mnist", "logreg")["classifier"] == "LogisticRegression"
    assert best_published("fashion-mnist", "mlp")["classifier"] == "MLPClassifier"
    boosting = best_published("fashion-mnist", "lightgbm")
    assert boosting["classifier"] == "GradientBoostingClassifier" and boosting["stand_in"] is True


def test_best_published_is_the_maximum_over_sources() -> None:
    for dataset in DATASETS:
        for family in FAMILIES:
            best = best_published(dataset, family)
            candidates = [
                row["published"][dataset] for name in SOURCES for row in load_source(name)["rows"]
                if row["family"] == family and dataset in row["published"] and not row.get("preprocessing")
            ]
            assert (best is None) == (not candidates)
            if candidates:
                assert best["accuracy"] == max(candidates)


def test_best_published_leaves_out_augmented_results_unless_asked() -> None:
    plain = best_published("mnist", "cnn")
    assert plain["classifier"] == "LeNet-5, no distortions" and plain["accuracy"] == pytest.approx(0.9905)
    assert best_published("mnist", "cnn", include_preprocessed=True)["accuracy"] == pytest.approx(0.9977)
    assert best_published("digits", "cnn") is None
    assert best_published("digits", "svm")["accuracy"] == pytest.approx(871 / 899, abs=5e-7)


# ----------------------------------------------------------------- protocols (issue 16: like with like)


def test_preprocessed_rows_say_which_kinds_machine_readably() -> None:
    for name in SOURCES:
        for row in load_source(name)["rows"]:
            assert bool(row.get("preprocessing")) == bool(row.get("preprocessing_kinds")), (name, row["id"])
    data = copy.deepcopy(_raw("lecun"))
    row = next(r for r in data["rows"] if r.get("preprocessing"))
    del row["preprocessing_kinds"]
    with pytest.raises(BenchInputError, match="preprocessing_kinds"):
        validate_source(data, "lecun.yaml")


def test_only_reference_tables_may_leave_scaling_to_each_method() -> None:
    assert load_source("lecun")["protocol"]["scaling"] == "method"
    data = copy.deepcopy(_raw("sklearn-bench-mnist"))
    data["protocol"]["scaling"] = "method"  # a re-run source must say what it feeds
    with pytest.raises(BenchInputError, match="sklearn-bench-mnist.yaml is invalid"):
        validate_source(data, "sklearn-bench-mnist.yaml")


def _protocol(source: str, row_id: str, dataset: str):
    data = load_source(source)
    row = next(r for r in data["rows"] if r["id"] == row_id)
    return published_protocol(data, row, dataset)


def test_published_training_sizes_follow_each_split() -> None:
    # head: int(fraction * 1,797); pooled: 70,000 minus ceil(0.2 * 70,000); official: the training file
    assert _protocol("sklearn-digits", "svc-gamma0.001", "digits").train_size == int(0.5 * 1797) == 898
    assert _protocol("sklearn-digits", "knn-default", "digits").train_size == int(0.9 * 1797)
    assert _protocol("notebook", "logreg-lbfgs-default", "mnist").train_size == 56_000
    zalando = _protocol("zalando", "svc-rbf-c10", "fashion-mnist")
    assert (zalando.split, zalando.train_size, zalando.scaling, zalando.pixels) == ("official split", 60_000, "standard", frozenset())
    deskewed = _protocol("lecun", "svm-poly4-deskew", "mnist")
    assert deskewed.pixels == {"deskew"} and deskewed.scaling == "method"


def test_comparable_published_prefers_the_same_protocol() -> None:
    raw = comparable_published(run_protocol({"dataset": "mnist", "family": "svm", "train_size": 60_000, "preprocessing": "raw"}), "svm")
    assert raw["comparable"] and raw["note"] is None and "deskew" not in raw["protocol"]
    assert raw["accuracy"] == max(r["accuracy"] for r in published_rows("mnist", "svm")
                                  if not r["preprocessing"] and r["source"] == "lecun")  # zalando's SVC: standardised pixels
    deskew = comparable_published(run_protocol({"dataset": "mnist", "family": "svm", "train_size": 60_000,
                                                "preprocessing": "deskew"}), "svm")
    assert deskew["comparable"] and deskew["baseline_id"] == "svm-poly4-deskew"
    digits = comparable_published(run_protocol({"dataset": "digits", "family": "knn", "train_size": 1437, "preprocessing": "raw"}), "knn")
    assert not digits["comparable"] and "80/20" in digits["note"] and "90/10" in digits["note"]
    assert comparable_published(run_protocol({"dataset": "digits", "family": "cnn", "train_size": 1437}), "cnn") is None


def test_scale_free_families_ignore_input_scaling_and_knn_ignores_one_factor() -> None:
    assert scaling_matches("forest", "unit", "standard") and scaling_matches("lightgbm", "minmax", "raw")
    assert scaling_matches("knn", "unit", "raw") and not scaling_matches("knn", "unit", "standard")
    assert not scaling_matches("svm", "unit", "raw") and scaling_matches("svm", "standard", "method")
