"""``bench perf``'s serving figure: what Ray Serve costs over calling a saved model directly.

A ``bench run`` of svm, knn and cnn makes saved models; ``bench serve`` deploys them on
127.0.0.1; 8 client threads (one keep-alive connection each) send ``requests`` PNG digits to
``POST /predict?family=F`` one family at a time, and each request's latency is timed. Beside
it, the same model is loaded in this process (one thread, as a replica runs it) and answers
the same images one after another: read and prepare the PNG, predict, probabilities. The
ratio of requests per second, direct over served, is the serving overhead (HTTP, the
proxy, the ingress, the hop to the family's replica, JSON) at that concurrency; on a 2-core
machine the clients share the cores with the server, as a user's browser would.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

FAMILIES = ("svm", "knn", "cnn")
#: --quick serves the svm that bench perf's first-command run already saved: it checks the measure runs.
QUICK_FAMILIES = ("svm",)
CLIENTS = 8
#: Requests per family (quick: enough to check the measure runs), warm-up requests before them.
REQUESTS, QUICK_REQUESTS, WARM_UP = 400, 40, 16
#: Distinct images the requests cycle through.
IMAGES = 100
START_TIMEOUT_S, STOP_TIMEOUT_S = 300, 60


def measure_serving(root: Path, data_dir: Path | None, quick: bool, quick_run: Path | None = None) -> dict[str, Any]:
    """Served against direct, per family: requests per second and p50/p99 latency. With
    ``quick``, the models are those of ``quick_run`` (a digits run that saved an svm)."""
    dataset = "digits" if quick else "mnist"
    requests = QUICK_REQUESTS if quick else REQUESTS
    families_served = QUICK_FAMILIES if quick else FAMILIES
    started = time.perf_counter()
    run_dir = quick_run if quick and quick_run is not None else make_run(root, dataset, data_dir, quick, families_served)
    run_seconds = time.perf_counter() - started
    images = write_images(dataset, data_dir, Path(tempfile.mkdtemp(dir=root)))
    direct = {family: measure_direct(run_dir, family, images, requests) for family in families_served}
    with serving(run_dir, root, families_served) as port:
        served = {family: measure_served(port, family, images, requests) for family in families_served}
    families = {}
    for family in families_served:
        d, s = direct[family], served[family]
        families[family] = {
            "served": s,
            "direct": d,
            "overhead_ratio": d["requests_per_second"] / s["requests_per_second"] if s["requests_per_second"] else None,
            "p50_ratio": s["p50_ms"] / d["p50_ms"] if d["p50_ms"] else None,
        }
    return {
        "dataset": dataset,
        "clients": CLIENTS,
        "requests_per_family": requests,
        "run_seconds": run_seconds,
        "families": families,
    }


def make_run(root: Path, dataset: str, data_dir: Path | None, quick: bool, families: tuple[str, ...] = FAMILIES) -> Path:
    results = Path(tempfile.mkdtemp(dir=root))
    command = [sys.executable, "-m", "bench", "run", "--family", ",".join(families), "--dataset", dataset]
    command += ["--trials", "1" if quick else "2", "--sampler", "random", "--seed", "0", "--no-progress"]
    command += ["--results-dir", str(results)]
    if dataset != "digits":
        command += ["--train-size", "5000", *(["--data-dir", str(data_dir)] if data_dir else [])]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench run for the serving figure failed ({done.returncode}): {done.stderr[-2000:]}")
    return next(p.parent for p in results.glob("*/manifest.json"))


def write_images(dataset: str, data_dir: Path | None, folder: Path) -> list[Path]:
    """Test digits as PNG: MNIST's as they are, the 8x8 digits 4x larger, dark on white."""
    from PIL import Image

    from bench.datasets import get_dataset

    X = get_dataset(dataset).load(data_dir).X_test[:IMAGES]
    paths = []
    for i, row in enumerate(X):
        pixels = row.reshape(28, 28) if dataset == "mnist" else 1.0 - np.kron(row.reshape(8, 8), np.ones((4, 4)))
        path = folder / f"{i:03d}.png"
        Image.fromarray(np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def _summary(latencies: list[float], wall: float) -> dict[str, Any]:
    ms = np.asarray(latencies) * 1000
    return {
        "requests": len(latencies),
        "wall_seconds": wall,
        "requests_per_second": len(latencies) / wall if wall > 0 else None,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
    }


def measure_direct(run_dir: Path, family: str, images: list[Path], requests: int) -> dict[str, Any]:
    """The loaded model in this process, one image after another, as a replica answers one."""
    from threadpoolctl import threadpool_limits

    from bench.images_in import prepare
    from bench.models import load_model
    from bench.serve.answers import family_answer

    model = load_model(run_dir, family, threads=1)
    spec = model.card["input"]
    with threadpool_limits(1):
        for path in images[:WARM_UP]:
            family_answer(model, prepare(path, spec))
        latencies = []
        started = time.perf_counter()
        for i in range(requests):
            t = time.perf_counter()
            family_answer(model, prepare(images[i % len(images)], spec))
            latencies.append(time.perf_counter() - t)
        wall = time.perf_counter() - started
    return {**_summary(latencies, wall), "clients": 1}


class serving:
    """``bench serve RUN`` on a free loopback port for the ``with`` block; SIGINT after."""

    def __init__(self, run_dir: Path, root: Path, families: tuple[str, ...] = FAMILIES) -> None:
        self.run_dir, self.root, self.families = run_dir, root, families
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> int:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        self.log = open(self.root / f"serve-{port}.log", "w")  # closed in __exit__
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench",
                "serve",
                str(self.run_dir),
                "--port",
                str(port),
                "--families",
                ",".join(self.families),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/info")
                if connection.getresponse().status == 200:
                    return port
            except OSError:
                time.sleep(0.5)
        self.__exit__()
        raise RuntimeError(f"bench serve did not start: {(self.root / f'serve-{port}.log').read_text()[-2000:]}")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def measure_served(port: int, family: str, images: list[Path], requests: int) -> dict[str, Any]:
    """``requests`` POSTs from :data:`CLIENTS` threads, each on its own keep-alive connection."""
    bodies = [path.read_bytes() for path in images]
    target = f"/predict?family={family}"
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    failures: list[str] = []

    def client(k: int, count: int, out: list[float]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            for i in range(count):
                body = bodies[(k + i * CLIENTS) % len(bodies)]
                t = time.perf_counter()
                connection.request("POST", target, body=body, headers={"Content-Type": "image/png"})
                response = connection.getresponse()
                data = response.read()
                out.append(time.perf_counter() - t)
                if response.status != 200 or not json.loads(data)["predictions"]:
                    failures.append(f"{response.status}: {data[:200]!r}")
        except OSError as exc:
            failures.append(str(exc))
        finally:
            connection.close()

    warm = [threading.Thread(target=client, args=(k, WARM_UP // CLIENTS, [])) for k in range(CLIENTS)]
    for thread in warm:
        thread.start()
    for thread in warm:
        thread.join()
    shares = [requests // CLIENTS + (k < requests % CLIENTS) for k in range(CLIENTS)]
    threads = [threading.Thread(target=client, args=(k, shares[k], latencies[k])) for k in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    flat = [x for out in latencies for x in out]
    return {**_summary(flat, wall), "clients": CLIENTS, "failures": len(failures), "first_failure": failures[:1]}


def serving_lines(section: dict[str, Any]) -> list[str]:
    """The figure as ``bench perf`` prints it: one line per family."""
    out = [f"serving ({section['clients']} clients, {section['requests_per_family']} requests per family, {section['dataset']}):"]
    for family, f in section["families"].items():
        s, d = f["served"], f["direct"]
        failed = f" ({s['failures']} failed)" if s["failures"] else ""
        out.append(
            f"  {family}: served {s['requests_per_second']:.1f} req/s, p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms"
            f"{failed}; direct {d['requests_per_second']:.1f} req/s, "
            f"p50 {d['p50_ms']:.1f} ms, p99 {d['p99_ms']:.1f} ms; overhead {f['overhead_ratio']:.2f}x"
        )
    return out
