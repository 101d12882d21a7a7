"""The YAML search-space parser and its translation into Optuna's define-by-run API."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from bench.datasets import get_dataset
from bench.errors import BenchInputError
from bench.families import create_family, list_families
from bench.families.svm import scale_gamma
from bench.space import SearchSpace, load_space, parse_space

SVM_LIKE = """
params:
  kernel: {type: categorical, choices: [linear, rbf, poly]}
  C: {type: float, low: 1e-3, high: 1.0e+3, log: true}
  gamma: {type: float, low: 1.0e-5, high: 1.0, log: true, when: {kernel: [rbf, poly]}}
  degree: {type: int, low: 2, high: 5, when: {kernel: poly}}
  cache_size: {type: fixed, value: 200}
default: {kernel: rbf, C: 1.0, gamma: 0.01}
"""


def _sample(space, n: int, seed: int = 0) -> list[dict]:
    return space.sample(n, seed)


def test_conditions_decide_which_parameters_exist() -> None:
    space = parse_space(SVM_LIKE, "svm")
    configs = _sample(space, 60)
    kernels = {c["kernel"] for c in configs}
    assert kernels == {"linear", "rbf", "poly"}
    for config in configs:
        assert ("gamma" in config) == (config["kernel"] in ("rbf", "poly"))
        assert ("degree" in config) == (config["kernel"] == "poly")
        assert 1e-3 <= config["C"] <= 1e3
        assert config["cache_size"] == 200


def test_log_scale_reaches_every_decade() -> None:
    space = parse_space(SVM_LIKE, "svm")
    decades = {int(__import__("math").floor(__import__("math").log10(c["C"]))) for c in _sample(space, 200)}
    assert decades >= {-3, -2, -1, 0, 1, 2}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("params: [unclosed", "malformed YAML"),
        ("params: {}", "non-empty 'params'"),
        ("params:\n  a: {type: gaussian}", "unknown type 'gaussian'"),
        ("params:\n  a: {type: float, low: 2, high: 1}", "low .* must be below high"),
        ("params:\n  a: {type: float, low: 0, high: 1, log: true}", "log scale needs low > 0"),
        ("params:\n  a: {type: float, low: x, high: 1}", "low must be a number"),
        ("params:\n  a: {type: categorical, choices: []}", "non-empty list"),
        ("params:\n  a: {type: int, low: 1, high: 5, when: {b: 1}}", "not defined above"),
        ("params:\n  b: {type: categorical, choices: [x]}\n  a: {type: int, low: 1, high: 5, when: {b: y}}", "'y' is not one of"),
        ("params:\n  a: {type: int, low: 1, high: 5, lo: 3}", "unknown keys"),
        ("params:\n  a: !!python/object/apply:os.system [echo hi]", "malformed YAML"),
        ("params:\n  a: {type: int, low: 1, high: 5}\nstrat: []", "unknown top-level keys \\['strat'\\]"),
        ("params:\n  a: {type: int, low: 1, high: 5}\ndefault: {a: 2}\nstart: {a: 2}", "'start' must be a list"),
        # the default: present, a mapping, complete, in range, and respecting the conditions
        ("params:\n  a: {type: int, low: 1, high: 5}", r"x.yaml: missing 'default': .*a value for each searched parameter it uses \(a\)"),
        ("params:\n  a: {type: int, low: 1, high: 5}\ndefault: [2]", "'default' must be a mapping"),
        (SVM_LIKE.replace("C: 1.0, gamma: 0.01", "C: 1.0e+4, gamma: 0.01"), r"x.yaml: default: C=10000.0 is outside its domain; valid: 0.001 to 1000"),
        (SVM_LIKE.replace("kernel: rbf,", "kernel: linear,"), r"default: 'gamma' only exists when \{'kernel': \('rbf', 'poly'\)\}"),
        (SVM_LIKE.replace("kernel: rbf,", "kernel: poly,"), "x.yaml: default leaves degree unset"),
        (SVM_LIKE.replace(", gamma: 0.01", ""), "x.yaml: default leaves gamma unset"),
        (SVM_LIKE.replace("gamma: 0.01", "gamma: 0.01, cache_size: 200"), "default: 'cache_size' is not a searched parameter"),
        (SVM_LIKE + "start:\n  - {kernel: rbf, C: 1.0, gamma: 0.01}", r"start\[0\] repeats the default"),
        (SVM_LIKE + "start:\n  - {kernel: rbf, C: 5000}", r"C=5000 is outside its domain; valid: 0.001 to 1000"),
        (SVM_LIKE + "start:\n  - {kernel: sigmoid}", r"kernel='sigmoid' is outside .* valid: \['linear', 'rbf', 'poly'\]"),
        (SVM_LIKE + "start:\n  - {kernel: rbf, degree: 3}", "'degree' only exists when"),
        (SVM_LIKE + "start:\n  - {kernel: rbf, cache_size: 100}", "'cache_size' is not a searched parameter"),
        (SVM_LIKE + "start:\n  - {kernel: poly, degree: 2.5}", "degree=2.5 is outside"),
    ],
)
def test_invalid_spaces_are_rejected_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(BenchInputError, match=message):
        parse_space(text, "x", "x.yaml")


@pytest.mark.parametrize("family", list_families())
def test_every_registered_family_ships_a_valid_space(family: str) -> None:
    space = load_space(family)
    assert space.params, family
    assert _sample(space, 5)


def test_the_default_then_the_starts_are_tried_first(tmp_path) -> None:
    """The default point, then the space's ``start`` list, reach Optuna as the search's first
    proposals; a resumed search whose default finished does not repeat them."""
    from bench.runner import Method, Run, RunOptions
    from bench.search import FamilySearch

    spaces = tmp_path / "spaces"
    spaces.mkdir()
    (spaces / "svm.yaml").write_text(SVM_LIKE + "start:\n  - {kernel: poly, C: 2.0, gamma: 0.01, degree: 3}\n  - {kernel: linear}\n")
    run = Run(RunOptions(families=["svm"], space_dir=spaces, results_dir=tmp_path / "r", sampler="random"))

    def search(previous: list[dict], run: Run = run) -> FamilySearch:
        return FamilySearch(run._settings(Method("random", "asha")), run.spaces["svm"], "svm", 0, 0.0, previous).searcher()

    searcher = search([])
    first, second, third = (searcher.suggest(f"t{i}") for i in range(3))
    assert first == {"kernel": "rbf", "C": 1.0, "gamma": 0.01, "cache_size": 200}
    assert second == {"kernel": "poly", "C": 2.0, "gamma": 0.01, "degree": 3, "cache_size": 200}
    assert third["kernel"] == "linear" and 1e-3 <= third["C"] <= 1e3 and "gamma" not in third
    resumed = search([{"is_default": True, "status": "completed", "val_accuracy": 0.9}])  # the same study, reopened
    assert resumed.suggest("t3") not in (first, second)
    # a comparison of methods: random search is random from its first proposal, unless --with-start
    options = {"families": ["svm"], "space_dir": spaces, "sampler": "tpe,random"}
    compared = Run(RunOptions(**options, results_dir=tmp_path / "c"))
    assert search([], compared).suggest("t0") not in (first, second)
    started = Run(RunOptions(**options, results_dir=tmp_path / "s", with_start=True))
    assert search([], started).suggest("t0") == first


def _point(space: SearchSpace, values: dict) -> dict:
    """A configuration as a trial gets it: ``values`` and the fixed parameters active under them."""
    config = dict(values)
    for param in space.params:
        if param.type == "fixed" and param.active(config):
            config[param.name] = param.value
    return config


@pytest.mark.parametrize("family", list_families())
def test_every_shipped_space_has_a_complete_default_optuna_accepts(family: str) -> None:
    """Enqueued, the default comes back unchanged from Optuna's own distributions, and nothing in
    it is left to the sampler (a default Optuna would resample is no default)."""
    import optuna

    space = load_space(family)
    assert space.default, family
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial(space.default)
    trial = study.ask()
    constants = space(trial)
    assert trial.params == space.default
    assert {**trial.params, **constants} == _point(space, space.default)
    assert all(config != space.default for config in space.start)  # the default is never tried twice


def test_a_user_space_without_a_default_is_refused(tmp_path) -> None:
    (tmp_path / "svm.yaml").write_text(SVM_LIKE.replace("default: {kernel: rbf, C: 1.0, gamma: 0.01}\n", ""))
    with pytest.raises(BenchInputError, match=rf"{tmp_path / 'svm.yaml'}: missing 'default'.*\(kernel, C, gamma, degree\)"):
        load_space("svm", tmp_path)
    # an old run's file, read for its report only, may lack it
    old = parse_space((tmp_path / "svm.yaml").read_text(), "svm", require_default=False)
    assert old.default == {} and old.names[0] == "kernel"


# ----------------------------------------------------------------- each default is the library's default


@pytest.fixture(scope="module")
def digits():
    data = get_dataset("digits").load()
    return data.X_train[:600], data.y_train[:600], data.X_test, data.y_test


def _fit(family: str, params: dict, X: np.ndarray, y: np.ndarray, seed: int = 3) -> object:
    model_family = create_family(family)
    model = model_family.build(params, seed=seed, n_jobs=1)
    model_family.fit(model, X, y)  # as the refit does: every stage
    return model


def _fit_default(family: str, X: np.ndarray, y: np.ndarray, seed: int = 3, **change) -> object:
    space = load_space(family)
    return _fit(family, _point(space, {**space.default, **change}), X, y, seed)


def test_svm_default_is_svc(digits) -> None:
    """gamma_factor 1 is SVC()'s gamma='scale' on the data the SVM sees, so the model is SVC()'s."""
    X, y, X_test, _ = digits
    ours, reference = _fit_default("svm", X, y), SVC().fit(X, y)
    assert ours[-1]._gamma == reference._gamma == scale_gamma(X)
    assert np.array_equal(ours.predict(X_test), reference.predict(X_test))
    assert np.array_equal(ours.decision_function(X_test), reference.decision_function(X_test))


def test_svm_gamma_factor_scales_the_gamma_of_the_preprocessed_data(digits) -> None:
    X, y, X_test, _ = digits
    model = _fit_default("svm", X, y, pca_variance=0.9, C=10.0, gamma_factor=3.0)
    reduced = clone(model[:-1]).fit_transform(X)  # what the SVM was fitted on (fit_transform, not transform)
    assert reduced.shape[1] < X.shape[1]
    assert model[-1]._gamma == 3.0 * scale_gamma(reduced)
    reference = SVC(C=10.0, gamma=3.0 * scale_gamma(reduced)).fit(reduced, y)
    assert np.array_equal(model.predict(X_test), reference.predict(model[:-1].transform(X_test)))
    linear = _fit("svm", {"kernel": "linear", "C": 0.1}, X, y)  # no gamma_factor: the kernel has no gamma
    assert np.array_equal(linear.predict(X_test), SVC(kernel="linear", C=0.1).fit(X, y).predict(X_test))


def test_tree_default_is_decision_tree_classifier(digits) -> None:
    X, y, X_test, _ = digits
    ours, reference = _fit_default("tree", X, y, seed=3), DecisionTreeClassifier(random_state=3).fit(X, y)
    # every setting is the library's (max_features 1.0, the whole feature set, is None's meaning)
    assert {**ours[-1].get_params(), "max_features": None} == reference.get_params()
    assert ours[-1].max_features_ == reference.max_features_ == X.shape[1]
    assert ours[-1].get_depth() == reference.get_depth() and ours[-1].tree_.node_count == reference.tree_.node_count
    assert np.array_equal(ours[-1].tree_.feature, reference.tree_.feature)
    assert np.array_equal(ours.predict_proba(X_test), reference.predict_proba(X_test))


def test_forest_default_is_random_forest_classifier(digits) -> None:
    """Grown in chunks with warm_start (50, then 100 trees), the default forest is RandomForestClassifier()'s."""
    X, y, X_test, _ = digits
    ours, reference = _fit_default("forest", X, y, seed=3), RandomForestClassifier(random_state=3).fit(X, y)
    shared = set(ours[-1].get_params()) - {"max_features_factor", "warm_start", "n_jobs"}  # growth and cores only
    assert shared and all(ours[-1].get_params()[k] == reference.get_params()[k] for k in shared)
    assert len(ours[-1].estimators_) == 100 and ours[-1].estimators_[0].max_features_ == 8  # sqrt(64)
    assert np.array_equal(ours.predict_proba(X_test), reference.predict_proba(X_test))
    # the factor is relative to sqrt(n_features): 2 x sqrt(64) = 16 features per split
    wider = _fit_default("forest", X[:200], y[:200], n_estimators=100, max_features_factor=2.0)
    assert wider[-1].estimators_[0].max_features_ == 16


def test_lightgbm_default_is_lgbm_classifier(digits) -> None:
    """bench boosts with LightGBM's Booster (deterministic, column-wise histograms, seeded): at the
    default point that gives LGBMClassifier()'s probabilities."""
    from lightgbm import LGBMClassifier

    X, y, X_test, _ = digits
    ours = _fit_default("lightgbm", X, y)
    reference = LGBMClassifier(n_jobs=1, verbose=-1).fit(X, y)
    assert ours.booster_.current_iteration() == reference.booster_.current_iteration() == 100
    np.testing.assert_allclose(ours.predict_proba(X_test), reference.predict_proba(X_test), rtol=0, atol=1e-12)


@pytest.mark.parametrize(("family", "reference"), [
    ("knn", lambda: KNeighborsClassifier()),
    ("logreg", lambda: LogisticRegression()),
])
def test_knn_and_logreg_defaults_are_the_library_defaults(family: str, reference, digits) -> None:
    X, y, X_test, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs stops at its 100 iterations on raw pixels, as the library's does
        ours, theirs = _fit_default(family, X, y), reference().fit(X, y)
    assert np.array_equal(ours.predict_proba(X_test), theirs.predict_proba(X_test))


@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_network_defaults_are_plain(family: str) -> None:
    """No library default exists: the default net has no dropout, batch norm, shifts, label
    smoothing or schedule, and AdamW at 1e-3."""
    pytest.importorskip("torch")
    space = load_space(family)
    model = create_family(family).build(_point(space, space.default), seed=0, n_jobs=1)
    assert (model.optimizer, model.lr, model.schedule, model.shift, model.label_smoothing) == ("adamw", 1e-3, "constant", 0, 0.0)
    assert not model.network.batch_norm and model.network.dropout == 0.0


def test_model_size_parameters_above_their_ceilings_are_refused() -> None:
    """A space someone hands you cannot ask for a model that exhausts the machine (issue 17)."""
    from bench.families import create_family, list_families
    from bench.families.base import check_ceilings
    from bench.space import load_space

    for name in list_families():  # the shipped spaces keep under every ceiling
        check_ceilings(create_family(name), load_space(name))
    huge = parse_space("params:\n  hidden_units: {type: int, low: 64, high: 1000000}\n  layers: {type: fixed, value: 2}\n"
                       "default: {hidden_units: 128}\n", "mlp", "huge.yaml")
    with pytest.raises(BenchInputError, match=r"huge.yaml: mlp hidden_units up to 1e\+06 is above its ceiling; valid: at most 8192"):
        check_ceilings(create_family("mlp"), huge)
    deep = parse_space("params:\n  hidden_units: {type: int, low: 64, high: 128}\n  layers: {type: fixed, value: 500}\n"
                       "default: {hidden_units: 128}\n", "mlp", "deep.yaml")
    with pytest.raises(BenchInputError, match="layers up to 500"):
        check_ceilings(create_family("mlp"), deep)
    leaves = parse_space("params:\n  num_leaves: {type: categorical, choices: [31, 100000]}\ndefault: {num_leaves: 31}\n",
                         "lightgbm", "leaves.yaml")
    with pytest.raises(BenchInputError, match="num_leaves up to 100000"):
        check_ceilings(create_family("lightgbm"), leaves)
