"""What a run needs to be reproduced: command, versions, git revision, hardware, seeds, data."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("bench", "ray", "optuna", "scikit-learn", "numpy", "pandas", "pyarrow", "plotly", "lightgbm", "torch", "threadpoolctl")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


@functools.cache
def git_revision() -> str | None:
    """The commit of the bench source tree, with ``-dirty`` when it has local changes.

    Read once per process, when a run starts: a run that lasts while the tree moves on records
    the code it runs, not the commit checked out when it ends."""
    source = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, timeout=5)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=source, capture_output=True, text=True, timeout=5)
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
    }
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gib"] = round(pages * page_size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return info


def build_manifest(**fields: Any) -> dict[str, Any]:
    """The common part of every manifest plus the run-specific ``fields``."""
    return {
        "command": " ".join([Path(sys.argv[0]).name if sys.argv else "bench", *sys.argv[1:]]),
        "argv": sys.argv,
        "versions": library_versions(),
        "git_revision": git_revision(),
        "hardware": hardware(),
        **fields,
    }
