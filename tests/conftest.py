"""Shared fixtures: the real MNIST files in ../shared/data, and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
