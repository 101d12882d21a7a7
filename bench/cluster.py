"""Connecting to Ray: a local instance bound to loopback, or a running cluster.

An unreachable address must fail in seconds with a clear message, not after Ray's own
minute-long retries, so host:port addresses are probed with a plain TCP connect first.

A local instance must not listen beyond this machine. On Linux Ray replaces a requested
127.0.0.1 with the machine's routable address and then binds its gRPC servers (GCS, raylet,
every worker) to all interfaces; only its single-machine mode, the one it uses on macOS and
Windows (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``), keeps them on loopback. That rests on a
patched Ray constant, so after ``ray.init`` a local run checks that its node's address is
127.0.0.1 and its GCS listens there, and refuses to go on otherwise (:func:`check_local_instance`).

A local instance also always runs with Ray's token authentication (``RAY_AUTH_MODE=token``,
Ray's own default for new local instances since 2.59), whatever ``RAY_AUTH_MODE`` says in the
environment: a process of another user on this machine cannot submit work to it without the
token in ``~/.ray/auth_token`` (Ray creates it, readable by its owner only, when missing).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING

from bench.errors import BenchInputError

if TYPE_CHECKING:
    from bench.warm import ReadyWorkers

PROBE_TIMEOUT_S = 3.0
#: Ray's switch between single-machine mode (every server on loopback) and cluster mode.
CLUSTER_MODE_VAR = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def check_address(address: str | None) -> None:
    """Fail in seconds, with the fix, when nothing listens at a HOST:PORT address."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    if not address or address == "auto":
        return
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise BenchInputError(f"--address {address!r} is not valid; use auto, HOST:PORT or ray://HOST:PORT")
    try:
        with socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as exc:
        raise BenchInputError(
            f"no Ray cluster listening at --address {address} ({exc.strerror or exc}); start one with 'ray start --head' or fix the address"
        ) from None


class _QuietRay(logging.Filter):
    """Drop Ray's start-up notices that say nothing to a bench user (results carry the facts)."""

    NOISE = ("Token authentication is enabled", "Failed to fetch metrics for")

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(text in record.getMessage() for text in self.NOISE)


def _quiet_ray_logs() -> None:
    # Handler filters see records from every child logger; logger filters would not.
    for handler in logging.getLogger("ray").handlers:
        if not any(isinstance(f, _QuietRay) for f in handler.filters):
            handler.addFilter(_QuietRay())


def single_machine_mode() -> AbstractContextManager[None]:
    """Ray's single-machine mode for the duration of a local instance (every server on
    loopback); refused with a :class:`BenchInputError` when this Ray lacks the internal it rests
    on (:func:`bench.compat.loopback_only`)."""
    from bench import compat

    return compat.loopback_only()


#: Ray's switch for token authentication, read from the environment by every Ray process.
AUTH_MODE_VAR = "RAY_AUTH_MODE"
LOOPBACK = "127.0.0.1"


@contextmanager
def token_auth() -> Iterator[None]:
    """Ray's token authentication for the duration of a local instance, whatever the environment
    said: the processes Ray starts read ``RAY_AUTH_MODE`` from the environment, the driver from
    its cached config, which is refreshed here (and again when the session ends)."""
    saved = os.environ.get(AUTH_MODE_VAR)
    os.environ[AUTH_MODE_VAR] = "token"
    _refresh_ray_config()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(AUTH_MODE_VAR, None)
        else:
            os.environ[AUTH_MODE_VAR] = saved
        _refresh_ray_config()


def _refresh_ray_config() -> None:
    from bench import compat

    compat.refresh_ray_config()


def token_auth_enabled() -> bool:
    """Whether this driver's Ray runs with token authentication."""
    from bench import compat

    return compat.token_auth_enabled()


def check_local_instance() -> None:
    """After ``ray.init`` of a local instance: one node, on 127.0.0.1, its GCS on 127.0.0.1,
    token authentication on; else a :class:`BenchInputError` (the caller shuts Ray down)."""
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    addresses = sorted({str(n.get("NodeManagerAddress")) for n in nodes})
    if addresses != [LOOPBACK]:
        raise BenchInputError(
            f"the local Ray instance runs on {', '.join(addresses) or 'no node'}, not only {LOOPBACK}: "
            f"it could be reachable from the network, so bench stops (no trial ran)"
        )
    gcs = str(ray.get_runtime_context().gcs_address or "")
    if gcs.rpartition(":")[0] != LOOPBACK:
        raise BenchInputError(f"the local Ray instance's GCS listens at {gcs}, not on {LOOPBACK}; bench stops (no trial ran)")
    if not token_auth_enabled():
        raise BenchInputError(
            "the local Ray instance started without token authentication (RAY_AUTH_MODE=token was not "
            "honoured; Ray 2.59 or later is needed); bench stops (no trial ran)"
        )


def local_cpus() -> int:
    """The CPUs a new local Ray instance will have (Ray's own count: cgroup quotas, affinity)."""
    from bench import compat

    if (cpus := compat.ray_num_cpus()) is not None:
        return cpus
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def check_cpus_per_trial(cpus_per_trial: int, address: str | None, what: str = "--cpus-per-trial") -> None:
    """Refuse at once a trial larger than this machine when the run starts its own instance:
    Ray would otherwise wait forever for a node that can hold it. (A cluster's autoscaler may
    add larger nodes, so a cluster's runs are not refused here.) ``what`` names the value in the
    message: the flag, or a resumed run's saved option."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is None and cpus_per_trial > (cpus := local_cpus()):
        raise BenchInputError(
            f"{what} {cpus_per_trial} is more than the {cpus} CPUs of this machine; "
            f"a trial that large would never start (use at most {cpus}, or a cluster with --address)"
        )


@contextmanager
def ray_session(
    address: str | None,
    num_cpus: int | None = None,
    families: list[str] | None = None,
    on_start: Callable[[], None] | None = None,
) -> Iterator[dict]:
    """Start (or connect to) Ray for the duration of a run; yields the cluster's resources.

    A local instance for a run of ``families`` starts its workers with their trial code
    already imported, and Tune's trials land on them; one more worker holds the refits
    (see bench.warm). ``on_start`` runs once ``ray.init`` has returned, while those workers
    import: the driver's own preparation, overlapped with theirs."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    from bench import compat

    compat.warn_untested_versions()
    _quiet_ray_logs()
    address = address or os.environ.get("RAY_ADDRESS") or None
    check_address(address)
    # No dashboard: Ray 2.60 still starts its head process, loading only the usage-stats module
    # (off: RAY_USAGE_STATS_ENABLED=0). The log monitor, the autoscaler's monitor and the raylet's
    # dashboard and runtime-env agents (about a CPU-second each at start, little after) have no
    # ray.init option to leave them out, and the runtime-env agent starts the refit worker.
    kwargs: dict = dict(logging_level=logging.WARNING, log_to_driver=False, include_dashboard=False)
    warm_workers: AbstractContextManager[ReadyWorkers | None] = nullcontext()
    if address:
        kwargs["address"] = address
    else:  # "local": always a new instance, never whichever `ray start` cluster happens to run here
        system_config = None
        if families:
            from bench import warm

            system_config = warm.system_config(families)
            warm_workers = warm.warm_local_workers()
        kwargs.update(compat.local_init_kwargs(num_cpus, system_config))
    local = nullcontext() if address else single_machine_mode()
    with local, nullcontext() if address else token_auth(), warm_workers as ready:
        try:
            compat.init_local(ray.init, kwargs, ray.shutdown) if not address else ray.init(**kwargs)
        except (ConnectionError, RuntimeError, TimeoutError, ValueError) as exc:
            where = address or "a local Ray instance"
            raise BenchInputError(f"cannot connect to Ray at {where}: {str(exc).splitlines()[0]}") from None
        try:
            if not address:
                check_local_instance()  # before any work: loopback only, token auth on
            if ready is not None:  # Ray prestarts one worker per CPU; one more holds the refits
                ready.start_refit_worker()
            if on_start is not None:
                on_start()
            if ready is not None:
                ready.wait(int(ray.cluster_resources().get("CPU", 0)) + 1)
            yield ray.cluster_resources()
        finally:
            ray.shutdown()
