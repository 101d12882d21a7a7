"""Small runs that feel small (issue 18, items 4 and 5): the refit on a warm worker with every core
of its node, the report without repeated work, the search's modules loaded while Ray starts, and
``bench perf``'s first-command measure with a --quick that shares its runs. No timings asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from bench.errors import BenchInputError

# ------------------------------------------------------------------------------ the refit


def _selection(params: dict[str, Any]) -> Any:
    from bench.refit import Selection

    return Selection({"trial_id": "t0", "val_accuracy": 0.9}, params, "default")


def test_the_final_row_records_the_refit_threads() -> None:
    from bench.refit import final_row

    y = np.arange(20) % 10
    out = {"test_accuracy": 1.0, "max_threads": 8, "refit_seconds": 0.1, "confusion_matrix": [[1]], "per_class": {},
           "predicted": y}
    row = final_row({"run_id": "r"}, _selection({"C": 1.0}), out, out, None, {"C": 1.0}, y)
    assert row["refit_threads"] == 8 and "max_threads" not in row  # trials keep max_threads: their own column


def test_refit_threads_is_a_numeric_column_of_the_tables() -> None:
    from bench.safe_io import check_table

    check_table(pd.DataFrame({"run_id": ["r"], "dataset": ["digits"], "refit_threads": [4]}), "final.parquet", "final")
    with pytest.raises(BenchInputError, match="refit_threads"):
        check_table(pd.DataFrame({"run_id": ["r"], "dataset": ["digits"], "refit_threads": ["four"]}), "final.parquet", "final")


def _nodes(*nodes: tuple[float, float, bool]) -> list[dict[str, Any]]:
    return [{"Alive": alive, "Resources": {"CPU": cpu, **({"GPU": gpu} if gpu else {})}} for cpu, gpu, alive in nodes]


def test_a_refit_uses_every_core_of_the_largest_node_that_can_hold_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    from bench.runner import Run

    run = SimpleNamespace(options=SimpleNamespace(cpus_per_trial=1))
    monkeypatch.setattr(ray, "nodes", lambda: _nodes((2, 0, True)))
    assert Run.refit_cpus(run, 0.0) == 2  # a local instance: all of its cores
    monkeypatch.setattr(ray, "nodes", lambda: _nodes((16, 0, True), (8, 1, True), (32, 0, False)))
    assert Run.refit_cpus(run, 0.0) == 16  # the largest live node
    assert Run.refit_cpus(run, 0.5) == 8  # a GPU refit: the largest node with a GPU
    run.options.cpus_per_trial = 24
    assert Run.refit_cpus(run, 0.0) == 24  # never fewer than a trial had


def test_only_long_single_core_refits_run_side_by_side() -> None:
    from bench.families import create_family, list_families
    from bench.runner import SIDE_BY_SIDE_REFIT_SECONDS, side_by_side

    single_core = {name for name in list_families() if not create_family(name).parallel_fit}
    assert single_core == {"svm", "tree"}  # libsvm and the tree builder; the others use threads
    long = SIDE_BY_SIDE_REFIT_SECONDS
    assert side_by_side(create_family("svm"), 2, long) and side_by_side(create_family("tree"), 2, 3 * long)
    assert not side_by_side(create_family("svm"), 2, long / 10)  # a new worker's imports would cost more
    assert not side_by_side(create_family("svm"), 1, 3 * long)  # the default won: one refit
    assert not side_by_side(create_family("forest"), 2, 3 * long)  # threads use the cores already


# ------------------------------------------------------------------------------ the report


def test_report_figures_get_their_template_without_checking_it_once_per_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    import plotly.graph_objects as go
    import plotly.io as pio

    from bench.report.figures.common import TEMPLATE, report_template, styled

    before = pio.templates.default
    outside = styled(go.Figure(), "t")
    assert outside.layout.template == pio.templates[TEMPLATE]  # a figure helper called on its own is still styled
    built = 0
    template_init = go.layout.Template.__init__

    def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal built
        built += 1
        template_init(self, *args, **kwargs)

    monkeypatch.setattr(go.layout.Template, "__init__", counting)
    with report_template():
        inside = go.Figure()  # Plotly gives a new figure its default template, cheaply
        built = 0
        styled(inside, "t")
        assert built == 0  # and styling it builds (and checks) no template again
    assert inside.layout.template == pio.templates[TEMPLATE] and inside.layout.title.text == "t"
    assert pio.templates.default == before


def test_the_report_reuses_the_callers_leaderboard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_hardening import make_run

    import bench
    from bench.leaderboard import leaderboard
    from bench.report import build, render

    results = bench.load(make_run(tmp_path, finished=True))
    board = leaderboard(results.final, results.predictions)

    def again(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the leaderboard was computed again")

    monkeypatch.setattr(build, "leaderboard", again)
    assert "Leaderboard" in render(results, "a run", board=board)


@pytest.mark.skipif(not __import__("yaml").__with_libyaml__, reason="PyYAML without libyaml")
def test_baselines_are_read_with_libyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    from bench import baselines

    def pure_python(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the pure-Python YAML loader was used")

    monkeypatch.setattr(yaml, "safe_load", pure_python)
    baselines._load_cached.cache_clear()
    try:
        assert baselines.load_source("sklearn-digits")["name"] == "sklearn-digits"
    finally:
        baselines._load_cached.cache_clear()


# ------------------------------------------------------------------------------ imports


def test_importing_the_runner_leaves_ray_tune_for_later() -> None:
    """Ray Tune (and Ray) load while Ray starts (``Run.prepare``), not before the checks."""
    code = "import sys, bench.runner; print(sorted(m for m in ('ray', 'ray.tune', 'bench.search', 'bench.trial') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert json.loads(out.replace("'", '"')) == []
    from bench.runner import SCHEDULERS, StopOnInterrupt, make_scheduler, prepare_data, same_config  # still re-exported
    from bench.scheduling import SCHEDULERS as REGISTERED

    assert SCHEDULERS == REGISTERED and callable(make_scheduler) and callable(prepare_data) and callable(same_config)
    assert StopOnInterrupt.__module__ == "bench.scheduling"


def test_an_unknown_scheduler_is_refused_before_ray(tmp_path: Path) -> None:
    from bench.runner import Run, RunOptions

    with pytest.raises(BenchInputError, match="unknown scheduler 'fifo'; valid schedulers: auto, asha, none"):
        Run(RunOptions(families=["svm"], scheduler="fifo", results_dir=tmp_path))


# ------------------------------------------------------------------------------ bench perf


def _fake_run(workload: Any, extra: list[str], data_dir: Any, root: Any, sample_memory: bool = False) -> dict[str, Any]:
    trials = pd.DataFrame({"family": "svm", "trial_number": range(4), "status": "completed", "fidelity": 1,
                           "val_accuracy": [0.9, 0.95, 0.93, 0.94], "wall_seconds": 1.0, "params_C": [1.0, 2.0, 3.0, 4.0]})
    tables = SimpleNamespace(trials=trials, history=trials.assign(step=1))
    return {"run_dir": Path("as-typed" if workload.as_typed else "other"), "tables": tables, "wall_seconds": 10.0, "peak_pss_bytes": 1e8 if sample_memory else None,
            "search_seconds": 4.0, "trial_span_seconds": 3.5, "extra": extra, "workload": workload}


def test_quick_perf_shares_runs_between_measures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import perf, perf_serving

    started: list[tuple[Any, list[str]]] = []

    def fake_run(workload: Any, extra: list[str], *args: Any, **kwargs: Any) -> dict[str, Any]:
        started.append((workload, extra))
        return _fake_run(workload, extra, *args, **kwargs)

    monkeypatch.setattr(perf, "bench_run", fake_run)
    monkeypatch.setattr(perf, "plain_loops", lambda workload, trials, data_dir, root, n=1: [3.0] * n)
    plain = json.dumps({"loop_seconds": 2.0, "refit_seconds": 0.1, "test_accuracy": 0.98})
    monkeypatch.setattr(perf, "_python_processes", lambda *args, **kwargs: [(plain, 5.0)])
    served: list[Any] = []  # what bench serve would be given: the first command's run
    monkeypatch.setattr(perf_serving, "measure_serving", lambda *args: served.append(args) or {"families": {}})
    report = perf.run_perf(tmp_path / "perf.json", None, quick=True, repeats=1)
    # one-at-a-time, two-at-a-time (also the memory runs and ASHA's "none"), ASHA, the default
    # and the reproducible TPE searches, and the first command: 6 runs where each measure's own would be 10
    assert report["bench_runs"] == len(started) == 6
    assert [extra for workload, extra in started if workload.as_typed] == [[]]  # the first command, as typed
    assert report["results"]["memory"]["peak_pss_bytes_1"] == 1e8  # shared runs sample memory
    first = report["results"]["first_command"]
    assert first["ratio"] == 10.0 / 5.0 and first["plain_wall_seconds"] == 5.0 and first["trials"] == 4
    assert report["targets"]["first_command_ratio"] == {"value": 2.0, "target": "<= 2.5", "met": True}
    assert [args[1:] for args in served] == [(None, True, Path("as-typed"))]  # --quick serves the first command's run


def test_full_perf_runs_each_measure_on_its_own(tmp_path: Path) -> None:
    from bench import perf

    runs = perf.BenchRuns(None, tmp_path, share=False)
    calls = []
    perf_run = perf.bench_run
    try:
        perf.bench_run = lambda *args, **kwargs: calls.append(kwargs) or _fake_run(*args, **kwargs)  # type: ignore[assignment]
        small = perf.Workload("svm", "digits", 4)
        runs.run(small, perf.ONE_AT_A_TIME)
        runs.run(small, perf.ONE_AT_A_TIME)
    finally:
        perf.bench_run = perf_run
    assert runs.started == 2 and calls == [{"sample_memory": False}] * 2  # timed runs are never sampled


def test_the_first_command_is_the_one_a_user_types() -> None:
    from bench.perf import FIRST_COMMAND_TRIALS, Workload, workloads

    assert workloads(quick=False)["first_command"].args(None) == ["--family", "svm"]
    assert Workload("svm", "digits", 4, as_typed=True).args(None) == ["--family", "svm", "--trials", "4"]
    assert FIRST_COMMAND_TRIALS == 20 == __import__("bench.search", fromlist=["DEFAULT_TRIALS"]).DEFAULT_TRIALS


def test_the_plain_optuna_loop_scores_the_given_configurations() -> None:
    from bench.perf import Workload, plain_optuna

    trials = pd.DataFrame({"trial_number": [1, 0], "params_kernel": ["linear", "rbf"], "params_C": [0.5, 1.0],
                           "params_gamma_factor": [np.nan, 1.0], "params_deskew": [False, False],
                           "params_scaler": ["none", "none"], "params_pca_variance": [0.0, 0.0]})
    out = plain_optuna(Workload("svm", "digits", 2), trials, None)
    assert out["loop_seconds"] > 0 and out["test_accuracy"] > 0.9
