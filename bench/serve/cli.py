"""``bench serve RUN``: its arguments, registered by ``bench.cli``, and its driver.

The driver checks everything it can before Ray starts, so a mistake costs a second and one
line (exit 2): the run folder, its saved models (each loaded once here: checksum, trusted types,
library versions), the address of a cluster, a free port. Then it starts a local Ray instance
bound to loopback, or joins the cluster at ``--address``, as ``bench run`` does
(bench.cluster.ray_session), starts Serve's HTTP proxy on ``--host``/``--port`` (127.0.0.1:8000
by default), deploys the models (bench.serve.app) and waits. Ctrl-C (SIGINT) or SIGTERM shuts
Serve down, then Ray, and exits 0.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from bench.errors import BenchInputError

#: Serve's own defaults, kept: http://127.0.0.1:8000/.
HOST, PORT = "127.0.0.1", 8000
#: Application name in Serve.
APP = "bench"
#: Seconds a request may take end to end before the proxy answers 408.
REQUEST_TIMEOUT_S = 60.0
#: Ray Serve switches that would put the proxy on every interface (HAProxy) or let replicas
#: listen for HTTP themselves (direct ingress): off in a local instance, whatever the environment says.
OFF_SWITCHES = ("RAY_SERVE_ENABLE_HA_PROXY", "RAY_SERVE_ENABLE_DIRECT_INGRESS")


def byte_size(text: str) -> int:
    """Bytes from ``2000000``, ``512k``, ``2M`` (powers of 1024), at least 1."""
    units = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}
    value = text.strip().lower().removesuffix("b").removesuffix("i")
    unit = value[-1:] if value[-1:] in units else ""
    number = value[: len(value) - len(unit)].strip()
    if not number.isdigit() or int(number) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size; use bytes (2000000) or 512k, 2M")
    return int(number) * units[unit]


def port_number(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port; use 1 to 65535")
    return int(text)


def add_parser(commands: Any) -> None:
    from bench.cli import family_list
    from bench.serve.upload import MAX_BYTES

    serve = commands.add_parser(
        "serve",
        help="serve a run's saved models over HTTP with Ray Serve, with a page to draw a digit on",
        description="Deploy the run's saved models with Ray Serve (a local Ray instance on 127.0.0.1, or the cluster at "
        "--address): POST an image to /predict for every family's label and probabilities as JSON; open / in a "
        "browser to draw a digit and watch each family's answer. Ctrl-C stops it.",
    )
    serve.add_argument("run", type=Path, metavar="RUN", help="a run folder, or a run id under --results-dir")
    serve.add_argument("--address", metavar="ADDR", help="Ray cluster to deploy on (default: a new local instance)")
    serve.add_argument("--host", default=HOST, metavar="HOST", help=f"address the HTTP proxy listens on (default {HOST})")
    serve.add_argument("--port", type=port_number, default=PORT, metavar="PORT", help=f"its port (default {PORT})")
    serve.add_argument(
        "--families",
        "--family",
        dest="families",
        type=family_list,
        metavar="NAME[,NAME...]",
        help="families to serve (default: every family with a saved model)",
    )
    serve.add_argument("--seed", type=int, metavar="N", help="the seed of the models (default 0, else the lowest saved)")
    serve.add_argument(
        "--sampler", metavar="NAME", help="the sampler's model (or sampler/scheduler), in a run that compared methods"
    )
    serve.add_argument(
        "--max-bytes",
        type=byte_size,
        default=MAX_BYTES,
        metavar="N",
        help=f"largest request body, e.g. 2000000 or 2M (default {MAX_BYTES // 2**20}M); larger ones get 413",
    )
    serve.add_argument(
        "--results-dir", type=Path, default=Path("results"), metavar="DIR", help="where run ids are looked up (default ./results)"
    )


def run(args: argparse.Namespace) -> int:
    from bench.cluster import check_address

    run_dir, chosen, info = checked_models(args)
    address = args.address or os.environ.get("RAY_ADDRESS") or None
    check_address(address)
    if not address:
        check_port(args.host, args.port)
    stop = threading.Event()
    previous = _on_signals(stop)
    try:
        return _serve(args, address, run_dir, chosen, info, stop)
    except KeyboardInterrupt:  # a second Ctrl-C while starting: Serve and Ray were shut down on the way out
        print("bench serve: stopped", file=sys.stderr)
        return 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def checked_models(args: argparse.Namespace) -> tuple[Path, list[dict[str, Any]], dict[str, Any]]:
    """The run folder, what each family's deployment needs, and what ``GET /info`` says; each
    model loaded once here, so a corrupt or unsafe file is refused before Ray starts."""
    from bench.models.store import resolve_run, saved
    from bench.predict import chosen_families, chosen_seed, load_chosen

    run_dir = resolve_run(args.run, args.results_dir).resolve()
    index = saved(run_dir)
    if not index:
        raise BenchInputError(f"run {run_dir} saved no models (runs written before bench kept them have none)")
    chosen, described = [], []
    for family in chosen_families(args.families or ["all"], run_dir, index):
        seed = chosen_seed(args.seed, family, index)
        model = load_chosen(run_dir, family, seed, args.sampler)
        chosen.append({"family": family, "seed": seed, "sampler": args.sampler, "spec": model.card["input"]})
        described.append(
            {
                "family": family,
                "seed": seed,
                "class_names": [str(name) for name in model.class_names],
                "kind": "probability" if model.probabilities else "score",
                "test_accuracy": model.card.get("test_accuracy"),
            }
        )
    info = {"run": run_dir.name, "dataset": _dataset(index, run_dir), "families": described}
    return run_dir, chosen, info


def _dataset(index: dict[str, dict[str, Any]], run_dir: Path) -> str:
    from bench.safe_io import read_json

    card = read_json(run_dir / next(iter(index.values()))["card"])
    return str(card.get("dataset", "")) if isinstance(card, dict) else ""


def check_port(host: str, port: int) -> None:
    """Fail at once when ``host:port`` cannot be listened on here (taken, or not this machine's)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise BenchInputError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port, or stop what uses it"
            ) from None


def _on_signals(stop: threading.Event) -> dict[int, Any]:
    """SIGINT and SIGTERM set ``stop``; the handlers they replace, to put back."""

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():  # a second Ctrl-C while starting: stop waiting at once
            raise KeyboardInterrupt
        stop.set()

    return {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}


def _serve(
    args: argparse.Namespace,
    address: str | None,
    run_dir: Path,
    chosen: list[dict[str, Any]],
    info: dict[str, Any],
    stop: threading.Event,
) -> int:
    from bench.cluster import ray_session
    from bench.serve.loopback import check_listening

    logging.getLogger("ray.serve").addFilter(lambda record: record.levelno >= logging.WARNING)  # bench says it itself
    if not address:
        for name in OFF_SWITCHES:
            os.environ[name] = "0"
    with ray_session(address) as resources:
        _on_signals(stop)  # again: ray.init installs a SIGTERM handler of its own in the driver
        if stop.is_set():
            return 0
        from ray import serve

        from bench.serve.app import build

        try:
            serve.start(
                proxy_location="HeadOnly",  # one HTTP proxy, on the head node: the address the user is told
                http_options={"host": args.host, "port": args.port, "request_timeout_s": REQUEST_TIMEOUT_S},
            )
            try:
                app = build(str(run_dir), chosen, info, args.max_bytes, float(resources.get("CPU", 1)), loopback=not address)
                serve.run(app, name=APP, route_prefix="/")
                if not address:
                    check_listening(os.getpid(), allowed=args.host)
                _announce(args, chosen)
                while not stop.wait(1.0):
                    pass
            finally:
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # shutting down: a second Ctrl-C would leave actors behind
                serve.shutdown()
        except (RuntimeError, ValueError) as exc:
            if stop.is_set():
                return 0
            where = f"the cluster at {address}" if address else "the local Ray instance"
            hint = " (on a cluster, every node must read the run folder at the same path)" if address else ""
            raise BenchInputError(f"cannot deploy the models on {where}: {_first_line(exc)}{hint}") from None
    print("bench serve: stopped", file=sys.stderr)
    return 0


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0][:300] if lines else type(exc).__name__


def _announce(args: argparse.Namespace, chosen: list[dict[str, Any]]) -> None:
    host = args.host
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{args.port}/"
    families = ", ".join(c["family"] for c in chosen)
    print(f"serving {families} of run {args.run} at {url} (POST an image to {url}predict); Ctrl-C stops", flush=True)
    if not _loopback(host):
        print(f"warning: listening on {host}, reachable from other machines; the endpoint has no authentication", file=sys.stderr)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
