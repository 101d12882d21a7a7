"""Every use of a private API of Ray (Tune) or Optuna that bench makes, in one place.

Each entry names the release it was written against (Ray 2.60, Optuna 5.1: the versions in
``constraints.txt``, which CI installs) and what happens when that internal is gone. The policy
follows the stake:

- what guards security (a local instance on loopback only, with token authentication) refuses
  to start a local run, with one :class:`~bench.errors.BenchInputError` (exit status 2);
- what makes the search more truthful or reproducible falls back to the library's own
  behaviour and says so;
- what only saves time or disk (warm workers, dropped checkpoints) falls back with a one-line
  warning, and the run completes.

Ray and Optuna are imported only where an entry needs them, so importing this module is cheap
(the CLI's argument checks use :func:`ray_num_cpus`).
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import TYPE_CHECKING, Any, cast

from bench.errors import BenchInputError

if TYPE_CHECKING:
    import optuna
    from optuna.trial import TrialState

#: The releases CI tests (``constraints.txt`` pins one version inside each range): from the first
#: version, inclusive, to the second, exclusive. A run with another gets one warning at start.
TESTED = {"ray": ("2.60", "2.61"), "optuna": ("5.1", "5.2")}


class CompatWarning(RuntimeWarning):
    """A library outside the tested range, or an internal gone and its fallback used."""


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _release(version: str) -> tuple[int, ...]:
    """The numeric release of a version ("2.60.0rc1" -> (2, 60, 0)); () when it has none."""
    import re

    match = re.match(r"\s*v?(\d+(?:\.\d+)*)", version)
    return tuple(int(part) for part in match.group(1).split(".")) if match else ()


def untested_versions() -> list[str]:
    """One message per installed Ray or Optuna outside :data:`TESTED`."""
    messages = []
    for package, (low, high) in TESTED.items():
        installed = _version(package)
        if installed is None:
            continue
        release = _release(installed)
        if not (release and _release(low) <= release < _release(high)):
            messages.append(
                f"{package} {installed} is outside the range bench is tested with "
                f"({package}>={low},<{high}); if a run misbehaves, install the tested "
                f"versions: pip install . -c constraints.txt"
            )
    return messages


def warn_untested_versions() -> None:
    """At the start of a run: one warning per Ray or Optuna outside the tested range."""
    for message in untested_versions():
        warnings.warn(message, CompatWarning, stacklevel=2)


def _missing(what: str, why: str) -> str:
    ray = _version("ray") or "unknown"
    low, high = TESTED["ray"]
    return (
        f"this Ray ({ray}) lacks {what}, which bench uses {why}; bench refuses to start a local "
        f"Ray instance (no trial ran). Install a tested Ray (>={low},<{high}: "
        f"pip install . -c constraints.txt) or run on a cluster you started with --address"
    )


@contextmanager
def loopback_only() -> Iterator[None]:
    """Ray's single-machine mode while a local instance starts and runs: every server on loopback.

    Private: ``ray._private.ray_constants.ENABLE_RAY_CLUSTER`` (Ray 2.60), read by the driver
    (set at import, so patched here); the processes Ray starts read
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` from the environment. Gone: a local run is refused
    (:class:`BenchInputError`), since Ray would then bind its servers to every interface. The
    token-authentication check (:func:`token_auth_enabled`) must be there too, or it is refused.
    """
    try:
        from ray._private import ray_constants

        saved_flag = ray_constants.ENABLE_RAY_CLUSTER
    except (ImportError, AttributeError):
        raise BenchInputError(
            _missing("ray._private.ray_constants.ENABLE_RAY_CLUSTER", "to keep a local Ray instance on 127.0.0.1 only")
        ) from None
    if _token_auth_check() is None:
        raise BenchInputError(
            _missing(
                "ray._private.authentication.authentication_utils.is_token_auth_enabled",
                "to check that a local Ray instance requires its token",
            )
        )
    from bench.cluster import CLUSTER_MODE_VAR as var

    saved_env = os.environ.get(var)
    os.environ[var], ray_constants.ENABLE_RAY_CLUSTER = "0", False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        if saved_env is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = saved_env


def refresh_ray_config() -> None:
    """Have this driver re-read Ray's settings from the environment (``RAY_AUTH_MODE``).

    Private: ``ray._raylet.Config.initialize`` (Ray 2.60). Gone: nothing is refreshed, and a
    local instance that then starts without token authentication is refused after ``ray.init``
    (``bench.cluster.check_local_instance``)."""
    try:
        from ray._raylet import Config  # type: ignore[attr-defined]  # _raylet.pyi omits Config, which the module has

        Config.initialize("")
    except (ImportError, AttributeError):
        pass


def _token_auth_check() -> Callable[[], bool] | None:
    try:
        from ray._private.authentication.authentication_utils import is_token_auth_enabled
    except ImportError:
        return None
    return is_token_auth_enabled


def token_auth_enabled() -> bool:
    """Whether this driver's Ray runs with token authentication.

    Private: ``ray._private.authentication.authentication_utils.is_token_auth_enabled`` (Ray
    2.60). Gone: False, so a local run is refused (:func:`loopback_only` refuses it first)."""
    check = _token_auth_check()
    return bool(check()) if check is not None else False


def ray_num_cpus() -> int | None:
    """The CPUs a new local Ray instance will have, by Ray's own count (cgroup quotas, affinity).

    Private: ``ray._private.utils.get_num_cpus`` (Ray 2.60). Gone: None; the caller counts the
    CPUs this process may use."""
    try:
        from ray._private.utils import get_num_cpus

        return max(1, int(get_num_cpus()))
    except (ImportError, AttributeError, ValueError, TypeError):
        return None


def local_init_kwargs(num_cpus: int | None, system_config: dict[str, Any] | None) -> dict[str, Any]:
    """``ray.init`` keywords of a new local instance on loopback.

    Private (Ray 2.60's hidden ``ray.init`` options): ``_node_ip_address`` (the node's address,
    127.0.0.1) and ``_system_config`` (Ray system settings; only warm workers use them). Gone:
    ``ray.init`` refuses the unknown keyword; :func:`init_local` then retries without the
    system settings (with a warning), and without ``_node_ip_address`` the run is refused, as
    ``bench.cluster.check_local_instance`` refuses a node on any address but 127.0.0.1."""
    kwargs: dict[str, Any] = dict(address="local", num_cpus=num_cpus, _node_ip_address="127.0.0.1")
    if system_config:
        kwargs["_system_config"] = system_config
    return kwargs


def init_local(init: Callable[..., Any], kwargs: dict[str, Any], shutdown: Callable[[], Any] | None = None) -> Any:
    """``init(**kwargs)`` (``ray.init``); if that fails with Ray system settings, which only speed
    the run up and which a later Ray may no longer know, once more without them, with a warning."""
    try:
        return init(**kwargs)
    except Exception as exc:  # re-raised below unless the system settings can go
        if "_system_config" not in kwargs:
            raise
        warnings.warn(
            f"Ray did not start with bench's warm-worker settings ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
            f"starting without them (trials import their code on fresh workers)",
            CompatWarning,
            stacklevel=2,
        )
        if shutdown is not None:
            shutdown()
        return init(**{k: v for k, v in kwargs.items() if k != "_system_config"})


def _tune_actor_cache() -> tuple[Any, dict[str, str]]:
    try:
        from ray.tune.execution import class_cache

        cache_class, env = class_cache._ActorClassCache, dict(class_cache.DEFAULT_ENV_VARS)
    except (ImportError, AttributeError, TypeError):
        return None, {}
    return cache_class, env


def tune_trial_env_vars() -> dict[str, str]:
    """The environment variables Tune declares for every trial actor (``PL_DISABLE_FORK``...).

    Private: ``ray.tune.execution.class_cache.DEFAULT_ENV_VARS`` (Ray 2.60). Gone: {}."""
    return _tune_actor_cache()[1]


@contextmanager
def tune_actors_without_runtime_env() -> Iterator[bool]:
    """While open, Tune declares trial actors without a runtime environment, so they land on a
    local instance's prestarted (warm) workers; yields whether that could be arranged.

    Private: ``ray.tune.execution.class_cache._ActorClassCache`` (its ``get`` and ``_cache``;
    Ray 2.60), replaced for the whole process while open. Gone: Tune's own behaviour (each
    search starts fresh workers, which import everything again), with a one-line warning."""
    import ray

    cache_class, _ = _tune_actor_cache()
    if cache_class is None or not hasattr(cache_class, "get"):
        warnings.warn(
            "this Ray release lacks Tune's actor-class cache that bench's warm workers use; "
            "trials start on fresh workers (slower, same results)",
            CompatWarning,
            stacklevel=3,
        )
        yield False
        return
    tune_get = cache_class.get

    def get(self: Any, trainable_cls: type) -> Any:
        if trainable_cls not in self._cache:
            self._cache[trainable_cls] = ray.remote(trainable_cls)
        return self._cache[trainable_cls]

    cache_class.get = get
    try:
        yield True
    finally:
        cache_class.get = tune_get


def trial_storage(trial: Any) -> tuple[Any, str] | None:
    """A Tune trial's (pyarrow file system, folder), where its checkpoints are.

    Private: ``Trial.storage`` (``ray.train._internal.storage.StorageContext``), its
    ``storage_filesystem`` and ``trial_fs_path`` (Ray 2.60). Gone: None, with a one-line
    warning: finished trials keep their checkpoints (disk, never results)."""
    try:
        storage = trial.storage
        return storage.storage_filesystem, str(storage.trial_fs_path)
    except AttributeError:
        warnings.warn(
            "this Ray release's trials lack the storage fields bench uses to delete finished trials' checkpoints; they are kept",
            CompatWarning,
            stacklevel=2,
        )
        return None


def distribution_contains(distribution: Any, value: Any) -> bool:
    """Whether an Optuna distribution can take ``value`` (a native value: int, float or a choice).

    Private: ``BaseDistribution._contains`` (Optuna 5.1). Gone: the same test on the public
    fields (``low``, ``high``, ``step``, ``choices``). A value it cannot take at all: False."""
    contains = getattr(distribution, "_contains", None)
    if contains is not None:
        try:
            return bool(contains(distribution.to_internal_repr(value)))
        except (ValueError, TypeError):  # a value of the wrong type, or <= 0 on a log scale
            return False
    choices = getattr(distribution, "choices", None)
    if choices is not None:
        return any(c == value and type(c) is type(value) for c in choices) or value in choices
    low, high, step = distribution.low, distribution.high, getattr(distribution, "step", None)
    if not low <= value <= high:
        return False
    if step is None:
        return True
    k = (value - low) / step
    return math.isclose(k, round(k), abs_tol=1e-8)


def journal_file_lock(backend: Any) -> AbstractContextManager[Any] | None:
    """An Optuna ``JournalFileBackend``'s file lock, held around bench's own append.

    Private: ``optuna.storages.journal._file.get_lock_file`` and the backend's ``_lock``
    (Optuna 5.1). Gone: None, and the caller uses Optuna's own append after the same checks,
    with a one-line warning (the tail is then not re-checked under the lock)."""
    try:
        from optuna.storages.journal._file import get_lock_file

        return get_lock_file(backend._lock)
    except (ImportError, AttributeError):
        warnings.warn(
            "this Optuna release lacks the journal internals bench uses to append under the "
            "file's lock; Optuna's own append is used",
            CompatWarning,
            stacklevel=2,
        )
        return None


def optuna_state(result: dict[str, Any] | None, error: bool = False) -> TrialState:
    """What a trial's last report says it was: failed, stopped part-way (pruned), or complete."""
    from optuna.trial import TrialState

    if error or not result or result.get("error"):
        return TrialState.FAIL
    accuracy = result.get("val_accuracy")
    if accuracy is None or not math.isfinite(float(accuracy)):
        return TrialState.FAIL
    if float(result.get("progress", 1.0)) < 1.0:
        return TrialState.PRUNED
    return TrialState.COMPLETE


@functools.cache
def _truthful_class() -> type:
    from optuna.trial import TrialState
    from ray.tune.search.optuna import OptunaSearch

    from bench.samplers import SearcherClock

    class TruthfulOptunaSearch(OptunaSearch):
        """Ray's OptunaSearch, except that a trial stopped before its plan ended (by ASHA or the time
        budget) is told to Optuna as PRUNED, not COMPLETE with a half-trained score: Optuna's TPE
        then ranks it by its last intermediate value and step, as it does for its own pruners.

        Private: ``OptunaSearch._ot_trials``, ``_ot_study``, ``_completed_trials`` (Ray 2.60). Without
        them, Ray's own telling is used (a pruned trial's partial score counts as final).
        """

        def __init__(self, *args: Any, clock: SearcherClock | None = None, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.clock = clock or SearcherClock()

        def suggest(self, trial_id: str) -> dict[str, Any] | None:
            with self.clock.timing(), warnings.catch_warnings():
                # Ray warns when proposing took over a second; a GP sampler's does: its time is
                # recorded in sampler_seconds instead of printed on every trial
                warnings.filterwarnings("ignore", message="Define-by-run function passed in the `space` argument took")
                return super().suggest(trial_id)

        def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
            with self.clock.timing():
                self._tell(trial_id, result, error)

        def _tell(self, trial_id: str, result: dict[str, Any] | None, error: bool) -> None:
            state = optuna_state(result, error)
            internals = all(hasattr(self, name) for name in ("_ot_trials", "_ot_study", "_completed_trials"))
            if state == TrialState.COMPLETE or not internals:
                if not internals:
                    warnings.warn(
                        "this Ray release's OptunaSearch lacks the internals bench uses to tell "
                        "Optuna about pruned trials; they count as completed",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                super().on_trial_complete(trial_id, result, error)
                return
            if trial_id in self._completed_trials:
                return
            # Ray initialises _ot_study to None and types it so; by a trial's end it is the study.
            study = cast("optuna.study.Study", self._ot_study)
            trial = self._ot_trials[trial_id]
            if state == TrialState.PRUNED and result and "training_iteration" in result:
                # Tune passes on the report that got a trial stopped only when the stop waited
                # (the reproducible mode's held trials); either way it is the score Optuna keeps
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message="The reported value is ignored")
                    trial.report(float(result[self.metric]), int(result["training_iteration"]))
            study.tell(trial, state=state)
            self._completed_trials.add(trial_id)

    TruthfulOptunaSearch.__module__, TruthfulOptunaSearch.__qualname__ = __name__, "TruthfulOptunaSearch"
    return TruthfulOptunaSearch


if TYPE_CHECKING:
    from ray.tune.search.optuna import OptunaSearch

    class TruthfulOptunaSearch(OptunaSearch):
        """What type checkers see of the class :func:`_truthful_class` builds on first use (its
        import of Ray's OptunaSearch is deferred)."""

        clock: Any

        def __init__(self, *args: Any, clock: Any = None, **kwargs: Any) -> None: ...


def __getattr__(name: str) -> Any:  # built on first use; pickle finds the class here too
    if name == "TruthfulOptunaSearch":
        return _truthful_class()
    raise AttributeError(name)


def creation_index(trial: Any) -> int | None:
    """The order in which Tune created a trial (1, 2, ...), from its experiment tag, which Ray's
    SearchGenerator starts with its counter (Ray 2.60). None when the tag has another shape:
    callers then number trials in the order they start."""
    head = str(getattr(trial, "experiment_tag", "")).split("_", 1)[0]
    return int(head) if head.isdigit() else None


def count_stopped(scheduler: Any, change: int) -> None:
    """Adjust the count of stopped trials that Ray's ASHA reports in its status line.

    Private: ``AsyncHyperBandScheduler._num_stopped`` (Ray 2.60). Gone: nothing (the count only
    feeds Ray's status text; bench's own rows say which trials were pruned)."""
    if isinstance(getattr(scheduler, "_num_stopped", None), int):
        scheduler._num_stopped += change


#: What :meth:`OrderedDecisions.decide` answers while a decision must wait for earlier trials.
HOLD = "HOLD"


class OrderedDecisions:
    """ASHA decisions as a one-at-a-time run makes them, whichever concurrent trial reports first.

    Trial ``n`` entering a rung is judged against the scores trials ``0 .. n - lag`` entered at that
    rung, and only those (with a lag of one, what Ray's ASHA sees when the trials run one after the
    other). While one of them still runs, has not reached the rung and is planned to (its full fit
    reports that far: ``planned``), the decision waits (:data:`HOLD`: the scheduler answers Tune's NOOP,
    and the trial's worker waits at its report); it is taken once that trial enters the rung or
    ends. The earliest running trial never waits, so some trial always goes on.

    Private: ``AsyncHyperBandScheduler._trial_info`` (trial id -> ``_Bracket``), ``_Bracket._rungs``,
    ``_Bracket.cutoff``, ``_Bracket.on_result``, ``_time_attr``, ``_metric``, ``_metric_op``,
    ``_max_t`` and ``_stop_last_trials``, and ``TuneController._schedule_trial_train`` to let a held
    trial go on (Ray 2.60). Without them :meth:`available` is False and the run says that its
    pruning is not reproducible.
    """

    NAMES = ("_trial_info", "_time_attr", "_metric", "_metric_op", "_max_t", "_stop_last_trials")

    def __init__(self, scheduler: Any, lag: int = 1, planned: Callable[[dict[str, Any]], float] | None = None) -> None:
        self.scheduler = scheduler
        self.lag = lag
        self.planned = planned
        #: The last time each trial's plan reaches: it never enters a rung beyond.
        self.last_t: dict[str, float] = {}
        #: Every trial's rung entries, fed as they come: a trial's entries depend on its own reports only.
        self.bracket: Any = None
        #: Trial ids in the order Tune added them (the order they were proposed).
        self.position: dict[str, int] = {}
        self.ended_ids: set[str] = set()
        #: Held trials: the trial, the report it waits at, the rung it entered and its score there.
        self.held: dict[str, tuple[Any, dict[str, Any], float, float]] = {}

    @classmethod
    def available(cls, scheduler: Any) -> bool:
        from ray.tune.execution.tune_controller import TuneController
        from ray.tune.schedulers.async_hyperband import _Bracket

        return (
            all(hasattr(scheduler, name) for name in cls.NAMES)
            and all(hasattr(_Bracket, name) for name in ("cutoff", "on_result"))
            and hasattr(TuneController, "_schedule_trial_train")
        )

    def added(self, trial: Any) -> None:
        self.position[trial.trial_id] = len(self.position)
        self.bracket = self.scheduler._trial_info[trial.trial_id]  # one bracket: bench's ASHA has brackets=1
        self.last_t[trial.trial_id] = self.scheduler._max_t
        if self.planned is not None:
            with suppress(Exception):  # a configuration the trial itself will refuse
                self.last_t[trial.trial_id] = min(self.planned(dict(trial.config)), self.scheduler._max_t)

    def decide(self, trial: Any, result: dict[str, Any]) -> str | None:
        """Ray's decision for this report, :data:`HOLD` while it must wait, None if the report has no score."""
        from ray.tune.schedulers import TrialScheduler

        s = self.scheduler
        if s._time_attr not in result or s._metric not in result:
            return None
        t, score = result[s._time_attr], s._metric_op * result[s._metric]
        if t >= s._max_t and s._stop_last_trials:
            return str(TrialScheduler.STOP)
        milestone = self.enter(trial.trial_id, t, score)
        if milestone is None:
            return str(TrialScheduler.CONTINUE)
        action = self.judge(trial.trial_id, milestone, score)
        if action is None:
            self.held[trial.trial_id] = (trial, result, milestone, score)
            return HOLD
        return action

    def enter(self, trial_id: str, t: float, score: float) -> float | None:
        """Record the report in the rungs as Ray does; the rung it entered, if any."""
        before = {milestone for milestone, recorded in self.bracket._rungs if trial_id in recorded}
        self.bracket.on_result(_TrialId(trial_id), t, score)
        entered = [m for m, recorded in self.bracket._rungs if trial_id in recorded and m not in before]
        return entered[0] if entered else None

    def judge(self, trial_id: str, milestone: float, score: float) -> str | None:
        """STOP or CONTINUE against the entries at the rung of the trials ``lag`` and more places
        back; None while one of them may still enter it."""
        from ray.tune.schedulers import TrialScheduler

        recorded = dict(self.bracket._rungs)[milestone]
        earlier = [other for other, index in self.position.items() if index <= self.position[trial_id] - self.lag]
        if any(self.may_enter(other, milestone) for other in earlier):
            return None
        cutoff = self.bracket.cutoff({other: recorded[other] for other in earlier if other in recorded})
        return str(TrialScheduler.STOP if cutoff is not None and score < cutoff else TrialScheduler.CONTINUE)

    def may_enter(self, trial_id: str, milestone: float) -> bool:
        """Whether the trial may still enter the rung: it runs, has not, and its plan reaches it."""
        recorded = dict(self.bracket._rungs)[milestone]
        return trial_id not in recorded and trial_id not in self.ended_ids and self.last_t[trial_id] >= milestone

    def released(self) -> list[tuple[Any, dict[str, Any], str]]:
        """Held trials whose decision can now be taken, with it, in trial order."""
        out = []
        for trial_id, (trial, result, milestone, score) in sorted(self.held.items(), key=lambda kv: self.position[kv[0]]):
            action = self.judge(trial_id, milestone, score)
            if action is not None:
                del self.held[trial_id]
                out.append((trial, result, action))
        return out

    def ended(self, trial_id: str) -> None:
        """A trial ended (completed, stopped, failed or removed)."""
        self.ended_ids.add(trial_id)
        self.held.pop(trial_id, None)
        self.scheduler._trial_info.pop(trial_id, None)


def continue_held_trial(controller: Any, trial: Any) -> None:
    """Let a trial that the scheduler held (Tune's NOOP) train on, as a CONTINUE would have.

    Private: ``TuneController._schedule_trial_train``, reached through the ``TrialRunnerWrapper``
    that Tune hands schedulers (Ray 2.60; :meth:`OrderedDecisions.available` checks for it)."""
    getattr(controller, "_tune_controller", controller)._schedule_trial_train(trial)


class _TrialId:
    """What ``_Bracket.on_result`` reads of a trial."""

    def __init__(self, trial_id: str) -> None:
        self.trial_id = trial_id


def serve_grpc_on_loopback(loopback: str) -> None:
    """In a Ray Serve replica, bind its gRPC server for calls between deployments to ``loopback``
    where Serve asks for every interface (an unspecified address such as ``[::]``).

    Private: ``ray.serve._private.replica.add_port_to_grpc_server`` (Ray 2.60 binds ``"[::]:0"``).
    Gone: nothing is patched, and ``bench serve``'s check of every listening socket
    (:func:`bench.serve.loopback.check_listening`) refuses to go on if a replica listens beyond
    loopback (a security guard: it stops rather than warns)."""
    import ipaddress

    from ray.serve._private import replica

    original = getattr(replica, "add_port_to_grpc_server", None)
    if original is None or getattr(original, "bench_loopback", False):
        return

    def every_interface(host: str) -> bool:
        try:
            return not host or ipaddress.ip_address(host.strip("[]")).is_unspecified
        except ValueError:
            return False

    def on_loopback(server: Any, address: str) -> Any:
        host, _, port = address.rpartition(":")
        return original(server, f"{loopback}:{port}" if every_interface(host) else address)

    on_loopback.bench_loopback = True  # type: ignore[attr-defined]
    replica.add_port_to_grpc_server = on_loopback
