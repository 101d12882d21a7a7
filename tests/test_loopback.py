"""A local Ray instance listens on loopback only and talks only to holders of its token: nothing
of a benchmark run is reachable from the network, or from another user's process, unless the
user starts a cluster on purpose."""

from __future__ import annotations

import os
import subprocess
import sys

import psutil
import pytest

from bench.cluster import AUTH_MODE_VAR, CLUSTER_MODE_VAR, check_local_instance, ray_session
from bench.errors import BenchInputError

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


#: A client in its own process: Ray's C++ GCS client, with whatever credentials its environment gives.
CLIENT = """
import sys
from ray._raylet import GcsClient
try:
    keys = GcsClient(address=sys.argv[1], cluster_id="").internal_kv_keys(b"", None, timeout=10)
    print("served", len(keys))
except Exception as exc:
    print("refused", type(exc).__name__, str(exc).splitlines()[0][:200])
"""


def _client(gcs: str, **auth: str) -> str:
    """What a client without bench's session (``auth``: its RAY_AUTH_* variables) gets from the GCS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")} | {"HOME": "/nonexistent", **auth}
    done = subprocess.run([sys.executable, "-c", CLIENT, gcs], env=env, capture_output=True, text=True, timeout=120)
    return done.stdout.strip() or done.stderr.strip()[-300:]


@pytest.mark.slow
def test_local_instance_listens_on_loopback_only_and_refuses_clients_without_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AUTH_MODE_VAR, "disabled")  # what a user's shell might say: bench turns it on anyway
    before = os.environ.get(CLUSTER_MODE_VAR)
    with ray_session(None, num_cpus=1):
        import ray
        from ray._raylet import AuthenticationTokenLoader

        @ray.remote
        def node_ip() -> str:
            return ray.util.get_node_ip_address()

        assert ray.get(node_ip.remote()) == "127.0.0.1"  # a worker runs, with its own server
        sockets = _listening(psutil.Process().children(recursive=True) + [psutil.Process()])
        gcs = ray.get_runtime_context().gcs_address
        token = AuthenticationTokenLoader.instance().get_token_for_http_header()
        without = _client(gcs, RAY_AUTH_MODE="disabled")
        wrong = _client(gcs, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="not-the-token")
        holder = _client(gcs, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=next(iter(token.values())).removeprefix("Bearer "))
    assert without.startswith("refused AuthenticationError"), without
    assert wrong.startswith("refused AuthenticationError"), wrong
    assert holder.startswith("served"), holder  # the same client with the token is served
    names = {name for name, _, _ in sockets}
    assert any("gcs_server" in n for n in names) and any("raylet" in n for n in names), sockets
    assert all(ip in LOOPBACK for _, ip, _ in sockets), [s for s in sockets if s[1] not in LOOPBACK]
    assert os.environ.get(CLUSTER_MODE_VAR) == before  # the switches do not outlive the session
    assert os.environ.get(AUTH_MODE_VAR) == "disabled"


def test_a_local_instance_off_loopback_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check after ray.init, without Ray: a node on a routable address stops the run."""
    import ray

    class Context:
        gcs_address = "127.0.0.1:6379"

    monkeypatch.setattr(ray, "get_runtime_context", lambda: Context())
    monkeypatch.setattr("bench.cluster.token_auth_enabled", lambda: True)
    monkeypatch.setattr(ray, "nodes", lambda: [{"Alive": True, "NodeManagerAddress": "10.1.2.3"}])
    with pytest.raises(BenchInputError, match="10.1.2.3, not only 127.0.0.1"):
        check_local_instance()
    monkeypatch.setattr(ray, "nodes", lambda: [{"Alive": True, "NodeManagerAddress": "127.0.0.1"}])
    check_local_instance()
    Context.gcs_address = "0.0.0.0:6379"
    with pytest.raises(BenchInputError, match="GCS listens at 0.0.0.0:6379"):
        check_local_instance()
    Context.gcs_address = "127.0.0.1:6379"
    monkeypatch.setattr("bench.cluster.token_auth_enabled", lambda: False)
    with pytest.raises(BenchInputError, match="without token authentication"):
        check_local_instance()


def test_token_auth_is_forced_for_the_session_and_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.cluster import token_auth

    monkeypatch.setenv(AUTH_MODE_VAR, "disabled")
    with token_auth():
        assert os.environ[AUTH_MODE_VAR] == "token"
    assert os.environ[AUTH_MODE_VAR] == "disabled"
    monkeypatch.delenv(AUTH_MODE_VAR)
    with token_auth():
        assert os.environ[AUTH_MODE_VAR] == "token"
    assert AUTH_MODE_VAR not in os.environ
