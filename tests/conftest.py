"""Shared fixtures: the real MNIST files in ../shared/data, and two CLI runners: ``run_cli`` (a
real ``python -m bench`` process) and ``cli`` (``bench.cli.main`` called in this process)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
MNIST_DIR = Path(os.environ.get("BENCH_TEST_MNIST", REPO.parent / "shared" / "data" / "mnist"))


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    if not (MNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST IDX files not found at {MNIST_DIR} (set BENCH_TEST_MNIST)")
    return MNIST_DIR


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or fills the user's real dataset cache, or inherits a data dir."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m bench`` as a user would, capturing both streams."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bench", *args], cwd=cwd or REPO, capture_output=True, text=True,
        timeout=timeout, env=full_env,
    )


@dataclass
class CliResult:
    """What :func:`cli` gives back: the fields of ``subprocess.CompletedProcess`` that tests read."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    """``bench.cli.main`` called in this process, for input errors caught before Ray starts: no
    interpreter start and imports per call, as :func:`run_cli` pays. Called like ``run_cli``:
    ``cli("run", "--family", "svm", env={...}, cwd=path)``. argparse's ``SystemExit`` becomes the
    return code, what the command wrote to sys.stdout and sys.stderr the two streams.

    ``ray.init`` raises while it runs, so a check that no longer refuses the input fails the test
    at once instead of running a search inside pytest; the signal handlers ``bench run``
    installs are put back after the call."""
    import ray

    from bench.cli import main

    def no_ray(*args: object, **kwargs: object) -> None:
        raise AssertionError("ray.init called: the in-process CLI runner is for input refused before Ray starts")

    def call(*args: str, cwd: Path | None = None, env: dict | None = None) -> CliResult:
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        if cwd is not None:
            monkeypatch.chdir(cwd)
        monkeypatch.setattr(ray, "init", no_ray)
        handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
        capsys.readouterr()  # only this call's output
        message = ""
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse: --help (0) or a bad argument (2)
            code = exit_.code if isinstance(exit_.code, int) else 0 if exit_.code is None else 1
            message = exit_.code if isinstance(exit_.code, str) else ""  # as the interpreter prints it
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
        out, err = capsys.readouterr()
        return CliResult(returncode=code, stdout=out, stderr=err + (message + "\n" if message else ""))

    return call


def one_layer_mlp_space(folder: Path, *, hidden_units: int, epochs: int, batch_size: int, **more: dict) -> Path:
    """Write a small one-hidden-layer ``mlp.yaml`` into ``folder`` (for ``--space-dir``): fixed
    width, epochs and batch size so trial cost is predictable, plus the specs in ``more``."""
    fixed = {"hidden_units": hidden_units, "layers": 1, "epochs": epochs, "batch_size": batch_size}
    params = {name: {"type": "fixed", "value": value} for name, value in fixed.items()} | more
    folder.mkdir(exist_ok=True)
    default = {name: spec["choices"][0] if spec["type"] == "categorical" else spec["low"]
               for name, spec in more.items() if spec["type"] != "fixed"}
    (folder / "mlp.yaml").write_text(yaml.safe_dump({"params": params, "default": default}, sort_keys=False))
    return folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``stops_shared`` end a session fixture others use (test_serve's SIGINT test
    stops the shared ``bench serve``): they run last, whatever order the files were given in.
    Files with slow tests come first, so that with two workers the quick files fill the end."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: (item.get_closest_marker("stops_shared") is not None, item.path not in slow_files))  # stable


#: Files that import a session fixture of another file run in that file's pytest-xdist worker,
#: so the fixture (several runs, or a served one) is built once.
RUNS_WITH = {"test_browser_report.py": "test_report.py", "test_browser_serve.py": "test_serve.py"}


def worker_scope(nodeid: str) -> str:
    """The unit of work a worker takes whole: a test's file, or the file it runs with."""
    folder, _, name = nodeid.split("::", 1)[0].rpartition("/")
    return f"{folder}/{RUNS_WITH.get(name, name)}"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist's ``--dist loadfile`` with :func:`worker_scope` for its files, in collection
    order. (xdist's own ``--dist loadgroup`` puts every test in a group of its own under pytest
    9: the group it appends to ``item._nodeid`` does not show in ``item.nodeid``.) Private to
    xdist 3.8: ``_split_scope``, overridden as its own schedulers do (tests/test_worker_scopes.py)."""
    from xdist.scheduler import LoadFileScheduling

    class FilesSharingFixtures(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return worker_scope(nodeid)

    config.option.loadscopereorder = False  # xdist would put the files with the most tests first
    return FilesSharingFixtures(config, log)


#: Debian's Chromium (or BENCH_CHROMIUM) for the browser tests of the report and of bench serve's page.
CHROMIUM = next(
    (
        p
        for p in (os.environ.get("BENCH_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
        if p and Path(p).is_file()
    ),
    None,
)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium driven by playwright; the test is skipped, with the reason, without one."""
    if CHROMIUM is None:
        pytest.skip("no Chromium installed (apt-get install chromium, or set BENCH_CHROMIUM=/path/to/chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install '.[test]')")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
