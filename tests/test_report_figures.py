"""The report's figures and frames on hand-made tables that follow the run-table contract: no Ray.

``synthetic_results`` is also what the browser test opens, so the page can be checked for
columns a real run fixture may not have yet.
"""

from __future__ import annotations

import html
import json
import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from bench.leaderboard import fmt, leaderboard
from bench.report import render
from bench.report.build import build_sections
from bench.report.data import BY_FINISH, BY_TRIAL, best_so_far, cost_seconds, scored_trials
from bench.report.figures.accuracy import accuracy_figure
from bench.report.figures.cost import cost_figure
from bench.report.figures.importance import importance_figure
from bench.report.figures.progress import best_so_far_figure
from bench.report.figures.tuning import default_vs_tuned_figure
from bench.report.page import Note, figures
from bench.report.rungs import FLAGGED, ONE_REPORT, TOO_FEW, rank_correlations
from bench.report.study import branch_importances
from bench.report.tuning import default_vs_tuned
from bench.results import Results
from bench.space import parse_space
from bench.stats import mcnemar_exact, wilson_interval

HOSTILE = "<script>alert(1)</script>"
T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
RUN = "synthetic-run"


def iso(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def two_overlapping_trials() -> pd.DataFrame:
    """A starts first and finishes last with the higher score; B starts second, finishes first."""
    return pd.DataFrame({
        "run_id": RUN, "dataset": "digits", "family": "svm", "seed": 0, "status": "completed",
        "trial_number": [0, 1], "trial_id": ["A", "B"], "val_accuracy": [0.95, 0.90],
        "started_at": [iso(0), iso(1)], "finished_at": [iso(10), iso(5)],
    })


# ----------------------------------------------------------------- best so far


def test_wall_time_curve_shows_no_score_before_its_trial_finished() -> None:
    trials = two_overlapping_trials()
    curve = best_so_far(trials, BY_FINISH)
    assert curve["trial_id"].tolist() == ["B", "A"]
    assert curve["elapsed_seconds"].tolist() == [5.0, 10.0]
    assert curve["best_val_accuracy"].tolist() == [0.90, 0.95]
    finished_at = dict(zip(trials["trial_id"], [10.0, 5.0]))
    scores = dict(zip(trials["trial_id"], trials["val_accuracy"]))
    for x, best in zip(curve["elapsed_seconds"], curve["best_val_accuracy"]):  # only what had finished by x
        assert best == max(scores[t] for t, done in finished_at.items() if done <= x)
    # the drawn step line holds B's score until A's finish (horizontal first, then up)
    trace = best_so_far_figure(curve, "elapsed_seconds", "s", {}, "t").data[0]
    assert list(trace.x) == [5.0, 10.0] and list(trace.y) == [0.90, 0.95] and trace.line.shape == "hv"


def test_trial_number_curve_walks_trials_in_number_order() -> None:
    curve = best_so_far(two_overlapping_trials(), BY_TRIAL)
    assert curve["trial_id"].tolist() == ["A", "B"] and curve["best_val_accuracy"].tolist() == [0.95, 0.95]


def test_best_so_far_counts_completed_trials_unless_none_completed() -> None:
    trials = two_overlapping_trials().assign(status=["pruned", "completed"], val_accuracy=[0.99, 0.90])
    assert best_so_far(trials, BY_TRIAL)["best_val_accuracy"].max() == 0.90  # a half-trained 0.99 is not a result
    cut_only = trials.assign(status=["cut", "failed"])
    assert best_so_far(cut_only, BY_TRIAL)["best_val_accuracy"].max() == 0.99  # nothing completed: what was scored


# ----------------------------------------------------------------- cost


def test_cost_is_the_last_stage_fit_plus_validation_predict() -> None:
    trials = pd.DataFrame({"fit_seconds": [3.0, 2.0, 1.0], "stage_fit_seconds": [2.0, None, 1.0],
                           "val_predict_seconds": [0.5, 0.25, None]})
    assert cost_seconds(trials).tolist() == [2.5, 2.25, 1.0]
    assert cost_seconds(trials.drop(columns=["stage_fit_seconds", "val_predict_seconds"])).tolist() == [3.0, 2.0, 1.0]


def test_cost_figure_plots_the_cost_and_its_front() -> None:
    trials = pd.DataFrame({
        "dataset": "digits", "family": ["knn", "svm", "svm"], "status": "completed", "val_accuracy": [0.97, 0.96, 0.98],
        "fit_seconds": [0.01, 9.0, 3.0], "stage_fit_seconds": [0.01, 6.0, 2.0], "val_predict_seconds": [4.0, 0.1, 0.1],
    })
    scored = scored_trials(trials)
    # k-NN's fit is nothing but its prediction is 4 s: the 2.1 s svm at 0.98 dominates it
    assert scored.set_index("family")["pareto"].groupby(level=0).any().to_dict() == {"knn": False, "svm": True}
    fig = cost_figure(scored, {}, "t")
    assert sorted(x for trace in fig.data if trace.name != "Pareto front" for x in trace.x) == pytest.approx([2.1, 4.01, 6.1])
    assert "last stage" in fig.layout.xaxis.title.text and "predict" in fig.layout.xaxis.title.text


# ----------------------------------------------------------------- accuracy figure


def _board(n: list[int], ci: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"dataset": "digits", "family": [f"f{i}" for i in range(len(n))], "test_accuracy": 0.9, "n": n,
                         "test_accuracy_std": [c / 2 for c in ci], "test_accuracy_ci95": ci, "published_accuracy": math.nan,
                         "published_source": None})


def test_single_results_get_no_error_bar() -> None:
    fig = accuracy_figure(_board([1], [math.nan]), {}, "t")
    assert len(fig.data) == 1 and fig.data[0].error_y.array is None
    mixed = accuracy_figure(_board([3, 1], [0.01, math.nan]), {}, "t")
    with_bars = [t for t in mixed.data if t.error_y.array is not None]
    assert len(with_bars) == 1 and list(with_bars[0].x) == ["f0"] and list(with_bars[0].error_y.array) == [0.01]
    assert list(mixed.layout.xaxis.categoryarray) == ["f0", "f1"]


# ----------------------------------------------------------------- importances

SPACE = """
params:
  kernel: {type: categorical, choices: [linear, rbf]}
  C: {type: float, low: 1.0e-2, high: 1.0e+3, log: true}
  tol: {type: float, low: 1.0e-5, high: 1.0e-1, log: true}
  gamma: {type: float, low: 1.0e-5, high: 1.0, log: true, when: {kernel: rbf}}
"""


def conditional_study(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """Only gamma matters, and only where kernel = rbf; elsewhere the score is noise."""
    rng = np.random.default_rng(seed)
    kernel = np.where(np.arange(n) % 2 == 0, "rbf", "linear")
    gamma = np.where(kernel == "rbf", 10 ** rng.uniform(-5, 0, n), np.nan)
    score = np.where(kernel == "rbf", 0.6 + 0.35 * np.exp(-((np.log10(gamma) + 2.5) ** 2)), 0.8) + rng.normal(0, 0.003, n)
    return pd.DataFrame({
        "family": "svm", "status": "completed", "trial_number": range(n), "val_accuracy": score, "params_kernel": kernel,
        "params_C": 10 ** rng.uniform(-2, 3, n), "params_tol": 10 ** rng.uniform(-5, -1, n), "params_gamma": gamma,
    })


def test_a_conditional_parameter_that_alone_matters_gets_the_largest_importance_in_its_branch() -> None:
    trials = conditional_study()
    found, skipped = branch_importances(trials, parse_space(SPACE, "svm", require_default=False))
    by_label = {b.label: b for b in found}
    assert skipped == [] and set(by_label) == {"all completed trials", "kernel = linear", "kernel = rbf"}
    rbf = by_label["kernel = rbf"]
    assert rbf.trials == 30 and rbf.scores.idxmax() == "gamma" and rbf.scores["gamma"] > 0.5
    assert "gamma" not in by_label["all completed trials"].scores  # not every trial has it
    assert rbf.scores.sum() == pytest.approx(1.0)
    again, _ = branch_importances(trials, parse_space(SPACE, "svm", require_default=False))  # seeded: the same numbers each time
    assert again[2].scores.equals(found[2].scores)
    # the figure names the trials behind each bar set
    names = {t.name for t in importance_figure(found, "t").data}
    assert names == {"all completed trials (60 trials)", "kernel = linear (30 trials)", "kernel = rbf (30 trials)"}


def test_without_a_space_branches_follow_which_parameters_a_trial_has() -> None:
    found, _ = branch_importances(conditional_study(), None)
    by_label = {b.label: b for b in found}
    assert by_label["trials with gamma"].scores.idxmax() == "gamma"


def test_small_branches_are_left_out_and_said() -> None:
    trials = conditional_study(14)
    trials = trials[(trials["params_kernel"] == "linear") | (trials["trial_number"] < 6)]  # 3 rbf trials
    found, skipped = branch_importances(trials, parse_space(SPACE, "svm", require_default=False))
    assert [b.label for b in found] == ["all completed trials", "kernel = linear"]
    assert skipped == ["kernel = rbf: 3 completed trial(s), fewer than 5"]
    with pytest.raises(ValueError, match="at least 5"):
        branch_importances(trials.head(4), parse_space(SPACE, "svm", require_default=False))


# ----------------------------------------------------------------- default vs tuned


def two_seeds(results: Results) -> Results:
    """``results`` with every final row and prediction repeated as seed 1 (svm's default kept there)."""
    final = results.final.assign(seed=1)
    final.loc[final["family"] == "svm", ["selected", "test_accuracy", "tuning_gain", "tuning_p_value"]] = [
        "default", final.loc[final["family"] == "svm", "default_test_accuracy"].iloc[0], 0.0, 1.0]
    return Results(trials=results.trials, history=results.history, final=pd.concat([results.final, final], ignore_index=True),
                   predictions=pd.concat([results.predictions, results.predictions.assign(seed=1)], ignore_index=True),
                   manifests=results.manifests)


def test_default_vs_tuned_reads_the_leaderboards_rows_and_intervals() -> None:
    results = synthetic_results()
    board = leaderboard(results.final, results.predictions)
    rows = default_vs_tuned(board).set_index("family")
    svm = rows.loc["svm"]
    assert (svm["default_test_accuracy"], svm["test_accuracy"]) == pytest.approx((351 / 360, 356 / 360))
    assert svm["tuning_gain"] == pytest.approx(5 / 360) and svm["selected"] == "tuned"
    assert (svm["default_low"], svm["default_high"]) == pytest.approx(wilson_interval(351, 360))
    on_board = board.set_index("family").loc["svm"]
    assert (svm["tuned_low"], svm["tuned_high"]) == (on_board["test_wilson_low"], on_board["test_wilson_high"])
    assert svm["p_text"] == fmt("tuning_p_value", on_board["tuning_p_value"]) and rows.loc["knn", "selected"] == "default"
    assert default_vs_tuned(board.drop(columns=["default_test_accuracy"])).empty  # tables from before the default refit


def test_default_vs_tuned_over_seeds_names_the_seed_of_its_p_value() -> None:
    results = two_seeds(synthetic_results())
    svm = default_vs_tuned(leaderboard(results.final, results.predictions)).set_index("family").loc["svm"]
    assert svm["n"] == 2 and svm["test_accuracy"] == pytest.approx((351 + 356) / 720) and svm["p_text"].endswith("(seed 0)")
    assert (svm["default_low"], svm["default_high"]) == pytest.approx(wilson_interval(702, 720))


def test_default_vs_tuned_figure_escapes_and_draws_both_sides() -> None:
    results = synthetic_results()
    final = results.final.assign(family=results.final["family"].replace("svm", HOSTILE))
    predictions = results.predictions.assign(family=results.predictions["family"].replace("svm", HOSTILE))
    rows = default_vs_tuned(leaderboard(final, predictions))
    fig = default_vs_tuned_figure(rows, {}, "t")
    default, selected = fig.data
    assert (default.name, selected.name) == ("library default", "selected configuration")
    assert list(default.x) == pytest.approx([351 / 360, 352 / 360]) and list(selected.x) == pytest.approx([356 / 360, 352 / 360])
    assert all(t.error_x.arrayminus is not None for t in fig.data)
    assert list(selected.text) == [f"gain +0.0139, p {rows['p_text'][0]} (tuned)", "gain +0.0000, p 1.000 (default)"]
    assert html.escape(HOSTILE) in fig.layout.yaxis.ticktext and HOSTILE not in fig.layout.yaxis.ticktext


# ----------------------------------------------------------------- early stopping


def history(first: list[float], full: list[float], family: str = "lightgbm", progress: tuple[float, ...] = (1 / 3, 2 / 3, 1.0),
            middle: list[float] | None = None) -> pd.DataFrame:
    """Three reports per trial: ``first``, ``middle`` (``first`` unless given) and ``full`` at ``progress``."""
    rows = []
    for trial, scores in enumerate(zip(first, middle or first, full)):
        for step, (p, score) in enumerate(zip(progress, scores), start=1):
            rows.append({"run_id": RUN, "dataset": "digits", "family": family, "seed": 0, "trial_id": f"t{trial}",
                         "trial_number": trial, "step": step, "progress": p, "val_accuracy": score})
    return pd.DataFrame(rows)


def test_rankings_that_agree_give_rho_one() -> None:
    row = rank_correlations(history([0.5, 0.6, 0.7, 0.8], [0.8, 0.85, 0.9, 0.95])).iloc[0]
    assert row["trials"] == 4 and row["spearman_rho"] == pytest.approx(1.0) and not row["flagged"] and row["note"] == ""


def test_reversed_rankings_are_flagged() -> None:
    row = rank_correlations(history([0.5, 0.6, 0.7, 0.8], [0.95, 0.9, 0.85, 0.8])).iloc[0]
    assert row["spearman_rho"] == pytest.approx(-1.0) and row["flagged"] and row["note"] == FLAGGED


def test_schedule_bound_families_compare_at_one_27th_of_the_plan() -> None:
    # step 1 (2% of the plan) ranks the trials backwards; step 2 (at 5%, past 1/27) ranks them as full training does
    frame = history([0.9, 0.8, 0.7, 0.6], [0.80, 0.85, 0.90, 0.95], family="mlp", progress=(0.02, 0.05, 1.0),
                    middle=[0.5, 0.6, 0.7, 0.8])
    row = rank_correlations(frame).iloc[0]
    assert row["first_rung"] == "1/27 of each plan" and row["spearman_rho"] == pytest.approx(1.0)
    lgbm = rank_correlations(frame.assign(family="lightgbm")).iloc[0]
    assert lgbm["first_rung"] == "first report (step 1)" and lgbm["spearman_rho"] == pytest.approx(-1.0)


def test_too_few_trials_or_no_intermediate_reports_are_said() -> None:
    frame = history([0.5, 0.6, 0.7], [0.8, 0.9, 0.95])
    few = frame[frame["trial_id"] != "t2"]
    row = rank_correlations(few).iloc[0]
    assert row["trials"] == 2 and math.isnan(row["spearman_rho"]) and row["note"] == TOO_FEW and not row["flagged"]
    unfinished = frame[~((frame["trial_id"] == "t2") & (frame["progress"] >= 1))]  # t2 was pruned: not counted
    assert rank_correlations(unfinished).iloc[0]["trials"] == 2
    one_shot = frame[frame["progress"] >= 1]
    assert rank_correlations(one_shot).iloc[0]["note"] == ONE_REPORT


# ----------------------------------------------------------------- a whole report from contract tables


def synthetic_results(hostile: bool = False) -> Results:
    """One run on digits following the issue-16 table contract: svm (conditional gamma, rankings that
    agree) and knn (staged, rankings reversed), a default and a tuned refit each, paired predictions."""
    rng = np.random.default_rng(7)
    svm = conditional_study(12, seed=1).assign(params_C=lambda f: f["params_C"].round(3))
    svm = svm.assign(status=["completed"] * 9 + ["pruned", "cut", "failed"])
    svm.loc[svm["status"] == "failed", "val_accuracy"] = np.nan
    knn = pd.DataFrame({"family": "knn", "status": "completed", "trial_number": range(8),
                        "val_accuracy": 0.95 + rng.uniform(0, 0.03, 8), "params_n_neighbors": rng.integers(1, 30, 8),
                        "params_weights": (["uniform", "distance"] * 4) if not hostile else [HOSTILE, "distance"] * 4})
    trials = pd.concat([svm, knn], ignore_index=True)
    n = len(trials)
    start = np.concatenate([np.arange(12) * 2.0, np.arange(8) * 1.5])
    trials = trials.assign(
        run_id=RUN, dataset="digits", seed=0, sampler="tpe", trial_id=[f"{f}-{i}" for f, i in zip(trials["family"], trials["trial_number"])],
        is_default=trials["trial_number"] == 0, val_accuracy_se=0.005, progress=np.where(trials["status"] == "completed", 1.0, 1 / 3),
        fidelity=1.0, fit_seconds=rng.uniform(0.5, 3.0, n), val_predict_seconds=rng.uniform(0.01, 0.3, n),
        started_at=[iso(s) for s in start], finished_at=[iso(s + 3.0 - (i % 3)) for i, s in enumerate(start)],
    )
    trials["stage_fit_seconds"] = trials["fit_seconds"] * 0.7
    trials["wall_seconds"] = trials["fit_seconds"] + 0.1
    reports = []
    for _, trial in trials[trials["status"] == "completed"].iterrows():
        final = trial["val_accuracy"]
        first = final - 0.1 if trial["family"] == "svm" else 1.9 - final - 0.1  # svm agrees, knn is reversed
        for step, (progress, score) in enumerate(zip((1 / 9, 1 / 3, 1.0), (first, (first + final) / 2, final)), start=1):
            reports.append({**trial[["run_id", "dataset", "family", "seed", "trial_id", "trial_number"]].to_dict(),
                            "step": step, "fidelity": progress, "progress": progress, "val_accuracy": score,
                            "fit_seconds": step * 0.2, "timestamp": iso(step)})
    test_size = 360
    y_true = rng.integers(0, 10, test_size)
    predictions, finals = [], []
    for family, tuned_wrong, default_wrong, selected in (("svm", 4, 9, "tuned"), ("knn", 8, 8, "default")):
        y_pred, y_default = y_true.copy(), y_true.copy()
        y_pred[:tuned_wrong] = (y_true[:tuned_wrong] + 1) % 10
        y_default[-default_wrong:] = (y_true[-default_wrong:] + 1) % 10
        if selected == "default":
            y_pred = y_default
        predictions.append(pd.DataFrame({"run_id": RUN, "dataset": "digits", "family": family, "seed": 0,
                                         "test_index": range(test_size), "y_true": y_true, "y_pred": y_pred, "y_pred_default": y_default}))
        matrix = np.zeros((10, 10), dtype=int)
        np.add.at(matrix, (y_true, y_pred), 1)
        accuracy = 1 - (tuned_wrong if selected == "tuned" else default_wrong) / test_size
        default = 1 - default_wrong / test_size
        p_value = mcnemar_exact(y_true, y_pred, y_default)
        counts = trials[trials["family"] == family]["status"].value_counts()
        finals.append({
            "run_id": RUN, "dataset": "digits", "family": family, "seed": 0, "status": "completed", "test_accuracy": accuracy,
            "selected": selected, "val_accuracy": 0.97, "val_accuracy_se": 0.005, "default_val_accuracy": 0.96,
            "default_val_accuracy_se": 0.005, "default_test_accuracy": default, "default_params": json.dumps({}),
            "tuning_gain": accuracy - default, "tuning_p_value": p_value, "refit_note": None, "validation": "5-fold CV",
            "train_size": 1437, "test_size": test_size, "preprocessing": "raw", "sampler": "tpe", "scheduler": "asha",
            "trials_requested": 12, "time_budget_s": None, "mode": "default", "trials": int(counts.sum()),
            "trials_completed": int(counts.get("completed", 0)), "trials_pruned": int(counts.get("pruned", 0)),
            "trials_cut": int(counts.get("cut", 0)), "trials_failed": int(counts.get("failed", 0)), "search_seconds": 30.0,
            "refit_seconds": 1.0, "fit_seconds": 1.0, "test_f1_macro": accuracy, "confusion_matrix": json.dumps(matrix.tolist()),
            "params": json.dumps({}),
        })
    manifest = {"run_id": RUN, "name": HOSTILE if hostile else "synthetic", "kind": "search", "dataset": {"name": "digits"},
                "options": {"trials": 12, "sampler": "tpe", "scheduler": "asha", "seeds": [0], "reproducible": False}}
    return Results(trials=trials, history=pd.DataFrame(reports), final=pd.DataFrame(finals),
                   predictions=pd.concat(predictions, ignore_index=True), manifests={RUN: manifest})


def test_synthetic_report_has_every_new_part() -> None:
    sections = build_sections(synthetic_results())
    by_slug = {f.slug: f.figure for f in figures(sections)}
    assert {"default-vs-tuned", "cost", "best-by-trial", "best-by-time", "importance-digits-svm"} <= set(by_slug)
    branches = {t.name for t in by_slug["importance-digits-svm"].data}
    assert branches == {"all completed trials (9 trials)", "kernel = rbf (5 trials)"}
    notes = [b.text for s in sections for b in s.blocks if isinstance(b, Note)]
    assert "svm: no importances for kernel = linear: 4 completed trial(s), fewer than 5." in notes
    early = next(s for s in sections if s.title == "Early stopping")
    table = early.blocks[0].markup
    assert "Spearman ρ" in table and "⚠ -1.00" in table and ">1.00<" in table
    assert any("⚠ knn" in getattr(b, "text", "") for b in early.blocks)


def test_synthetic_report_escapes_run_strings() -> None:
    page = render(synthetic_results(hostile=True), "t")
    assert HOSTILE not in page and html.escape(HOSTILE) in page
