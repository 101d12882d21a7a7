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
