"""The HTML report over real runs: numbers from the tables, escaping, offline, spread, export."""

from __future__ import annotations

import functools
import html
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bench
from bench.cli import main
from bench.leaderboard import COLUMNS, formatted, leaderboard
from bench.report import render
from bench.report.build import build_sections
from bench.report.data import BY_FINISH, BY_TRIAL, best_so_far, pareto_front, scored_trials
from bench.report.export import engine_problem
from bench.report.page import figures
from bench.report.study import importances, rebuild_study, space_for
from conftest import run_cli

HOSTILE = "<script>alert(1)</script>"


@dataclass(frozen=True)
class Runs:
    """Two real runs under one root: svm+knn (seed 0, hostile name) and knn (seed 1)."""

    root: Path
    first: Path
    second: Path
    first_stdout: str
    hostile: Path  # a copy of ``first`` whose trials carry a hostile parameter value


def _run(root: Path, *args: str) -> tuple[Path, str]:
    before = {p for p in root.iterdir()} if root.exists() else set()
    result = run_cli("run", *args, "--results-dir", str(root), "--no-progress")
    assert result.returncode == 0, result.stderr
    (run_dir,) = [p for p in root.iterdir() if p not in before and (p / "manifest.json").is_file()]
    return run_dir, result.stdout


@functools.lru_cache(maxsize=None)
def make_runs(base: Path) -> Runs:
    """Made once per test session, shared by the report and browser tests."""
    root = base / "runs"
    # no early stopping: the spaces' start configurations win, and ASHA would prune every other
    # trial, leaving too few distinct completed configurations for importances and pareto fronts
    first, stdout = _run(root, "--family", "svm", "--family", "knn", "--trials", "5", "--seed", "0", "--name", HOSTILE,
                         "--scheduler", "none")
    # the same protocol as the first run's knn (trials, scheduler), so the leaderboard pools the two seeds
    second, _ = _run(root, "--family", "knn", "--trials", "5", "--seed", "1", "--scheduler", "none")
    hostile = base / "hostile" / first.name
    shutil.copytree(first, hostile, ignore=shutil.ignore_patterns("tune", "report.html"))
    trials = pd.read_parquet(hostile / "trials.parquet")
    trials.loc[trials["family"] == "knn", "params_weights"] = HOSTILE
    trials.to_parquet(hostile / "trials.parquet", index=False)
    return Runs(root, first, second, stdout, hostile)


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    return make_runs(tmp_path_factory.getbasetemp() / "report-runs")


@pytest.fixture(scope="session")
def combined(runs: Runs) -> Path:
    """``bench report`` over the whole results root (both runs)."""
    output = runs.root.parent / "combined.html"
    result = run_cli("report", str(runs.root), "--output", str(output), "--title", "both runs")
    assert result.returncode == 0, result.stderr
    assert "2 run(s)" in result.stdout
    return output


def _table_rows(page: str) -> list[list[str]]:
    table = re.search(r"<table class='grid board'>(.*?)</table>", page, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]  # skip the header row
    return [[html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in rows]


# ----------------------------------------------------------------- quick, no Ray


def test_leaderboard_interval_is_the_student_t_interval() -> None:
    rng = np.random.default_rng(0)
    accuracies = rng.uniform(0.9, 0.99, size=3)
    final = pd.DataFrame({
        "dataset": "digits", "family": "svm", "status": "completed", "seed": [0, 1, 2], "test_accuracy": accuracies,
        "val_accuracy": accuracies - 0.01, "trials_completed": 4, "trials_pruned": 1, "trials_failed": 0,
    })
    row = leaderboard(final).iloc[0]
    low, high = stats.t.interval(0.95, 2, loc=accuracies.mean(), scale=stats.sem(accuracies))
    assert row["n"] == 3 and row["trials_completed"] == 12 and row["trials_pruned"] == 3
    assert row["test_accuracy_std"] == pytest.approx(np.std(accuracies, ddof=1))
    assert row["test_accuracy_ci95"] == pytest.approx((high - low) / 2)


def test_pareto_front_is_not_dominated() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"fit_seconds": rng.lognormal(size=60), "val_accuracy": rng.uniform(size=60)})
    front = pareto_front(frame, "fit_seconds", "val_accuracy")
    assert not front.empty
    for _, point in front.iterrows():
        better = (frame["fit_seconds"] <= point["fit_seconds"]) & (frame["val_accuracy"] > point["val_accuracy"])
        assert not better.any()
    rest = frame.drop(front.index)
    for _, point in rest.iterrows():  # everything off the front is dominated by a front point
        assert ((front["fit_seconds"] <= point["fit_seconds"]) & (front["val_accuracy"] >= point["val_accuracy"])).any()


def test_static_format_without_engine_is_one_line_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr("bench.report.export.engine_problem", lambda: "no static export engine is installed; pip install kaleido")
    assert main(["report", str(tmp_path), "--format", "png"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "kaleido" in err and "--format png" in err


# ----------------------------------------------------------------- real runs


@pytest.mark.slow
def test_terminal_and_html_show_the_same_leaderboard(runs: Runs) -> None:
    results = bench.load(runs.first)
    board = leaderboard(results.final, results.predictions)  # the predictions give the tie marks
    expected = formatted(board, list(COLUMNS))
    html_rows = _table_rows((runs.first / "report.html").read_text())
    terminal = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[1:-1]]
                for line in runs.first_stdout.splitlines() if line.startswith("│")}
    assert set(terminal) == {"svm", "knn"} and len(html_rows) == 2
    for (_, row), html_row in zip(expected.iterrows(), html_rows):
        assert html_row[: len(COLUMNS)] == row.tolist() == terminal[row["family"]]


@pytest.mark.slow
def test_combined_report_shows_the_spread_across_seeds(runs: Runs, combined: Path) -> None:
    final = bench.load(runs.root).final
    knn = final[final["family"] == "knn"]
    assert sorted(knn["seed"]) == [0, 1]
    std = knn["test_accuracy"].std()
    rows = {r[0]: r for r in _table_rows(combined.read_text())}
    headers = list(COLUMNS)
    row = rows["knn"]
    assert row[headers.index("test_accuracy")] == f"{knn['test_accuracy'].mean():.4f}"
    assert row[headers.index("test_accuracy_std")] == f"{std:.4f}"
    assert row[headers.index("test_accuracy_ci95")] == f"{stats.t.ppf(0.975, 1) * std / np.sqrt(2):.4f}"
    assert row[headers.index("n")] == "2"
    assert rows["svm"][headers.index("test_accuracy_std")] == "-"  # one result: no spread to show


@pytest.mark.slow
def test_report_is_self_contained_and_offline(combined: Path) -> None:
    page = combined.read_text()
    assert page.count("<script") == len(re.findall(r'class="plotly-graph-div"', page)) + 1  # plotly.js once, one per figure
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=\s*[\"']?(https?:)?//", page, re.I)
    assert "cdn.plot.ly" not in re.sub(r"<script type=\"text/javascript\">.*?</script>", "", page, count=1, flags=re.S)


@pytest.mark.slow
def test_hostile_run_name_and_parameter_are_escaped(runs: Runs) -> None:
    results = bench.load(runs.hostile)
    page = render(results, HOSTILE)
    assert HOSTILE not in page
    assert html.escape(HOSTILE) in page  # the title, the manifest's name
    sections = build_sections(results)
    parcoords = next(f.figure for f in figures(sections) if f.slug == "params-digits-knn")
    labels = [d.label for d in parcoords.data[0].dimensions]
    assert all("<" not in label for label in labels)  # labels go through Plotly's pseudo-HTML: escaped
    ticks = [t for d in parcoords.data[0].dimensions for t in (d.ticktext or ())]
    assert HOSTILE in ticks  # tick text is drawn as plain text; the browser test checks it reads literally


@pytest.mark.slow
def test_figures_are_built_from_the_tables(runs: Runs) -> None:
    results = bench.load(runs.root)
    by_slug = {f.slug: f.figure for f in figures(build_sections(results))}
    assert {"samples-digits", "leaderboard", "cost", "best-by-trial", "best-by-time"} <= set(by_slug)
    for family in ("svm", "knn"):
        assert {f"params-digits-{family}", f"importance-digits-{family}", f"confusion-digits-{family}"} <= set(by_slug)
        # the confusion matrix is the sum of the family's final matrices
        rows = results.final[results.final["family"] == family]
        total = np.sum([json.loads(m) for m in rows["confusion_matrix"]], axis=0)
        assert np.array_equal(np.asarray(by_slug[f"confusion-digits-{family}"].data[0].text), total)
    # the gallery shows the winner's wrong predictions
    board = leaderboard(results.final)
    winner = results.final[results.final["family"] == board.iloc[0]["family"]].sort_values("test_accuracy").iloc[-1]
    predictions = results.predictions[(results.predictions["run_id"] == winner["run_id"]) & (results.predictions["family"] == winner["family"])
                                      & (results.predictions["seed"] == winner["seed"])]
    wrong = int((predictions["y_true"] != predictions["y_pred"]).sum())
    gallery = [s for s in by_slug if s.startswith("misclassified-")]
    if wrong:
        assert len(by_slug[gallery[0]].data) == min(wrong, 30)
    # best so far never falls and ends at each search's best completed score; by finish time it moves forward in time
    for order in (BY_TRIAL, BY_FINISH):
        for _, curve in best_so_far(results.trials, order).groupby("search"):
            assert curve["best_val_accuracy"].is_monotonic_increasing
            completed = curve.loc[curve["status"] == "completed", "val_accuracy"]
            assert curve["best_val_accuracy"].iloc[-1] == (completed if not completed.empty else curve["val_accuracy"]).max()
            assert order == BY_TRIAL or curve["elapsed_seconds"].is_monotonic_increasing
    assert scored_trials(results.trials)["pareto"].any()


@pytest.mark.slow
def test_importances_come_from_a_study_rebuilt_from_the_trials(runs: Runs) -> None:
    results = bench.load(runs.root)
    trials = results.trials[results.trials["family"] == "svm"]
    study = rebuild_study(trials, space_for("svm", list(results.manifests.values())))
    completed = trials[trials["status"] == "completed"]
    assert len(study.trials) == len(completed)
    assert sorted(t.value for t in study.trials) == sorted(completed["val_accuracy"])
    scores = importances(study)
    assert scores.sum() == pytest.approx(1.0) and set(scores.index) <= set(study.trials[0].params)


@pytest.mark.slow
def test_reproduction_runs_get_a_published_vs_reproduced_table(runs: Runs, tmp_path: Path) -> None:
    run = tmp_path / "repro"
    # the search run's own tables name its run: a reproduction folder holds only its own rows
    shutil.copytree(runs.second, run, ignore=shutil.ignore_patterns("tune", "report.html", "trials.parquet", "history.parquet", "predictions*"))
    manifest = json.loads((run / "manifest.json").read_text())
    manifest.update(kind="reproduce", run_id="repro-1")
    (run / "manifest.json").write_text(json.dumps(manifest))
    rows = pd.DataFrame({"run_id": "repro-1", "dataset": "digits", "classifier": ["SVC", "KNeighborsClassifier"],
                         "published_accuracy": [0.97, 0.96], "test_accuracy": [0.975, 0.95], "test_accuracy_std": [0.001, 0.002],
                         "verdict": ["reproduced", "below"], "source": "sklearn-digits", "baseline_id": ["a", "b"]})
    rows["difference"] = rows["test_accuracy"] - rows["published_accuracy"]
    rows.to_parquet(run / "final.parquet", index=False)
    page = render(bench.load(run), "reproduction")
    assert "Published vs reproduced" in page
    for _, row in rows.iterrows():
        assert f"{row['difference']:+.4f}" in page and row["verdict"] in page
    assert not leaderboard(bench.load(run).final)["family"].tolist()  # reproduction rows are not leaderboard rows


@pytest.mark.slow
@pytest.mark.skipif(engine_problem() is not None, reason=f"static export: {engine_problem()}")
def test_static_export_writes_every_figure(runs: Runs, tmp_path: Path) -> None:
    result = run_cli("report", str(runs.first), "--format", "svg", "--output", str(tmp_path / "figs"))
    assert result.returncode == 0, result.stderr
    slugs = {f.slug for f in figures(build_sections(bench.load(runs.first)))}
    written = {p.stem for p in (tmp_path / "figs").glob("*.svg")}
    assert written == slugs and all(p.read_text().lstrip().startswith("<svg") for p in (tmp_path / "figs").glob("*.svg"))
