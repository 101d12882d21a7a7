"""``bench serve RUN`` (issue 21, item 3): a run's saved models behind Ray Serve over real HTTP on
127.0.0.1. A digit's PNG gets every family's answer, the same as the saved model gives on the
same prepared pixels; a corrupt upload gets 400 with the reason, an oversize one 413; every
socket the served process tree listens on is on loopback; SIGINT stops it with exit status 0.

One ``python -m bench serve`` process (:func:`served`) answers every slow test here and the
browser test (tests/test_browser_serve.py); the SIGINT test, last in this file, stops it.
Input refused before Ray starts (unknown run, no saved models, unreachable address, port in
use) is checked in this process, without Ray.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
from conftest import REPO
from test_predict import write_png
from test_saved_models import make_saved_run

import bench
from bench.errors import BenchInputError
from bench.images_in import prepare

#: The families served in the tests: a scikit-learn pipeline, one that keeps its training set, a network.
FAMILIES = ["svm", "knn", "cnn"]
#: A class name someone could put in a card: the page must show it as text.
HOSTILE = '<img src=x onerror="window.__pwned=1">7'
MAX_BYTES = 100_000
START_TIMEOUT_S = 150
STOP_TIMEOUT_S = 45
HEAVY = ("ray", "optuna", "pandas", "sklearn", "torch", "starlette")


# ------------------------------------------------------------------------------- the served run
def digit_pngs(run: Any, folder: Path, count: int) -> list[Path]:
    """The run's test digits (8x8) drawn 4x larger, dark on white, as PNG."""
    folder.mkdir(parents=True, exist_ok=True)
    X = run.final_data.X_test[:count]
    return [write_png(1.0 - np.kron(row.reshape(8, 8), np.ones((4, 4))), folder / f"{i:03d}.png") for i, row in enumerate(X)]


@dataclass
class Served:
    """A ``python -m bench serve`` process and what it serves."""

    process: subprocess.Popen
    port: int
    run: Any
    log: Path
    images: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            data = response.read()
            kind = response.getheader("Content-Type", "")
            return response.status, json.loads(data) if kind.startswith("application/json") else data.decode()
        finally:
            connection.close()

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                return self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_serving(run: Any, folder: Path, *args: str) -> Served:
    """``python -m bench serve RUN`` on a free port, once it answers ``GET /info``."""
    port = free_port()
    log = folder / f"serve-{port}.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench", "serve", str(run.run_dir), "--port", str(port), *args],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    served = Served(process, port, run, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"bench serve exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if served.request("GET", "/info")[0] == 200:
                return served
        except OSError:
            pass
        time.sleep(0.5)
    served.stop()
    raise AssertionError(f"bench serve did not answer within {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


_SHARED: dict[str, Any] = {}


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One served run of :data:`FAMILIES` for this file and tests/test_browser_serve.py (which
    imports this fixture: the instance is shared through ``_SHARED``, not started twice). Its
    knn card names class 7 :data:`HOSTILE`."""
    server = _SHARED.get("server")
    if server is None:
        folder = tmp_path_factory.mktemp("serve")
        run = make_saved_run(folder, FAMILIES)
        card = run.run_dir / "models" / "knn-seed0.json"
        data = json.loads(card.read_text())
        data["class_names"][7] = HOSTILE
        card.write_text(json.dumps(data))
        server = start_serving(run, folder, "--max-bytes", str(MAX_BYTES))
        server.images = digit_pngs(run, folder / "images", 6)
        _SHARED["server"] = server
    yield server
    server.stop()


# ------------------------------------------------------------------- refused before Ray starts
@pytest.fixture(scope="module")
def svm_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_saved_run(tmp_path_factory.mktemp("serve-svm"), ["svm"])


def test_serve_help_imports_nothing_heavy() -> None:
    code = (
        "import json, sys\nfrom bench.cli import main\n"
        "for args in (['serve', '--help'], ['serve', 'x', '--port', '0'], ['serve', 'x', '--max-bytes', 'lots']):\n"
        "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
    assert "not a port" in result.stderr and "not a size" in result.stderr


def test_an_unknown_run_is_one_line_and_exit_2(cli: Any, tmp_path: Path) -> None:
    result = cli("serve", str(tmp_path / "nope"))
    assert result.returncode == 2 and "no run folder" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_run_without_saved_models_is_refused(cli: Any, svm_run: Any, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "old-run"
    shutil.copytree(svm_run.run_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest.pop("models", None)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    result = cli("serve", str(copy))
    assert result.returncode == 2 and "saved no models" in result.stderr and "Traceback" not in result.stderr


def test_an_unreachable_address_is_refused(cli: Any, svm_run: Any) -> None:
    result = cli("serve", str(svm_run.run_dir), "--address", f"127.0.0.1:{free_port()}")
    assert result.returncode == 2 and "no Ray cluster listening" in result.stderr and "Traceback" not in result.stderr


def test_a_port_in_use_is_refused(cli: Any, svm_run: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = cli("serve", str(svm_run.run_dir), "--port", str(taken.getsockname()[1]))
    assert result.returncode == 2 and "cannot listen on 127.0.0.1" in result.stderr


def test_a_family_the_run_did_not_save_is_refused(cli: Any, svm_run: Any) -> None:
    result = cli("serve", str(svm_run.run_dir), "--families", "svm,knn")
    assert result.returncode == 2 and "no saved knn model" in result.stderr


# ------------------------------------------------------------------------------- parts, no Ray
def test_uploads_are_limited_and_must_be_images(tmp_path: Path) -> None:
    from bench.serve.upload import TooLarge, prepare_upload, read_limited

    async def chunks(*parts: bytes) -> Any:
        for part in parts:
            yield part

    assert asyncio.run(read_limited(None, chunks(b"ab", b"cd"), 4)) == b"abcd"
    with pytest.raises(TooLarge):
        asyncio.run(read_limited(None, chunks(b"ab", b"cde"), 4))
    with pytest.raises(TooLarge):  # the header alone says so: nothing is read
        asyncio.run(read_limited("5", chunks(), 4))
    spec = {"shape": [1, 8, 8], "preparation": "digits", "background": "dark"}
    for data, reason in ((b"", "no body"), (b"not an image", "not an image"), (b"\x89PNG\r\n\x1a\n broken", "the upload")):
        with pytest.raises(BenchInputError, match=reason) as caught:
            prepare_upload(data, {"digits": spec})
        assert "bench-serve-" not in str(caught.value)  # the temporary file is never named
    png = write_png(np.full((20, 20), 1.0), tmp_path / "blank.png")
    with pytest.raises(BenchInputError, match="the upload: no ink"):
        prepare_upload(png.read_bytes(), {"digits": spec})


def test_every_family_fits_on_two_cores() -> None:
    from bench.serve.app import MAX_SHARE, cpu_share

    assert cpu_share(8 + 1, 2.0) * 9 <= 2.0 and cpu_share(8 + 1, 2.0) > 0
    assert cpu_share(3 + 1, 2.0) == MAX_SHARE and cpu_share(9, 1.0) * 9 <= 1.0


def test_the_page_is_self_contained_and_inserts_data_as_text() -> None:
    from bench.serve.app import content_security_policy, page_html

    page = page_html()
    for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "http://", "https://", "src="):
        assert banned not in page, banned
    policy = content_security_policy(page)
    assert "default-src 'none'" in policy and policy.count("'sha256-") == 2 and "unsafe" not in policy


# ------------------------------------------------------------------------ served over real HTTP
@pytest.mark.slow
def test_a_digit_gets_every_family_s_answer_as_the_saved_model_gives(served: Served) -> None:
    models = {family: bench.load_model(served.run.run_dir, family) for family in FAMILIES}
    labels = set()
    for image in served.images:
        status, answer = served.request("POST", "/predict", image.read_bytes(), {"Content-Type": "image/png"})
        assert status == 200, answer
        assert [p["family"] for p in answer["predictions"]] == FAMILIES and answer["run"] == served.run.run_dir.name
        for prediction in answer["predictions"]:
            model = models[prediction["family"]]
            row = prepare(image, model.card["input"])[None]
            expected, proba = int(model.predict(row)[0]), model.predict_proba(row)[0]
            assert prediction["class"] == expected, (image, prediction)
            assert [p["class"] for p in prediction["probabilities"]] == list(range(10))
            assert np.allclose([p["probability"] for p in prediction["probabilities"]], proba, atol=1e-6)
            assert len(prediction["top"]) == 3 and prediction["kind"] in ("probability", "score")
            labels.add(prediction["class"])
    assert len(labels) > 1  # the models answer, not one class for everything
    status, answer = served.request("POST", "/predict?family=knn", served.images[0].read_bytes())
    assert status == 200 and [p["family"] for p in answer["predictions"]] == ["knn"]
    assert answer["predictions"][0]["probabilities"][7]["label"] == HOSTILE  # data, returned as data


@pytest.mark.slow
def test_bad_requests_get_a_status_and_a_reason(served: Served) -> None:
    whole = served.images[0].read_bytes()
    cut = whole[: len(whole) // 2]  # a PNG cut short
    status, answer = served.request("POST", "/predict", cut, {"Content-Type": "image/png"})
    assert status == 400 and answer["error"].startswith("the upload is a damaged") and "truncated" in answer["error"]
    status, answer = served.request("POST", "/predict", b"hello")
    assert status == 400 and "not an image" in answer["error"]
    status, answer = served.request("POST", "/predict", b"")
    assert status == 400 and "no body" in answer["error"]
    status, answer = served.request("POST", "/predict?family=lightgbm", served.images[0].read_bytes())
    assert status == 400 and "not served here" in answer["error"]
    status, answer = served.request("POST", "/predict", b"\0" * (MAX_BYTES + 1))
    assert status == 413 and f"{MAX_BYTES:,}" in answer["error"]
    status, answer = served.request("GET", "/predict")
    assert status == 405
    status, answer = served.request("GET", "/nowhere")
    assert status == 404
    status, page = served.request("GET", "/")
    assert status == 200 and "<canvas" in page
    status, info = served.request("GET", "/info")
    assert [f["family"] for f in info["families"]] == FAMILIES and info["dataset"] == "digits"


@pytest.mark.slow
def test_an_oversize_body_is_refused_before_it_is_read(served: Served) -> None:
    """A client that declares 50 MB gets 413 without sending it."""
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    try:
        connection.putrequest("POST", "/predict")
        connection.putheader("Content-Length", str(50 * 2**20))
        connection.endheaders()
        connection.send(b"\0" * 1000)
        response = connection.getresponse()
        assert response.status == 413 and "more than" in json.loads(response.read())["error"]
    finally:
        connection.close()


@pytest.mark.slow
def test_every_socket_of_the_served_process_tree_listens_on_loopback(served: Served) -> None:
    """The HTTP proxy on 127.0.0.1:PORT, and Ray's own servers too: nothing on another address."""
    root = psutil.Process(served.process.pid)
    listening = []
    for process in [root, *root.children(recursive=True)]:
        try:
            connections = process.net_connections(kind="inet")
        except psutil.Error:
            continue
        listening += [c.laddr for c in connections if c.status == psutil.CONN_LISTEN]
    assert any(address.port == served.port for address in listening), listening
    assert {address.ip.removeprefix("::ffff:") for address in listening} == {"127.0.0.1"}, listening  # IPv4 in IPv6 form too
    outward = [a.address for nic in psutil.net_if_addrs().values() for a in nic if a.family == socket.AF_INET]
    for address in outward:
        if not address.startswith("127."):
            with pytest.raises(OSError), socket.create_connection((address, served.port), timeout=2):
                pass


@pytest.mark.slow
@pytest.mark.stops_shared
def test_sigint_stops_serve_and_ray_with_exit_0(served: Served) -> None:
    """Run last of the session (conftest): it stops the shared instance."""
    root = psutil.Process(served.process.pid)
    children = root.children(recursive=True)
    assert children  # Ray's processes
    started = time.monotonic()
    assert served.stop() == 0, served.log.read_text()[-3000:]
    assert time.monotonic() - started < STOP_TIMEOUT_S
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, alive
    with socket.socket() as probe:  # the port is free again
        probe.bind(("127.0.0.1", served.port))
    assert "stopped" in served.log.read_text()
