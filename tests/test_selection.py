"""Which configuration a search keeps, what the trials' statuses say, and how the search scores."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from bench.journal import Journal
from bench.recorder import TrialRecorder
from bench.refit import preprocessing, select


def row(number: int, accuracy: float | None, se: float = 0.004, status: str = "completed", folds=None, **more) -> dict:
    return {"trial_id": f"t{number}", "trial_number": number, "status": status, "val_accuracy": accuracy,
            "val_accuracy_se": se, "is_default": number == 0, "fidelity": 100, "params_C": float(number + 1),
            "val_fold_accuracies": folds, **more}


def corrected_paired_t_p(a: list[float], b: list[float]) -> float:
    """Nadeau and Bengio's corrected resampled t-test, one-sided, written out by hand."""
    from scipy import stats

    d = [x - y for x, y in zip(a, b)]
    k = len(d)
    mean = sum(d) / k
    var = sum((x - mean) ** 2 for x in d) / (k - 1)
    return float(stats.t.sf(mean / ((1 / k + 1 / (k - 1)) * var) ** 0.5, k - 1))


DEFAULT_FOLDS = [0.84, 0.85, 0.86, 0.84, 0.85]


def test_a_challenger_within_the_noise_of_the_folds_keeps_the_default() -> None:
    noisy = [0.89, 0.84, 0.88, 0.83, 0.89]  # +2.2 points on average, but the folds disagree
    assert corrected_paired_t_p(noisy, DEFAULT_FOLDS) > 0.05
    kept = select([row(0, 0.848, folds=DEFAULT_FOLDS), row(1, 0.866, folds=noisy), row(2, 0.80, folds=[0.8] * 5)], "tree")
    assert kept.selected == "default" and kept.params == {"C": 1.0} and "not better beyond noise" in kept.note


def test_a_challenger_better_on_every_fold_replaces_the_default() -> None:
    steady = [0.86, 0.87, 0.875, 0.855, 0.87]
    assert corrected_paired_t_p(steady, DEFAULT_FOLDS) < 0.05
    kept = select([row(0, 0.848, folds=DEFAULT_FOLDS), row(1, 0.866, folds=steady)], "tree")
    assert kept.selected == "tuned" and kept.params == {"C": 2.0} and kept.note is None


def test_on_a_holdout_the_challenger_needs_a_clear_margin() -> None:
    assert select([row(0, 0.950, se=0.004), row(1, 0.955, se=0.004)], "svm").selected == "default"
    assert select([row(0, 0.950, se=0.004), row(1, 0.965, se=0.003)], "svm").selected == "tuned"


def test_the_default_wins_outright_when_it_scores_best() -> None:
    kept = select([row(0, 0.99), row(1, 0.98)], "svm")
    assert kept.selected == "default" and kept.note is None


def test_without_a_finished_trial_or_a_default_the_best_partial_one_is_refit_where_it_was_scored() -> None:
    rows = [row(0, None, status="failed", fidelity=0), row(1, 0.8958, status="cut", fidelity=300, params_n_rounds=500),
            row(2, 0.85, status="pruned", fidelity=50, params_n_rounds=400), row(3, None, status="failed")]
    kept = select(rows, "lightgbm")
    assert kept.row["trial_id"] == "t1" and kept.params["n_rounds"] == 300 and kept.selected == "tuned"
    assert "300 of 500 rounds" in kept.note


def test_a_default_cut_before_its_first_score_stays() -> None:
    # MNIST, 4 minutes on a loaded machine: the default was cut unscored, a challenger scored at 50
    # of 500 rounds; refit there it lost 0.75 test points to the default at its full plan
    rows = [row(0, None, status="cut", fidelity=None, params_n_rounds=100),
            row(1, 0.9664, status="cut", fidelity=50, params_n_rounds=500)]
    kept = select(rows, "lightgbm")
    assert kept.selected == "default" and kept.params["n_rounds"] == 100
    assert "cut the default before its first score" in kept.note and "0.9664 at 50" in kept.note


def test_without_a_finished_trial_a_challenger_must_beat_the_defaults_score_at_equal_training() -> None:
    # the default's score came with fewer rounds than the challenger's: no fair comparison, so the
    # default stays (refit at its full plan, not where it was cut)
    ahead = row(1, 0.8958, status="cut", fidelity=300, params_n_rounds=500)
    kept = select([row(0, 0.85, status="cut", fidelity=60, params_n_rounds=100), ahead], "lightgbm")
    assert kept.selected == "default" and kept.params["n_rounds"] == 100 and "full plan" in kept.note
    # with the default scored at as many rounds, a clear margin replaces it ...
    kept = select([row(0, 0.85, se=0.004, status="cut", fidelity=300, params_n_rounds=500), ahead], "lightgbm")
    assert kept.selected == "tuned" and kept.params["n_rounds"] == 300
    # ... and a margin within the noise does not
    kept = select([row(0, 0.893, se=0.004, status="cut", fidelity=300, params_n_rounds=500), ahead], "lightgbm")
    assert kept.selected == "default" and kept.params["n_rounds"] == 500
    # the best partial trial being the default keeps it at its full plan
    kept = select([row(0, 0.90, status="pruned", fidelity=30, params_n_rounds=100), ahead], "lightgbm")
    assert kept.selected == "default" and kept.params["n_rounds"] == 100
    assert "the default, the best scored (0.9000 at 30)" in kept.note and "challenger" not in kept.note


def test_nothing_scored_is_no_selection() -> None:
    assert select([row(0, None, status="cut"), row(1, None, status="failed")], "svm") is None


def test_preprocessing_names_what_the_model_does_to_pixels() -> None:
    assert preprocessing({"C": 1.0, "scaler": "none"}) == "raw"
    assert preprocessing({"deskew": True, "scaler": "minmax", "pca_variance": 0.9}) == "deskew+scale+pca"


def _recorder(tmp_path, scheduler=None) -> TrialRecorder:
    return TrialRecorder(base={"family": "lightgbm"}, max_fidelity=lambda config: int(config["n_rounds"]),
                         journal=Journal(tmp_path / "journal.jsonl"), scheduler=scheduler,
                         is_default=lambda config: config["n_rounds"] == 100)


def _trial(tid: str, rounds: int) -> SimpleNamespace:
    return SimpleNamespace(trial_id=tid, config={"n_rounds": rounds}, experiment_tag=f"{tid[-1]}_x", num_failures=0,
                           storage=None)


def _statuses(tmp_path) -> dict[str, str]:
    return {r["trial_id"]: r["status"] for r in Journal(tmp_path / "journal.jsonl").rows()["trial"]}


def test_statuses_say_who_ended_a_trial(tmp_path) -> None:
    scheduler = SimpleNamespace(stopped={"t2"})
    recorder = _recorder(tmp_path, scheduler)
    trials = [_trial("t1", 100), _trial("t2", 500), _trial("t3", 500), _trial("t4", 500), _trial("t5", 500)]
    for trial in trials:
        recorder.on_trial_start(0, [], trial)
    for trial, fidelity in zip(trials[:4], (100, 50, 150, 50)):
        recorder.on_trial_result(0, [], trial, {"val_accuracy": 0.9, "fidelity": fidelity, "training_iteration": 1})
    recorder.on_trial_complete(0, [], trials[0])  # reached its plan
    recorder.on_trial_complete(0, [], trials[1])  # the scheduler stopped it
    recorder.on_trial_complete(0, [], trials[2])  # ended short, not by the scheduler: the budget
    recorder.on_experiment_end(trials)  # t4 still running with a score, t5 never reported
    assert _statuses(tmp_path) == {"t1": "completed", "t2": "pruned", "t3": "cut", "t4": "cut", "t5": "cut"}
    rows = {r["trial_id"]: r for r in Journal(tmp_path / "journal.jsonl").rows()["trial"]}
    assert rows["t1"]["is_default"] and not rows["t2"]["is_default"]
    assert rows["t4"]["val_accuracy"] == 0.9 and rows["t5"]["val_accuracy"] is None
    assert [rows[t]["trial_number"] for t in ("t1", "t2", "t3")] == [0, 1, 2]  # proposal order


def test_small_training_sets_are_cross_validated_and_large_ones_held_out() -> None:
    from bench.datasets import LoadedDataset
    from bench.searchdata import CV_BELOW, CV_FOLDS, prepare_data

    rng = np.random.default_rng(0)

    def loaded(n: int) -> LoadedDataset:
        X = rng.random((n, 4), dtype=np.float32)
        y = np.arange(n) % 10
        return SimpleNamespace(X_train=X, y_train=y, X_test=X[:10], y_test=y[:10], class_names=tuple("0123456789"))

    small, final = prepare_data(loaded(1000), None, 0.2)
    assert small.validation == f"{CV_FOLDS}-fold CV" and len(small.folds) == CV_FOLDS
    seen = np.concatenate([fold.y_val for fold in small.folds])
    assert len(seen) == len(final.y_train) == 1000  # every training row validated exactly once
    large, _ = prepare_data(loaded(CV_BELOW + 100), None, 0.2)
    assert large.validation == "holdout 20%" and len(large.folds) == 1
    assert len(large.folds[0].y_val) == round(0.2 * (CV_BELOW + 100))
