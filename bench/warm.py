"""Warm workers for local runs: trials start on processes that have already imported their code.

A fresh Ray worker spends seconds before a trial's first line runs: starting Python and Ray,
importing Ray Tune (pandas, Ray Data) for the trial actor, then scikit-learn and the family's
libraries. A local Ray instance starts one worker per CPU with the node, while the driver is
still waiting for the rest of Ray to come up; ``preload_python_modules`` (a Ray system setting)
has those workers import the trial's modules then, so the imports overlap Ray's own start-up.

Ray Tune undoes this: it declares every trial actor with a runtime environment (a few
environment variables, such as ``PL_DISABLE_FORK`` for PyTorch Lightning), and Ray (2.60, as
measured here) never gives an actor with a runtime environment one of the node's prestarted
workers, so each search started a new process and imported everything again. On a local
instance the workers inherit the driver's environment anyway, so :func:`warm_local_workers`
sets those variables here and lets Tune declare its actors without one (through Tune's private
actor-class cache, :func:`bench.compat.tune_actors_without_runtime_env`; a Ray release without
it gets Tune's behaviour and a warning). Clusters are left as Tune
made them: there the runtime environment carries the variables to other machines.

Ray gives the workers it starts for a job the driver's current folder on their path; prestarted
workers come before any job, so they get it (and bench's folder, for a source checkout run
without installing) through ``PYTHONPATH`` instead.

The refit after each search needs a warm process too: the trials' actors, and with them their
processes, end with the search, and two refit tasks on new workers spent seconds importing
(7.5 s of a 37 s digits run, for a 0.1 s SVM fit). So a local instance also starts one more
worker with the node, held by a :class:`bench.trial.RefitWorker` actor for the whole run
(:meth:`ReadyWorkers.start_refit_worker`); it asks for no CPU, so trials never wait for it, and
refits run on it once the search is over. Its actor is declared with a runtime environment,
which keeps it off the prestarted workers the trials are to use: Ray starts a process of its own
for it, which skips Ray Tune (bench.warm_tune). On a 2-core machine that worker adds about 1.5 s
to Ray's start and saved 4.5 s of a 23 s digits run's refit.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: What every trial imports: the Tune function trainable (through bench.warm_tune, which the refit
#: worker skips) and bench's trial code (which loads scikit-learn and the family registry).
TRIAL_MODULES = ("bench.warm_tune", "bench.trial")
#: Imported last: leaves a file in this folder when a worker's imports are done.
READY_MODULE, READY_DIR_VAR = "bench.warm_ready", "BENCH_WARM_READY_DIR"
#: How long the driver waits for the prestarted workers before it starts anyway.
READY_TIMEOUT_S = 30.0


def preload_modules(families: list[str]) -> list[str]:
    """The modules a local worker imports before it takes work: the trial's own and the
    installed libraries of the run's families (torch for the neural families, LightGBM)."""
    from bench.families import create_family

    libraries = [lib for name in families for lib in create_family(name).libraries]
    installed = [lib for lib in dict.fromkeys(libraries) if importlib.util.find_spec(lib) is not None]
    return [*TRIAL_MODULES, *installed, READY_MODULE]


#: The named actor that holds a local run's refit worker, and the variable that marks its process.
REFIT_ACTOR, REFIT_ROLE_VAR = "bench-refit-worker", "BENCH_WORKER_ROLE"


def refit_worker() -> Any | None:
    """The refit actor of this Ray session, or None (a cluster, or a session without one)."""
    import ray

    try:
        return ray.get_actor(REFIT_ACTOR)
    except ValueError:
        return None


#: How long an idle worker of a local instance lives (the instance lasts one run).
IDLE_WORKER_LIFETIME_MS = 10 * 60 * 1000


def system_config(families: list[str]) -> dict[str, Any]:
    """Ray system settings for a local instance that runs ``families``.

    Ray's raylet kills idle workers beyond the number of CPUs left free once they have idled for
    a second. Tune reserves a trial's CPU before it asks for a worker, so in the moment between
    the two the prestarted workers counted as surplus: in 1 of 6 searches (and 2 of 5 in an
    earlier series) both were killed and the first trials waited seconds for new workers to
    start and import everything. A local instance lives for one run, so its idle workers are
    kept."""
    return {"preload_python_modules": preload_modules(families), "idle_worker_killing_time_threshold_ms": IDLE_WORKER_LIFETIME_MS}


def worker_environment() -> dict[str, str]:
    """What the prestarted workers of a local instance must inherit to stand in for the ones Ray
    would start for a job: Tune's trial variables, and the driver's code folders (the current
    one, which Ray passes only to workers started for the job, and bench's own) on the path."""
    import bench

    folders = [
        str(Path(bench.__file__).resolve().parent.parent),
        os.getcwd(),
        *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep)),
    ]
    from bench import compat

    return {**compat.tune_trial_env_vars(), "PYTHONPATH": os.pathsep.join(dict.fromkeys(folders))}


class ReadyWorkers:
    """The folder where preloaded workers say they are ready (see bench.warm_ready), and the
    refit actor's handle: Ray ends an actor once no handle to it is left, so it is held here."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.refit_worker: Any = None

    def start_refit_worker(self) -> None:
        """Declare the refit actor (:class:`bench.trial.RefitWorker`) on a process of its own,
        which Ray starts now and which preloads the trial modules like the others."""
        import ray

        from bench.trial import RefitWorker

        self.refit_worker = (
            ray.remote(num_cpus=0)(RefitWorker)
            .options(name=REFIT_ACTOR, runtime_env={"env_vars": {REFIT_ROLE_VAR: "refit"}})
            .remote()
        )

    def wait(self, count: int, timeout_s: float = READY_TIMEOUT_S) -> int:
        """Wait until ``count`` workers have finished their imports (or ``timeout_s`` passed);
        return how many had. The search's clock (``--time-budget``, ``search_seconds``) then
        starts when trials can run, as a plain loop's timer starts after its imports."""
        deadline = time.monotonic() + timeout_s
        while (ready := len(list(self.folder.iterdir()))) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return ready


@contextmanager
def warm_local_workers() -> Iterator[ReadyWorkers]:
    """Around a local instance's start and use: its workers inherit :func:`worker_environment`
    and report when their imports are done, and Tune declares trial actors without a runtime
    environment, so they land on those workers."""
    from bench import compat

    with tempfile.TemporaryDirectory(prefix="bench-ready-") as folder, compat.tune_actors_without_runtime_env():
        inherited = {**worker_environment(), READY_DIR_VAR: folder}
        saved = {name: os.environ.get(name) for name in inherited}
        os.environ.update(inherited)
        try:
            yield ReadyWorkers(Path(folder))
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
