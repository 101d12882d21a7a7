"""The code checks CI runs: ruff's lint and format, and mypy, over ``bench/`` with the settings
in pyproject.toml (run here so that the README's test command is the whole of CI)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

CHECKS = {
    "ruff-lint": ["ruff", "check", "bench"],
    "ruff-format": ["ruff", "format", "--check", "bench"],
    "mypy": [sys.executable, "-m", "mypy"],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CHECKS))
def test_code_check_passes(name: str) -> None:
    command = CHECKS[name]
    if command[0] == "ruff":
        ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
        if ruff is None:
            pytest.skip("ruff is not installed (pip install '.[test]')")
        command = [ruff, *command[1:]]
    elif shutil.which("mypy", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("mypy is not installed (pip install '.[test]')")
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout}\n{done.stderr}"
