"""Keeping a local ``bench serve`` on 127.0.0.1, as a local ``bench run`` is (bench.cluster).

Ray Serve 2.60 starts, in every replica, a gRPC server for the calls between deployments and
binds it to all interfaces (``"[::]:0"`` in ``ray/serve/_private/replica.py``), whatever address
the node has. :func:`replica_on_loopback`, called in a replica's constructor (Serve runs it
before it starts that server), makes the replica bind it to 127.0.0.1, the only address a local
instance's node has. Should a later Ray start its servers another way, :func:`check_listening`
notices: after the deployment, the driver looks at every socket its process tree listens on
and stops, with one line, when one is not on loopback.
"""

from __future__ import annotations

import ipaddress

from bench.errors import BenchInputError

LOOPBACK = "127.0.0.1"


def replica_on_loopback() -> None:
    """In a Serve replica: its inter-deployment gRPC server binds to 127.0.0.1 (see the module)."""
    from bench.compat import serve_grpc_on_loopback

    serve_grpc_on_loopback(LOOPBACK)


def listening(pid: int) -> list[tuple[str, int, int]]:
    """(address, port, pid) of every listening TCP socket of process ``pid`` and its descendants."""
    import psutil

    root = psutil.Process(pid)
    found = []
    for process in [root, *root.children(recursive=True)]:
        try:
            connections = process.net_connections(kind="inet")
        except psutil.Error:  # ended meanwhile
            continue
        found += [(c.laddr.ip, c.laddr.port, process.pid) for c in connections if c.status == psutil.CONN_LISTEN]
    return found


def check_listening(pid: int, allowed: str | None = None) -> None:
    """Refuse (:class:`BenchInputError`) when a process of ``pid``'s tree listens beyond loopback
    on anything but ``allowed`` (the address the user asked the HTTP proxy to listen on)."""
    for address, port, owner in listening(pid):
        host = address.removeprefix("::ffff:")
        if host == allowed or _is_loopback(host):
            continue
        raise BenchInputError(
            f"a process of the local Ray instance (pid {owner}) listens on {address}:{port}, not only on {LOOPBACK}: "
            f"it could be reachable from the network, so bench stops serving"
        )


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
