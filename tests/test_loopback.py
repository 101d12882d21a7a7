"""A local Ray instance listens on loopback only: nothing of a benchmark run is reachable
from the network unless the user starts a cluster on purpose."""

from __future__ import annotations

import os

import psutil

from bench.cluster import CLUSTER_MODE_VAR, ray_session

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def _listening(processes: list[psutil.Process]) -> list[tuple[str, str, int]]:
    found = []
    for proc in processes:
        try:
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    found.append((proc.name(), conn.laddr.ip, conn.laddr.port))
        except psutil.Error:
            continue  # a process that ended meanwhile
    return found


def test_local_instance_listens_on_loopback_only() -> None:
    before = os.environ.get(CLUSTER_MODE_VAR)
    with ray_session(None, num_cpus=1):
        import ray

        @ray.remote
        def node_ip() -> str:
            return ray.util.get_node_ip_address()

        assert ray.get(node_ip.remote()) == "127.0.0.1"  # a worker runs, with its own server
        sockets = _listening(psutil.Process().children(recursive=True) + [psutil.Process()])
    names = {name for name, _, _ in sockets}
    assert any("gcs_server" in n for n in names) and any("raylet" in n for n in names), sockets
    assert all(ip in LOOPBACK for _, ip, _ in sockets), [s for s in sockets if s[1] not in LOOPBACK]
    assert os.environ.get(CLUSTER_MODE_VAR) == before  # the switch does not outlive the session
