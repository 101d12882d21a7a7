"""Several search methods in one run (issue 19): each (family, sampler, scheduler, seed) its own
study, the tables naming the method on every row, the per-method table, resume, and suites."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

import bench
from bench.cli import build_parser
from bench.leaderboard import leaderboard
from bench.results import _with_method, prediction_part
from bench.runner import Method, RunOptions
from bench.suites import SUITES


def test_comma_lists_name_the_methods() -> None:
    args = build_parser().parse_args(["run", "--family", "svm", "--sampler", "tpe, random", "--scheduler", "asha,none"])
    assert (args.sampler, args.scheduler, args.with_start) == ("tpe,random", "asha,none", False)
    options = RunOptions(families=["lightgbm"], sampler=args.sampler, scheduler=args.scheduler)
    assert options.comparison
    assert options.methods("lightgbm") == [Method("tpe", "asha"), Method("tpe", "none"), Method("random", "asha"),
                                           Method("random", "none")]
    single = RunOptions(families=["tree"])
    assert not single.comparison and single.methods("tree") == [Method("tpe", "none")]  # auto: a tree reports once
    assert RunOptions(families=["tree"], scheduler="auto,asha").methods("tree") == [Method("tpe", "none")]


def test_a_method_named_twice_is_refused(cli) -> None:
    result = cli("run", "--family", "svm", "--sampler", "tpe,random,tpe")
    assert result.returncode == 2 and "names a sampler twice" in result.stderr


def test_a_suite_sets_its_own_problems(cli) -> None:
    result = cli("run", "--suite", "small", "--family", "svm", "--trials", "5")
    assert result.returncode == 2
    assert "leave out --family, --trials" in result.stderr


def test_prediction_parts_are_per_method(tmp_path: Path) -> None:
    assert prediction_part(tmp_path, "svm", 3).name == "svm-seed3.parquet"
    assert prediction_part(tmp_path, "svm", 3, "random/asha").name == "svm-random-asha-seed3.parquet"


def test_tables_of_older_runs_get_their_study_method() -> None:
    """Runs written before methods were compared left the scheduler out of trials and history:
    it comes from the study's final row, so grouping by method keeps their rows."""
    final = pd.DataFrame({"family": ["svm", "knn"], "seed": [0, 0], "sampler": ["tpe", "tpe"], "scheduler": ["none", "asha"]})
    trials = pd.DataFrame({"family": ["knn", "svm", "knn"], "seed": [0, 0, 0], "sampler": ["tpe"] * 3, "trial_number": [0, 0, 1]})
    filled = _with_method(trials, final)
    assert filled["scheduler"].tolist() == ["asha", "none", "asha"]
    assert filled["trial_number"].tolist() == [0, 0, 1]
    assert len(filled.groupby(["family", "sampler", "scheduler"])) == 2


@pytest.mark.parametrize("name", list(SUITES))
def test_every_suite_is_a_set_of_registered_problems(name: str) -> None:
    from bench.datasets import list_datasets
    from bench.families import list_families

    suite = SUITES[name]
    problems = suite.problems()
    assert len(problems) == len(set(problems))
    assert {family for family, *_ in problems} <= set(list_families())
    assert {dataset for _, dataset, *_ in problems} <= set(list_datasets())
    assert len(problems) >= 6  # a two-sided Wilcoxon over fewer problems can never reach p < 0.05
    assert len(suite.seeds) >= 3


def _study_best(trials: pd.DataFrame, n: int) -> pd.Series:
    """Plain pandas: per study, the best validation accuracy of its completed trials among the first n."""
    first = trials[(trials["trial_number"] < n) & (trials["status"] == "completed")]
    return first.groupby(["family", "sampler", "scheduler", "seed"])["val_accuracy"].max()


@pytest.mark.slow
def test_a_comparison_run_keeps_every_study_apart_and_resumes_them(tmp_path: Path) -> None:
    results = tmp_path / "r"
    args = ["run", "--family", "knn,tree", "--sampler", "tpe,random", "--seeds", "0,1", "--trials", "6",
            "--no-progress", "--results-dir", str(results)]
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    run_dir = next(results.iterdir())
    loaded = bench.load(run_dir)
    trials, final = loaded.trials, loaded.final
    studies = trials.groupby(["family", "sampler", "scheduler", "seed"])
    assert len(studies) == 8 and (studies.size() == 6).all()
    knn = trials[(trials["family"] == "knn") & (trials["seed"] == 0)].sort_values("trial_number")
    params = [c for c in knn if c.startswith("params_")]
    proposals = {s: rows[params].astype(str).to_numpy().tolist() for s, rows in knn.groupby("sampler")}
    assert proposals["tpe"] != proposals["random"]  # each method draws its own stream (TPE starts randomly)
    assert set(final["scheduler_option"]) == {"auto"}  # asked: auto, so tpe/auto is one method across families
    assert not trials["is_default"].any()  # a comparison starts from the sampler's own proposals
    assert (studies["sampler_seconds"].sum() > 0).all()
    assert set(loaded.history["sampler"]) == {"tpe", "random"} and loaded.history["scheduler"].notna().all()
    assert len(final) == 8 and (final["status"] == "completed").all()
    parts = sorted(p.name for p in (run_dir / "predictions").iterdir())
    assert parts == sorted(f"{f}-{s}-{c}-seed{seed}.parquet" for (f, s, c, seed) in studies.groups)
    assert len(loaded.predictions.groupby(["family", "sampler", "scheduler", "seed"])) == 8

    # the per-method table, recomputed here from trials.parquet in plain pandas
    table = pd.read_parquet(run_dir / "methods.parquet")
    best = _study_best(trials, 6).rename("best").reset_index()
    for family, rows in best.groupby("family"):
        mean = rows.groupby("sampler")["best"].mean()
        top, random = rows["best"].max(), mean["random"]
        for sampler in ("tpe", "random"):
            row = table[(table["family"] == family) & (table["sampler"] == sampler)].iloc[0]
            assert row["best_val_mean"] == pytest.approx(mean[sampler])
            if top > random:
                assert row["normalized_score"] == pytest.approx(100 * (mean[sampler] - random) / (top - random))
            else:
                assert math.isnan(row["normalized_score"]) and row["normalized_note"] == "no headroom"
        for fraction, column in ((0.25, "rank_25"), (1.0, "rank_100")):
            at = _study_best(trials[trials["family"] == family], math.ceil(fraction * 6)).rename("best").reset_index()
            wide = at.pivot(index="seed", columns="sampler", values="best").reindex(index=[0, 1], columns=["tpe", "random"])
            ranks = wide.fillna(-np.inf).rank(axis=1, ascending=False).mean()  # no completed trial yet: last
            for sampler in ("tpe", "random"):
                row = table[(table["family"] == family) & (table["sampler"] == sampler)].iloc[0]
                assert row[column] == pytest.approx(ranks[sampler])
    # ... and the terminal printed those numbers
    for _, row in table.iterrows():
        score = "-" if math.isnan(row["normalized_score"]) else f"{row['normalized_score']:.1f}"
        cells = [f"{row['best_val_mean']:.4f}", score, f"{row['rank_25']:.2f}", f"{row['rank_100']:.2f}"]
        assert any(re.search(rf"│\s*{re.escape(row['method'])}\s*│", line) and all(c in line for c in cells)
                   for line in done.stdout.splitlines()), (row.to_dict(), done.stdout)
    board = leaderboard(final)
    assert len(board) == 4 and board["protocol"].str.contains("random").sum() == 2  # a section per method
    assert "Search methods" in (run_dir / "report.html").read_text()

    # an interrupted comparison: the last family's studies of seed 1 lost; --resume runs them again
    journal = run_dir / "journal.jsonl"
    lines = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
    lost = [e for e in lines if e["row"].get("family") == "tree" and e["row"].get("seed") == 1]
    assert {e["kind"] for e in lost} >= {"trial", "final"}
    journal.write_text("".join(json.dumps(e) + "\n" for e in lines if e not in lost))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    (run_dir / "manifest.json").write_text(json.dumps({**manifest, "status": "interrupted"}))
    for table_file in ("trials.parquet", "final.parquet", "history.parquet"):
        (run_dir / table_file).unlink()
    resumed = run_cli("run", "--resume", str(run_dir), "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    again = bench.load(run_dir)
    studies = again.trials.groupby(["family", "sampler", "scheduler", "seed"])
    assert len(studies) == 8 and (studies.size() == 6).all()
    assert len(again.final) == 8 and set(again.final["status"]) == {"completed"}
    kept = again.trials[again.trials["family"] == "knn"].sort_values("trial_id")
    assert kept["trial_id"].tolist() == trials[trials["family"] == "knn"].sort_values("trial_id")["trial_id"].tolist()


def test_a_suite_run_keeps_the_command_line_s_other_options() -> None:
    """What a suite sets replaces the command line's; the rest (spaces, concurrency...) still applies."""
    from bench.cli import run_options

    args = build_parser().parse_args(["run", "--suite", "small", "--space-dir", "spaces", "--max-concurrent", "1",
                                      "--with-start", "--scheduler", "asha,none"])
    args.prog, args.argv = "bench", ["run", "--suite", "small"]
    options = run_options(args, families=["svm"], dataset="mnist", train_size=2000, suite="small@1")
    assert (options.families, options.dataset, options.train_size, options.suite) == (["svm"], "mnist", 2000, "small@1")
    assert options.space_dir == Path("spaces") and options.max_concurrent == 1 and options.with_start
    assert options.scheduler == "asha,none" and options.command == "bench run --suite small"


def _suite_args(*argv: str):
    args = build_parser().parse_args(list(argv))
    args.prog, args.argv = "bench", list(argv)
    return args


def test_an_interrupted_suite_resumes_as_a_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Finished runs stay, the interrupted one goes on in its own folder, the rest start with the
    options of the command that started the suite."""
    from rich.console import Console

    from bench import suites
    from bench.suites import Suite, SuiteRun

    tiny = Suite(name="small", version=1, description="three one-family runs",
                 runs=tuple(SuiteRun("digits", (family,), trials=2) for family in ("logreg", "tree", "knn")), seeds=(0,))
    monkeypatch.setitem(SUITES, "small", tiny)
    finished: list[Path] = []
    monkeypatch.setattr(suites, "finish_suite", lambda folder, suite, console: finished.append(folder) or 0)
    calls: list[tuple[str, list[str], Path, int | None]] = []

    def execute(interrupt_at: str | None):
        def run(run, console) -> int:
            calls.append((run.options.families[0], run.options.families, run.run_dir, run.options.max_concurrent))
            run.status = "interrupted" if run.options.families[0] == interrupt_at else "finished"
            run.write()
            return 130 if run.status == "interrupted" else 0
        return run

    console = Console(file=open(tmp_path / "console.txt", "w"))
    start = _suite_args("run", "--suite", "small", "--results-dir", str(tmp_path / "r"), "--no-progress",
                        "--max-concurrent", "1")
    assert suites.run_suite(start, console, execute("tree")) == 130
    (folder,) = (tmp_path / "r").iterdir()
    plan = json.loads((folder / "suite.json").read_text())
    assert [r["families"] for r in plan["runs"]] == [["logreg"], ["tree"]]  # knn never started
    first, second = calls
    calls.clear()
    resume = _suite_args("run", "--resume", str(folder), "--no-progress")
    assert suites.resume_suite(suites.suite_folder(Path(str(folder)), Path("results")), resume, console, execute(None)) == 0
    assert [c[0] for c in calls] == ["tree", "knn"]  # logreg finished: not run again
    assert calls[0][2] == second[2]  # the interrupted run goes on in its own folder
    assert calls[1][2].parent == folder and calls[1][3] == 1  # a new run, with the suite command's --max-concurrent
    assert finished == [folder]
    plan = json.loads((folder / "suite.json").read_text())
    assert [r["run_id"] for r in plan["runs"]] == [first[2].name, second[2].name, calls[1][2].name]


@pytest.mark.parametrize("plan", [
    {"suite": "small", "version": 1, "argv": ["run", "--suite", "small"], "runs": [{"run_id": ".."}]},
    {"suite": "small", "version": 1, "argv": ["run", "--suite", "small"], "runs": [{"run_id": "../elsewhere"}]},
    {"suite": "small", "version": 99, "argv": ["run", "--suite", "small"], "runs": []},
    {"suite": "small", "version": 1, "argv": ["run", "--family", "svm"], "runs": []},
    {"suite": "small", "version": 1, "argv": ["run", "--suite", "small", "--bogus"], "runs": []},
    {"suite": "small", "version": 1, "argv": "run --suite small", "runs": []},
    ["not", "a", "plan"],
])
def test_a_tampered_suite_plan_is_refused(cli, tmp_path: Path, plan: object) -> None:
    folder = tmp_path / "suite"
    folder.mkdir()
    (folder / "suite.json").write_text(json.dumps(plan))
    result = cli("run", "--resume", str(folder))
    assert result.returncode == 2, result.stderr
    assert "suite.json" in result.stderr or "v99" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # one message
    assert sorted(p.name for p in folder.iterdir()) == ["suite.json"]  # nothing started


def test_gp_says_once_that_it_draws_conditional_parameters_at_random(caplog: pytest.LogCaptureFixture) -> None:
    """Optuna's GPSampler models a fixed space only and warned on every trial; bench says it once."""
    import optuna

    from bench.samplers import create_sampler, sampler_notes
    from bench.space import load_space

    svm = load_space("svm")
    (note,) = sampler_notes("gp", svm)
    assert "gamma" in note and "at random" in note
    assert sampler_notes("tpe", svm) == [] and sampler_notes("gp", load_space("logreg")) == []
    optuna.logging.enable_propagation()
    try:
        study = optuna.create_study(direction="maximize", sampler=create_sampler("gp", 0, svm))
        with caplog.at_level("WARNING", logger="optuna"):
            study.optimize(lambda t: t.suggest_float("x", 0, 1) + (t.suggest_float("y", 0, 1) if t.number % 2 else 0), 12)
    finally:
        optuna.logging.disable_propagation()
    assert not [r for r in caplog.records if "sampled independently" in r.getMessage()]
