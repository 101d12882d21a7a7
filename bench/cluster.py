"""Connecting to Ray: a local instance bound to loopback, or a running cluster.

An unreachable address must fail in seconds with a clear message, not after Ray's own
minute-long retries, so host:port addresses are probed with a plain TCP connect first.

A local instance must not listen beyond this machine. On Linux Ray replaces a requested
127.0.0.1 with the machine's routable address and then binds its gRPC servers (GCS, raylet,
every worker) to all interfaces; only its single-machine mode, the one it uses on macOS and
Windows (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``), keeps them on loopback.
"""

from __future__ import annotations

import logging
import os
import socket
from contextlib import contextmanager, nullcontext
from typing import Iterator

from bench.errors import BenchInputError

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
        raise BenchInputError(f"no Ray cluster listening at --address {address} ({exc.strerror or exc}); start one with 'ray start --head' or fix the address") from None


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


@contextmanager
def single_machine_mode() -> Iterator[None]:
    """Ray's single-machine mode for the duration of a local instance: the driver reads the
    switch from ``ray_constants`` (set at import, so patched here), the processes it starts
    (raylet, agents, workers) from the environment."""
    from ray._private import ray_constants

    saved_env, saved_flag = os.environ.get(CLUSTER_MODE_VAR), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[CLUSTER_MODE_VAR], ray_constants.ENABLE_RAY_CLUSTER = "0", False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        if saved_env is None:
            os.environ.pop(CLUSTER_MODE_VAR, None)
        else:
            os.environ[CLUSTER_MODE_VAR] = saved_env


@contextmanager
def ray_session(address: str | None, num_cpus: int | None = None, families: list[str] | None = None) -> Iterator[dict]:
    """Start (or connect to) Ray for the duration of a run; yields the cluster's resources.

    A local instance for a run of ``families`` starts its workers with their trial code
    already imported, and Tune's trials land on them (see bench.warm)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    _quiet_ray_logs()
    address = address or os.environ.get("RAY_ADDRESS") or None
    check_address(address)
    kwargs: dict = dict(logging_level=logging.WARNING, log_to_driver=False, include_dashboard=False)
    if address:
        kwargs["address"] = address
    else:  # "local": always a new instance, never whichever `ray start` cluster happens to run here
        kwargs.update(address="local", num_cpus=num_cpus, _node_ip_address="127.0.0.1")
    warm_workers = nullcontext()
    if not address and families:
        from bench import warm

        kwargs["_system_config"] = warm.system_config(families)
        warm_workers = warm.warm_local_workers()
    with (nullcontext() if address else single_machine_mode()), warm_workers as ready:
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, TimeoutError, ValueError) as exc:
            where = address or "a local Ray instance"
            raise BenchInputError(f"cannot connect to Ray at {where}: {str(exc).splitlines()[0]}") from None
        if ready is not None:  # Ray prestarts one worker per CPU
            ready.wait(int(ray.cluster_resources().get("CPU", 0)))
        try:
            yield ray.cluster_resources()
        finally:
            ray.shutdown()
