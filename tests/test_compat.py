"""bench.compat: each Ray/Optuna internal, missing, gives the policy's answer; versions are checked.

None of these starts Ray: a guard refuses before ``ray.init``, and fallbacks are unit-level.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from pathlib import Path

import pytest

from bench import cluster, compat
from bench.errors import BenchInputError
from conftest import REPO


def test_local_run_refused_when_the_loopback_internal_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray
    from ray._private import ray_constants

    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # a local run
    monkeypatch.delattr(ray_constants, "ENABLE_RAY_CLUSTER")
    with pytest.raises(BenchInputError, match=r"lacks ray\._private\.ray_constants\.ENABLE_RAY_CLUSTER.*"
                                              r"refuses to start a local Ray instance"):
        with cluster.ray_session(None, num_cpus=1):
            pytest.fail("a local session started without its loopback guard")
    assert not ray.is_initialized()


def test_local_run_refused_when_the_token_check_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray._private.authentication.authentication_utils", None)  # import fails
    with pytest.raises(BenchInputError, match="is_token_auth_enabled"):
        with cluster.single_machine_mode():
            pass
    assert compat.token_auth_enabled() is False


def test_loopback_mode_is_set_and_restored() -> None:
    from ray._private import ray_constants

    before, env_before = ray_constants.ENABLE_RAY_CLUSTER, os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")
    with cluster.single_machine_mode():
        assert ray_constants.ENABLE_RAY_CLUSTER is False
        assert os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0"
    assert ray_constants.ENABLE_RAY_CLUSTER == before
    assert os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") == env_before


def test_warm_workers_fall_back_with_a_warning_when_tunes_actor_cache_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    from ray.tune.execution import class_cache

    from bench import warm

    monkeypatch.delattr(class_cache, "_ActorClassCache")
    with pytest.warns(compat.CompatWarning, match="actor-class cache"):
        with compat.tune_actors_without_runtime_env() as patched:
            assert patched is False
    with pytest.warns(compat.CompatWarning, match="fresh workers"):
        with warm.warm_local_workers() as ready:  # the rest of the warm set-up still happens
            assert os.environ[warm.READY_DIR_VAR] == str(ready.folder)
    assert warm.READY_DIR_VAR not in os.environ


def test_warm_workers_replace_tunes_actor_cache_while_open() -> None:
    from ray.tune.execution.class_cache import _ActorClassCache

    tune_get = _ActorClassCache.get
    with warnings.catch_warnings():
        warnings.simplefilter("error", compat.CompatWarning)
        with compat.tune_actors_without_runtime_env() as patched:
            assert patched is True
            assert _ActorClassCache.get is not tune_get
    assert _ActorClassCache.get is tune_get
    assert "PL_DISABLE_FORK" in compat.tune_trial_env_vars()


def test_ray_init_retried_without_the_warm_worker_settings() -> None:
    calls: list[dict] = []

    def init(**kwargs: object) -> str:
        calls.append(kwargs)
        if "_system_config" in kwargs:
            raise RuntimeError("Unknown system config key: preload_python_modules")
        return "started"

    kwargs = compat.local_init_kwargs(2, {"preload_python_modules": ["bench.trial"]})
    assert kwargs["_node_ip_address"] == "127.0.0.1"
    with pytest.warns(compat.CompatWarning, match="without them"):
        assert compat.init_local(init, kwargs) == "started"
    assert [("_system_config" in c) for c in calls] == [True, False]
    assert calls[1]["_node_ip_address"] == "127.0.0.1"  # the loopback address is never dropped

    def failing(**kwargs: object) -> None:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):  # without system settings there is nothing to drop
        compat.init_local(failing, compat.local_init_kwargs(2, None))


@pytest.mark.parametrize("ray_version, optuna_version, warned", [
    ("2.60.0", "5.1.0", []), ("2.60.1", "5.1.3", []),
    ("3.0.0", "5.1.0", ["ray"]), ("2.59.0", "5.1.0", ["ray"]), ("2.60.0", "6.0.0", ["optuna"]),
    ("2.61.0rc1", "4.9.0", ["ray", "optuna"]),
])
def test_untested_ray_or_optuna_warns_naming_the_tested_range(monkeypatch: pytest.MonkeyPatch, ray_version: str,
                                                             optuna_version: str, warned: list[str]) -> None:
    monkeypatch.setattr(compat, "_version", {"ray": ray_version, "optuna": optuna_version}.get)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compat.warn_untested_versions()
    messages = [str(w.message) for w in caught if issubclass(w.category, compat.CompatWarning)]
    assert [m.split()[0] for m in messages] == warned
    for name, message in zip(warned, messages):
        low, high = compat.TESTED[name]
        assert f"{name}>={low},<{high}" in message and "constraints.txt" in message


def test_session_start_warns_for_an_untested_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    from ray._private import ray_constants

    monkeypatch.setattr(compat, "_version", {"ray": "3.1.0", "optuna": "5.1.0"}.get)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delattr(ray_constants, "ENABLE_RAY_CLUSTER")  # stops the session before Ray starts
    with pytest.warns(compat.CompatWarning, match=r"ray 3\.1\.0 is outside"), pytest.raises(BenchInputError):
        with cluster.ray_session(None, num_cpus=1):
            pass


def test_the_installed_and_pinned_versions_are_the_tested_ones() -> None:
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", (REPO / "constraints.txt").read_text(), re.M))
    for name, (low, high) in compat.TESTED.items():
        assert compat._release(low) <= compat._release(pins[name]) < compat._release(high), name
    assert compat.untested_versions() == []  # this environment is a tested one


def test_distribution_contains_without_optunas_private_check(monkeypatch: pytest.MonkeyPatch) -> None:
    from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

    cases = [(IntDistribution(1, 9, step=2), [1, 3, 9], [2, 0, 11]),
             (FloatDistribution(0.1, 10.0, log=True), [0.1, 1.0, 10.0], [0.0, 10.5]),
             (FloatDistribution(0.0, 1.0, step=0.25), [0.0, 0.75], [0.3, 1.25]),
             (CategoricalDistribution(["rbf", "linear"]), ["rbf", "linear"], ["poly"])]
    for with_private in (True, False):
        if not with_private:
            for cls in (BaseDistribution, IntDistribution, FloatDistribution, CategoricalDistribution):
                if "_contains" in vars(cls):
                    monkeypatch.delattr(cls, "_contains")
            assert not hasattr(IntDistribution(1, 2), "_contains")
        for distribution, inside, outside in cases:
            assert all(compat.distribution_contains(distribution, v) for v in inside), (distribution, with_private)
            assert not any(compat.distribution_contains(distribution, v) for v in outside), (distribution, with_private)


def test_checkpoints_kept_with_a_warning_when_trial_storage_is_gone() -> None:
    from bench.recorder import drop_checkpoints

    with pytest.warns(compat.CompatWarning, match="checkpoints"):
        drop_checkpoints(object())  # a trial without Tune's storage fields


def test_journal_appends_with_optunas_own_append_when_its_lock_is_gone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import optuna

    from bench.journal import optuna_backend

    monkeypatch.setitem(sys.modules, "optuna.storages.journal._file", None)
    storage = optuna.storages.JournalStorage(optuna_backend(tmp_path / "optuna.log"))
    with pytest.warns(compat.CompatWarning, match="journal internals"):
        study = optuna.create_study(study_name="s", storage=storage)
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert len(optuna.load_study(study_name="s", storage=optuna.storages.JournalStorage(
        optuna_backend(tmp_path / "optuna.log"))).trials) == 2


def test_running_trials_of_a_resumed_study_are_failed_through_the_public_api(tmp_path: Path) -> None:
    import optuna

    from bench.journal import optuna_backend
    from bench.search import fail_running_trials

    storage = optuna.storages.JournalStorage(optuna_backend(tmp_path / "optuna.log"))
    study = optuna.create_study(study_name="s", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    study.ask()  # left RUNNING, as by a driver that died
    fail_running_trials(storage, "s")
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert states == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL]


def test_a_slow_sampler_is_timed_not_warned_about_on_every_trial() -> None:
    """Ray warns when the space function took over a second; a GP sampler's proposals do, so the
    time goes to sampler_seconds (the searcher's clock) instead of a warning per trial."""
    import time

    import optuna

    from bench.compat import TruthfulOptunaSearch
    from bench.space import parse_space

    class Slow(optuna.samplers.RandomSampler):
        def sample_independent(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            time.sleep(1.05)
            return super().sample_independent(*args, **kwargs)

    space = parse_space("params:\n  C: {type: float, low: 0.1, high: 10.0}\ndefault: {C: 1.0}\n", "svm")
    searcher = TruthfulOptunaSearch(space=space, metric="val_accuracy", mode="max", sampler=Slow(seed=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert searcher.suggest("slow")["C"] > 0
    assert searcher.clock.take() >= 1.0


def test_serve_replicas_bind_their_grpc_server_to_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ray.serve", reason="ray[serve] is not installed")
    from ray.serve._private import replica

    bound: list[str] = []
    monkeypatch.setattr(replica, "add_port_to_grpc_server", lambda server, address: bound.append(address) or 1)
    compat.serve_grpc_on_loopback("127.0.0.1")
    compat.serve_grpc_on_loopback("127.0.0.1")  # a second call does not wrap twice
    replica.add_port_to_grpc_server(None, "[::]:0")
    replica.add_port_to_grpc_server(None, "10.1.2.3:5000")  # an address the node was given stays
    assert bound == ["127.0.0.1:0", "10.1.2.3:5000"]
