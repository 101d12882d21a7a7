"""``bench reproduce``: row selection, published protocols, verdicts, and the digits rows end to end."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from sklearn.datasets import load_digits

import bench
from bench.errors import BenchInputError
from bench.reproduce.data import load_raw, split, to_raw_pixels
from bench.reproduce.display import results_table
from bench.reproduce.estimator import seeded
from bench.reproduce.plan import make_plan
from bench.reproduce.runner import ReproduceOptions, Reproduction
from bench.reproduce.tables import final_record, row_key, trial_record, verdict
from bench.reproduce.task import run_job
from conftest import run_cli


def _one_line_error(result, *needles: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# ------------------------------------------------------------------ selection


def test_only_selects_by_classifier_wildcard() -> None:
    plan = make_plan(["zalando"], ["mnist"], ["DecisionTree*"])
    assert len(plan.rows) == 12
    assert {r.classifier for r in plan.rows} == {"DecisionTreeClassifier"}
    assert {r.dataset for r in plan.rows} == {"mnist"}
    assert all(r.repeats == 2 and r.tolerance == 0.01 for r in plan.rows)


def test_only_matches_row_ids_case_insensitively() -> None:
    plan = make_plan(["zalando"], None, ["KNN-distance-k5-*"])
    assert sorted((r.baseline_id, r.dataset) for r in plan.rows) == [
        ("knn-distance-k5-p1", "fashion-mnist"), ("knn-distance-k5-p1", "mnist"),
        ("knn-distance-k5-p2", "fashion-mnist"), ("knn-distance-k5-p2", "mnist"),
    ]


def test_repeats_override_and_seeds() -> None:
    row = make_plan(["notebook"], repeats=3).rows[0]
    assert row.seeds == [0, 1, 2]
    assert make_plan(["notebook"]).rows[0].repeats == 5


def test_reference_sources_are_shown_not_run() -> None:
    plan = make_plan(["lecun"])
    assert not plan.rows and len(plan.references) == 20


@pytest.mark.parametrize(
    ("kwargs", "needles"),
    [
        ({"sources": ["imagenet"]}, ["'imagenet'", "zalando", "sklearn-digits"]),
        ({"sources": None}, ["--source", "zalando"]),
        ({"sources": ["zalando"], "only": ["Xgboost*"]}, ["'Xgboost*'", "DecisionTreeClassifier"]),
        ({"sources": ["notebook"], "repeats": 0}, ["--repeats 0", "at least 1"]),
        ({"sources": ["notebook"], "datasets": ["fashion-mnist"]}, ["fashion-mnist", "mnist"]),
        ({"sources": ["zalando"], "datasets": ["emnist"]}, ["'emnist'", "fashion-mnist", "digits"]),
    ],
)
def test_bad_selection_names_the_value_and_the_valid_ones(kwargs: dict, needles: list[str]) -> None:
    with pytest.raises(BenchInputError) as info:
        make_plan(**kwargs)
    for needle in needles:
        assert needle in str(info.value)


# ------------------------------------------------------------------ protocols


def test_digits_head_splits_match_the_examples() -> None:
    raw = load_raw("digits")
    half = split(raw, {"split": "head", "train_fraction": 0.5, "scaling": "raw", "dtype": "float64"}, seed=0)
    assert (len(half.y_train), len(half.y_test)) == (898, 899)
    digits = load_digits()
    np.testing.assert_array_equal(half.X_test, digits.data[898:])
    tenth = split(raw, {"split": "head", "train_fraction": 0.9, "scaling": "unit", "dtype": "float64"}, seed=0)
    assert (len(tenth.y_train), len(tenth.y_test)) == (1617, 180)
    np.testing.assert_array_equal(tenth.X_train, digits.data[:1617] / digits.data.max())


def test_pooled_split_is_train_test_split_per_seed() -> None:
    raw = load_raw("digits")
    protocol = {"split": "pooled", "test_size": 0.2, "scaling": "raw", "dtype": "float64"}
    first, again, other = split(raw, protocol, 0), split(raw, protocol, 0), split(raw, protocol, 1)
    X, y = raw.pooled()
    np.testing.assert_array_equal(first.raw_train, X[first.train_index])
    np.testing.assert_array_equal(first.y_train, y[first.train_index])
    np.testing.assert_array_equal(first.train_index, again.train_index)
    assert not np.array_equal(first.train_index, other.train_index)
    assert len(first.y_test) == int(np.ceil(0.2 * len(y)))


def test_standard_scaling_is_fit_on_training_data_only() -> None:
    raw = load_raw("digits")
    parts = split(raw, {"split": "head", "train_fraction": 0.5, "scaling": "standard", "dtype": "float64"}, 0)
    assert np.allclose(parts.X_train.mean(axis=0), 0, atol=1e-9)
    assert not np.allclose(parts.X_test.mean(axis=0), 0, atol=1e-3)


def test_shuffle_train_permutes_with_the_seed() -> None:
    raw = load_raw("digits")
    protocol = {"split": "head", "train_fraction": 0.5, "scaling": "raw", "shuffle_train": True}
    a, b = split(raw, protocol, 0), split(raw, protocol, 1)
    assert sorted(a.train_index) == list(range(898)) and not np.array_equal(a.train_index, b.train_index)
    np.testing.assert_array_equal(a.X_train, load_digits().data[a.train_index])


def test_mnist_raw_pixels_are_recovered_exactly(mnist_dir: Path) -> None:
    import gzip

    raw = load_raw("mnist", mnist_dir)
    payload = gzip.decompress((mnist_dir / "t10k-images-idx3-ubyte.gz").read_bytes())
    original = np.frombuffer(payload, dtype=np.uint8, offset=16).reshape(10000, 784)
    np.testing.assert_array_equal(raw.X_test, original)
    assert raw.X_train.dtype == np.uint8 and raw.max_value == 255


def test_to_raw_pixels_refuses_inexact_values() -> None:
    with pytest.raises(BenchInputError, match="1/255"):
        to_raw_pixels(np.array([[0.5]], dtype=np.float32))


def test_seeding_keeps_spelled_out_random_state() -> None:
    spec = {"estimator": "sklearn.linear_model.Perceptron", "params": {"random_state": 0}}
    assert seeded(spec, 3)["params"]["random_state"] == 0
    tree = seeded({"estimator": "sklearn.tree.DecisionTreeClassifier", "params": {}}, 3)
    assert tree["params"]["random_state"] == 3


# ------------------------------------------------------------------ verdicts


def _digits_svc_trial() -> tuple:
    row = make_plan(["sklearn-digits"], only=["svc-*"]).rows[0]
    job = {"key": row_key(row), "repeat": 0, "seed": 0, "protocol": row.protocol, "spec": seeded(row.spec, 0)}
    result = run_job(job, load_raw("digits"))
    return row, job, result


def test_a_row_outside_its_tolerance_is_shown_as_not_reproduced() -> None:
    row, job, result = _digits_svc_trial()
    assert result["status"] == "completed"
    moved = dataclasses.replace(row, published=round(result["test_accuracy"] + 0.01, 6))
    final = final_record("r", moved, [trial_record("r", moved, job, result)])
    assert final["verdict"] == "not reproduced"
    assert final["difference"] == pytest.approx(-0.01, abs=1e-6)
    console = Console(record=True, width=200, file=io.StringIO())
    console.print(results_table(pd.DataFrame([final]), "t"))
    text = console.export_text()
    assert "not reproduced" in text and "-0.0100" in text


def test_a_failing_row_is_a_failed_result_not_a_crash() -> None:
    row = make_plan(["sklearn-digits"], only=["svc-*"]).rows[0]
    spec = {**row.spec, "params": {**row.spec["params"], "C": -1.0}}
    result = run_job({"key": "k", "repeat": 0, "seed": 0, "protocol": row.protocol, "spec": spec}, load_raw("digits"))
    assert result["status"] == "failed" and "C" in result["error"]
    final = final_record("r", row, [trial_record("r", row, {"repeat": 0, "seed": 0, "spec": spec}, result)])
    assert (final["status"], final["verdict"]) == ("failed", "failed")


def test_verdict_tolerance_is_two_sided() -> None:
    assert verdict(0.004, 0.005) == "reproduced"
    assert verdict(-0.004, 0.005) == "reproduced"
    assert verdict(-0.006, 0.005) == "not reproduced"
    assert verdict(float("nan"), 0.005) == "failed"


# ------------------------------------------------------------------ command line


def test_cli_list_shows_sources_and_rows(cli, tmp_path: Path) -> None:
    result = cli("reproduce", "--list", "--results-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for name in ("notebook", "zalando", "sklearn-bench-mnist", "sklearn-digits", "lecun"):
        assert name in result.stdout
    rows = cli("reproduce", "--list", "--source", "zalando", "--dataset", "mnist", "--only", "DecisionTree*")
    assert rows.returncode == 0, rows.stderr
    assert rows.stdout.count("tree-") == 12 and "0.873" in rows.stdout
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--source", "imagenet"], ["'imagenet'", "zalando"]),
        (["--source", "zalando", "--only", "Xgboost*"], ["'Xgboost*'", "DecisionTreeClassifier"]),
        (["--source", "notebook", "--repeats", "0"], ["--repeats 0"]),
        ([], ["--source", "notebook"]),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(cli, args: list[str], needles: list[str], tmp_path: Path) -> None:
    _one_line_error(cli("reproduce", *args, "--results-dir", str(tmp_path)), *needles)


def test_cli_missing_data_names_where_to_put_it(cli, tmp_path: Path) -> None:
    if Path("/usr/share/datasets/fashion-mnist").is_dir():
        pytest.skip("fashion-mnist is installed system-wide here")
    empty = tmp_path / "empty"
    empty.mkdir()
    offline = {k: "http://127.0.0.1:9" for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}
    result = cli("reproduce", "--source", "zalando", "--dataset", "fashion-mnist", "--only", "DecisionTree*",
                 "--data-dir", str(empty), "--results-dir", str(tmp_path / "r"), env={**offline, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    _one_line_error(result, "fashion-mnist", "--data-dir")
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_cli_reference_source_prints_without_running(cli, tmp_path: Path) -> None:
    result = cli("reproduce", "--source", "lecun", "--results-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "LeNet-5" in result.stdout and "never re-run" in result.stdout
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_cli_digits_rows_end_to_end(tmp_path: Path) -> None:
    result = run_cli("reproduce", "--source", "sklearn-digits", "--results-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "871/899" in result.stdout and "3 reproduced, 0 not reproduced, 0 failed" in result.stdout
    results = bench.load(tmp_path)
    (manifest,) = results.manifests.values()
    assert manifest["kind"] == "reproduce" and manifest["status"] == "finished"
    final = results.final.set_index("baseline_id")
    # Measured counts of correct test digits, against the examples' published ones.
    assert (final.loc["svc-gamma0.001", "test_correct"], final.loc["svc-gamma0.001", "test_size"]) == (871, 899)
    assert (final.loc["knn-default", "test_correct"], final.loc["knn-default", "test_size"]) == (173, 180)
    assert (final.loc["logreg-max-iter1000", "test_correct"], final.loc["logreg-max-iter1000", "test_size"]) == (168, 180)
    assert set(final["verdict"]) == {"reproduced"} and set(final["family"]) == {"svm", "knn", "logreg"}
    matrix = np.array(json.loads(final.loc["svc-gamma0.001", "confusion_matrix"]))
    assert matrix.shape == (10, 10) and matrix.trace() == 871 and matrix.sum() == 899
    assert len(results.trials) == 3 and set(results.trials["status"]) == {"completed"}
    assert json.loads(final.loc["svc-gamma0.001", "params"]) == {"C": 1.0, "kernel": "rbf", "gamma": 0.001}


@pytest.mark.slow
def test_reproduction_keeps_failed_rows_and_samples(tmp_path: Path) -> None:
    """Through Ray: a row that raises is a failed row beside the others; samples come back."""
    plan = make_plan(["sklearn-digits"], repeats=2)
    bad = dataclasses.replace(plan.rows[0], baseline_id="svc-broken",
                              spec={**plan.rows[0].spec, "params": {"C": -1.0}})
    with_samples = dataclasses.replace(plan.rows[1], protocol={**plan.rows[1].protocol, "samples": 5})
    plan.rows[:] = [bad, with_samples, plan.rows[2]]
    reproduction = Reproduction(ReproduceOptions(sources=["sklearn-digits"], results_dir=tmp_path), plan)
    run_dir = reproduction.execute()
    results = bench.load(run_dir)
    final = results.final.set_index("baseline_id")
    assert final.loc["svc-broken", "verdict"] == "failed" and "C" in final.loc["svc-broken", "error"]
    assert final.loc["knn-default", "repeats_completed"] == 2
    assert sorted(results.trials["seed"]) == [0, 0, 0, 1, 1, 1]
    samples = pd.read_parquet(run_dir / "samples.parquet")
    assert list(samples["position"]) == [0, 1, 2, 3, 4]
    digits = load_digits()
    for _, sample in samples.iterrows():
        np.testing.assert_array_equal(np.asarray(sample["pixels"]), digits.data[sample["index"]])
        assert sample["label"] == digits.target[sample["index"]]


def test_old_scikit_learn_is_refused_with_the_version_needed() -> None:
    from bench.reproduce.estimator import check_sklearn

    with pytest.raises(BenchInputError, match=r"scikit-learn >= 1\.8 \(found 1\.5\.2\)"):
        check_sklearn("1.5.2")
    check_sklearn("1.10.0")
