"""A local run's trials start on the workers Ray prestarts with the node, which imported the
trial's modules while Ray came up, rather than on new processes that import them first."""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from bench.cluster import ray_session
from bench.warm import READY_MODULE, TRIAL_MODULES, ReadyWorkers, preload_modules, worker_environment


def test_preload_modules_add_each_installed_family_library_once() -> None:
    assert preload_modules(["svm", "knn"]) == [*TRIAL_MODULES, READY_MODULE]
    assert preload_modules(["mlp", "cnn", "svm"]) == [*TRIAL_MODULES, "torch", READY_MODULE]
    assert preload_modules(["lightgbm"]) == [*TRIAL_MODULES, "lightgbm", READY_MODULE]


def test_preload_modules_leave_out_a_library_that_is_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else find_spec(name, *a))
    assert preload_modules(["mlp", "lightgbm"]) == [*TRIAL_MODULES, "lightgbm", READY_MODULE]


def test_workers_inherit_tune_variables_and_the_code_folders() -> None:
    import bench

    environment = worker_environment()
    assert environment["PL_DISABLE_FORK"] == "1"
    folders = environment["PYTHONPATH"].split(os.pathsep)
    assert str(Path(bench.__file__).resolve().parent.parent) in folders and os.getcwd() in folders


def _report_worker(config: dict[str, Any]) -> None:
    import psutil
    from ray import tune

    tune.report({"worker_created": psutil.Process().create_time(),
                 "trial_code_loaded": all(m in sys.modules for m in ("bench.trial", "sklearn.svm")),
                 "pl_disable_fork": os.environ.get("PL_DISABLE_FORK")})


@pytest.fixture
def pickled_by_value() -> Iterator[None]:
    """Ray's workers get this test module's functions and classes by value: it is not on their path."""
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.mark.slow
@pytest.mark.usefixtures("pickled_by_value")
def test_local_tune_trial_lands_on_a_prestarted_preloaded_worker(tmp_path: Path) -> None:
    from ray import tune
    from ray.tune.execution.class_cache import _ActorClassCache

    tune_get = _ActorClassCache.get
    variable_before = os.environ.get("PL_DISABLE_FORK")
    with ray_session(None, num_cpus=2, families=["svm"]):  # (with 1, Ray passed its one prestarted worker over in our tries)
        fit_started = time.time()
        tuner = tune.Tuner(tune.with_resources(_report_worker, {"cpu": 1}), tune_config=tune.TuneConfig(num_samples=1),
                           run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0))
        [result] = tuner.fit()
    assert result.error is None
    assert result.metrics["worker_created"] < fit_started  # started with the node, not for this trial
    assert result.metrics["trial_code_loaded"]  # imported before the trial asked for anything
    assert result.metrics["pl_disable_fork"] == "1"  # Tune's variable, inherited instead of declared
    assert _ActorClassCache.get is tune_get  # Tune is left as it was after the session
    assert os.environ.get("PL_DISABLE_FORK") == variable_before


def test_ready_workers_wait_for_the_count_or_give_up(tmp_path: Path) -> None:
    ready = ReadyWorkers(tmp_path)
    (tmp_path / "101").touch()
    assert ready.wait(1, timeout_s=5) == 1
    assert ready.wait(2, timeout_s=0.2) == 1  # a worker that never says so does not hold the run up


class _Worker:
    def created(self) -> float:
        import psutil

        return psutil.Process().create_time()


@pytest.mark.slow
@pytest.mark.usefixtures("pickled_by_value")
def test_prestarted_workers_outlive_the_wait_between_reserving_cpus_and_using_them() -> None:
    """Tune reserves a trial's CPU (a placement group) before it asks for a worker; with Ray's
    default, the raylet then counted the idle prestarted workers as surplus and killed them
    after a second, and the trial waited for a new process to start and import everything."""
    import ray
    from ray.util.placement_group import placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    with ray_session(None, num_cpus=2, families=["svm"]):
        reserved_at = time.time()
        group = placement_group([{"CPU": 1}, {"CPU": 1}])
        ray.get(group.ready())
        time.sleep(3)  # Ray's default kills an idle worker after 1 s, checking every 0.2 s
        strategy = PlacementGroupSchedulingStrategy(placement_group=group)
        actors = [ray.remote(num_cpus=1)(_Worker).options(scheduling_strategy=strategy).remote() for _ in range(2)]
        created = ray.get([actor.created.remote() for actor in actors])
    assert all(when < reserved_at for when in created)  # the prestarted workers, not new ones


@pytest.mark.slow
@pytest.mark.usefixtures("pickled_by_value")
def test_the_refit_lands_on_a_worker_started_with_the_node_and_uses_every_core(tmp_path: Path) -> None:
    """The trials' workers end with the search; a local session holds one more, preloaded, for
    the refits, which run on it one after the other with all the node's cores."""
    import psutil
    import ray

    from bench import warm
    from bench.runner import Run, RunOptions
    from bench.search import default_config

    run = Run(RunOptions(families=["svm"], results_dir=tmp_path))
    prepared = []
    with ray_session(None, num_cpus=2, families=["svm"], on_start=lambda: prepared.append(ray.is_initialized())) as resources:
        session_up = time.time()
        worker = warm.refit_worker()
        assert worker is not None and prepared == [True]
        run.cluster = {"resources": resources}
        default = default_config(run.spaces["svm"])
        configs, data = [{**default, "C": 10.0}, default], ray.put(run.final_data)
        tuned, again = run._refits("svm", configs, 0, 0.0, data)
        process = psutil.Process(tuned["pid"])
        started, role = process.create_time(), process.environ().get(warm.REFIT_ROLE_VAR)
        # svm fits on one core: trials' fits as long as MNIST's put the two refits side by side
        first, beside = run._refits("svm", configs, 0, 0.0, data, fit_seconds=60.0)
    assert again["pid"] == tuned["pid"] and role == "refit"  # both refits, on the refit worker
    assert started < session_up  # started with the node, not for the refit
    assert tuned["max_threads"] == again["max_threads"] == 2  # every core of the node, not --cpus-per-trial
    assert tuned["test_accuracy"] > 0.95
    assert first["pid"] == tuned["pid"] and beside["pid"] != tuned["pid"]  # the second on a worker of its own
    assert first["max_threads"] == beside["max_threads"] == 1  # each with its share of the two cores
    assert (first["predicted"] == tuned["predicted"]).all() and (beside["predicted"] == again["predicted"]).all()


@pytest.mark.slow
def test_without_a_warm_session_there_is_no_refit_worker() -> None:
    with ray_session(None, num_cpus=1):  # no families: a reproduction's session, like a cluster's
        from bench import warm

        assert warm.refit_worker() is None


@pytest.mark.parametrize("role, tune_loaded", [(None, True), ("refit", False)])
def test_workers_preload_ray_tune_except_the_refit_worker(role: str | None, tune_loaded: bool) -> None:
    import json
    import subprocess

    from bench.warm import REFIT_ROLE_VAR

    env = {k: v for k, v in os.environ.items() if k != REFIT_ROLE_VAR} | ({REFIT_ROLE_VAR: role} if role else {})
    code = "import sys, json; import bench.warm_tune; print(json.dumps('ray.tune' in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env,
                         cwd=Path(__file__).resolve().parent.parent).stdout
    assert json.loads(out) is tune_loaded
