"""The YAML search-space parser and its translation into Optuna's define-by-run API."""

from __future__ import annotations

import pytest

from bench.errors import BenchInputError
from bench.families import list_families
from bench.space import load_space, parse_space

SVM_LIKE = """
params:
  kernel: {type: categorical, choices: [linear, rbf, poly]}
  C: {type: float, low: 1e-3, high: 1.0e+3, log: true}
  gamma: {type: float, low: 1.0e-5, high: 1.0, log: true, when: {kernel: [rbf, poly]}}
  degree: {type: int, low: 2, high: 5, when: {kernel: poly}}
  cache: {type: fixed, value: 200}
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
        assert config["cache"] == 200


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
        ("params:\n  a: {type: int, low: 1, high: 5}\nstart: {a: 2}", "'start' must be a list"),
        (SVM_LIKE + "start:\n  - {kernel: rbf, C: 5000}", r"C=5000 is outside its domain; valid: 0.001 to 1000"),
        (SVM_LIKE + "start:\n  - {kernel: sigmoid}", r"kernel='sigmoid' is outside .* valid: \['linear', 'rbf', 'poly'\]"),
        (SVM_LIKE + "start:\n  - {kernel: rbf, degree: 3}", "'degree' only exists when"),
        (SVM_LIKE + "start:\n  - {kernel: rbf, cache: 100}", "'cache' is not a searched parameter"),
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


def test_start_configurations_are_tried_first(tmp_path) -> None:
    """A space's ``start`` list reaches Optuna as enqueued trials: the search's first proposals;
    a resumed search does not repeat them."""
    from bench.runner import Run, RunOptions

    spaces = tmp_path / "spaces"
    spaces.mkdir()
    (spaces / "svm.yaml").write_text(SVM_LIKE + "start:\n  - {kernel: poly, C: 2.0, gamma: 0.01, degree: 3}\n  - {kernel: linear}\n")
    run = Run(RunOptions(families=["svm"], space_dir=spaces, results_dir=tmp_path / "r", sampler="random"))
    searcher = run._searcher("svm", 0, restarted=0)
    first, second = searcher.suggest("t0"), searcher.suggest("t1")
    assert first == {"kernel": "poly", "C": 2.0, "gamma": 0.01, "degree": 3, "cache": 200}
    assert second["kernel"] == "linear" and 1e-3 <= second["C"] <= 1e3 and "gamma" not in second
    resumed = run._searcher("svm", 0, restarted=2)  # the same study, reopened
    assert resumed.suggest("t2") != first
