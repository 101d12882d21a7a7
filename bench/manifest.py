"""What a run needs to be reproduced: command, versions, git revision, hardware, seeds, data."""

from __future__ import annotations

import functools
import json
import math
import os
import platform
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.errors import BenchInputError
from bench.safe_io import one_line

PACKAGES = (
    "bench",
    "ray",
    "optuna",
    "scikit-learn",
    "numpy",
    "pandas",
    "pyarrow",
    "plotly",
    "lightgbm",
    "torch",
    "threadpoolctl",
    "pillow",
    "skops",  # saved models (bench.models)
    "safetensors",
)


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
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=source, capture_output=True, text=True, timeout=5
        )
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


# ---------------------------------------------------------------------------------- reading back
#: A run id bench writes: letters, digits, ``_ . -`` (see ``make_run_id``); nothing a path,
#: a shell or a terminal would read as more than a name.
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")


def read_manifest(run_dir: Path, strict_run_id: bool = True) -> dict[str, Any]:
    """``run_dir/manifest.json`` as a dict: a regular file of bounded size, a JSON object with
    a string ``run_id`` (a safe name when ``strict_run_id``), or one clear error line."""
    from bench.safe_io import read_json

    path = Path(run_dir) / "manifest.json"
    manifest = read_json(path)
    if not isinstance(manifest, dict):
        raise BenchInputError(f"{path} is not a run manifest (a JSON object expected, found {type(manifest).__name__})")
    run_id = manifest.get("run_id")
    if not isinstance(run_id, str) or not run_id or len(run_id) > 200:
        raise BenchInputError(f"{path} names no run (its run_id is missing or not a short string)")
    if strict_run_id and not RUN_ID.fullmatch(run_id):
        raise BenchInputError(f"{path}: run_id {one_line(run_id)!r} is not a run id bench writes (letters, digits, _ . - only)")
    _check_shape(manifest, path)
    return manifest


def _is(value: Any, *types: type) -> bool:
    """``value`` is None or one of ``types`` (a bool is not a number here)."""
    if value is None:
        return True
    if isinstance(value, bool) and bool not in types:
        return False
    if isinstance(value, float) and not math.isfinite(value):  # JSON's Infinity and NaN
        return False
    return isinstance(value, types)


#: The fields readers (load, the report, resume) use, and the types they must have.
_SHAPE: dict[str, tuple[type, ...]] = {
    "kind": (str,),
    "name": (str,),
    "status": (str,),
    "started_at": (str,),
    "finished_at": (str,),
    "command": (str,),
    "git_revision": (str,),
    "options": (dict,),
    "dataset": (dict, str),
    "search_spaces": (dict,),
    "cluster": (dict,),
    "versions": (dict,),
    "hardware": (dict,),
    "seeds": (list,),
    "families": (list,),
    "models": (dict,),  # saved models by stem (bench.models.store.index)
}
_DATASET_SHAPE: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "source": (str,),
    "sizes": (dict,),
    "class_names": (list,),
    "checksums_sha256": (dict,),
    "validation": (str,),
    "validation_fraction": (int, float),
    "image_shape": (list,),
    "path": (str,),
    "content_sha256": (str,),
    "channels": (int,),
    "class_counts": (dict,),
    "duplicates": (dict,),
    "search_space_notes": (list,),
}
_OPTION_SHAPE: dict[str, tuple[type, ...]] = {
    "trials": (int,),
    "time_budget_s": (int, float),
    "sampler": (str,),
    "scheduler": (str,),
    "reproducible": (bool,),
    "data_dir": (str,),
    "space_dir": (str,),
    "dataset": (str,),
}


def _check_shape(manifest: dict[str, Any], path: Path) -> None:
    """Refuse, in one line, a manifest whose fields have types no bench run writes."""

    def wrong(where: str, value: Any, types: tuple[type, ...]) -> BenchInputError:
        if isinstance(value, float) and not math.isfinite(value):
            return BenchInputError(f"{path}: {where} is {value}, not a finite number (not a manifest bench writes)")
        names = " or ".join(
            dict.fromkeys(
                {
                    "dict": "an object",
                    "list": "a list",
                    "str": "text",
                    "int": "a number",
                    "float": "a number",
                    "bool": "true/false",
                }[t.__name__]
                for t in types
            )
        )
        return BenchInputError(f"{path}: {where} is {type(value).__name__}, not {names} (not a manifest bench writes)")

    def check(fields: dict[str, Any], shape: dict[str, tuple[type, ...]], prefix: str = "") -> None:
        for key, types in shape.items():
            if not _is(fields.get(key), *types):
                raise wrong(f"{prefix}{key}", fields[key], types)

    check(manifest, _SHAPE)
    dataset = manifest.get("dataset")
    if isinstance(dataset, dict):
        check(dataset, _DATASET_SHAPE, "dataset.")
        sizes = dataset.get("sizes") or {}
        check(sizes, dict.fromkeys(sizes, (int,)), "dataset.sizes.")
    check(manifest.get("options") or {}, _OPTION_SHAPE, "options.")
    spaces = manifest.get("search_spaces") or {}
    check(spaces, dict.fromkeys(spaces, (str,)), "search_spaces.")


def _bad(key: str, value: Any, expected: str) -> BenchInputError:
    return BenchInputError(
        f"manifest option {key}={one_line(json.dumps(value, default=str))[:80]} is not valid: {expected} "
        f"(the run folder was edited or is not a bench run)"
    )


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


#: Saved option -> (check, what is valid): the command line's own rules for each option.
_CHECKS: dict[str, tuple[Any, str]] = {
    "families": (
        lambda v: isinstance(v, list) and v and all(isinstance(f, str) and 0 < len(f) <= 200 for f in v),
        "a non-empty list of family names",
    ),
    "dataset": (lambda v: isinstance(v, str) and 0 < len(v) <= 4096, "a dataset name or path"),
    "drop_test_duplicates": (lambda v: isinstance(v, bool), "true or false"),
    "image_size": (
        lambda v: v is None or (isinstance(v, str) and re.fullmatch(r"[0-9]{1,4}x[0-9]{1,4}", v) is not None and _sides_fit(v)),
        "HxW (pixels, each side 1 to 1024), or null",
    ),
    "trials": (lambda v: v is None or (_int(v) and v >= 1), "a whole number of at least 1, or null"),
    "time_budget_s": (lambda v: v is None or (_number(v) and v > 0), "a positive number of seconds, or null"),
    "seeds": (
        lambda v: isinstance(v, list) and v and all(_int(s) and 0 <= s < 2**32 for s in v) and len(set(v)) == len(v),
        "a non-empty list of distinct integers from 0 to 2**32-1",
    ),
    "sampler": (lambda v: isinstance(v, str) and 0 < len(v) <= 100, "a sampler name"),
    "cpus_per_trial": (lambda v: _int(v) and v >= 1, "a whole number of at least 1"),
    "gpus_per_trial": (lambda v: _number(v) and v >= 0, "0 or a positive number"),
    "scheduler": (lambda v: isinstance(v, str) and 0 < len(v) <= 100, "a scheduler name"),
    "max_concurrent": (lambda v: v is None or (_int(v) and v >= 1), "a whole number of at least 1, or null"),
    "max_failures": (lambda v: _int(v) and v >= 0, "a whole number of at least 0"),
    "checkpoint_interval_s": (lambda v: _number(v) and v >= 0, "0 or a positive number of seconds"),
    "train_size": (lambda v: v is None or (_int(v) and v >= 1), "a whole number of at least 1, or null"),
    "name": (lambda v: v is None or (isinstance(v, str) and len(v) <= 200), "a short text, or null"),
    "reproducible": (lambda v: isinstance(v, bool), "true or false"),
    "with_start": (lambda v: isinstance(v, bool), "true or false"),
    "suite": (lambda v: v is None or (isinstance(v, str) and 0 < len(v) <= 100), "a suite name and version, or null"),
    "data_dir": (lambda v: v is None or isinstance(v, str), "a path, or null"),
    "space_dir": (lambda v: v is None or isinstance(v, str), "a path, or null"),
}
#: Saved options that are never taken from a folder: where to connect and where to write.
NOT_FROM_A_FOLDER = ("address", "storage", "results_dir", "command", "progress")


def saved_options(
    manifest: dict[str, Any],
    run_dir: Path,
    *,
    address: str | None = None,
    storage: str | None = None,
    data_dir: Path | None = None,
    space_dir: Path | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The options a run folder's manifest saved, checked like the command line, for a resume.

    Returns (option values, notes for the user). ``address`` and ``storage`` are never taken
    from the folder: the caller's (the user's ``--address``/``--storage`` again) or none, the
    local defaults. ``results_dir`` is the run folder's parent. A saved ``data_dir`` or
    ``space_dir`` is used only inside the run folder or when given again: outside it, the data
    is looked up the usual way (its checksums are verified wherever it comes from) and a
    custom search-space folder must be passed again with ``--space-dir``."""
    from bench.safe_io import inside

    saved = manifest.get("options")
    if not isinstance(saved, dict):
        raise BenchInputError(f"{Path(run_dir) / 'manifest.json'} holds no options object; not a bench run folder")
    values: dict[str, Any] = {}
    for key, (check, expected) in _CHECKS.items():
        if key in saved:
            if not check(saved[key]):
                raise _bad(key, saved[key], expected)
            values[key] = saved[key]
    values.update(address=address, storage=storage, results_dir=Path(run_dir).resolve().parent)
    if "cpus_per_trial" in values:  # as the command line does, before the dataset is loaded
        from bench.cluster import check_cpus_per_trial

        check_cpus_per_trial(values["cpus_per_trial"], address, "manifest option cpus_per_trial")
    notes: list[str] = []
    if data_dir is not None:
        values["data_dir"] = Path(data_dir)
    elif values.get("data_dir"):
        if inside(values["data_dir"], run_dir):
            values["data_dir"] = Path(os.path.realpath(Path(run_dir) / values["data_dir"]))
        else:
            notes.append(
                f"the run read its data from {values['data_dir']}, outside the run folder: not used; the dataset "
                f"is looked up as usual and checked against its checksums (pass --data-dir again to use that folder)"
            )
            values["data_dir"] = None
    if values.get("dataset") and _names_a_path(values["dataset"]):
        # a user's dataset (a path): like data_dir, used inside the folder or when given again
        if data_dir is not None:
            values["dataset"], values["data_dir"] = str(Path(data_dir).resolve()), None
        elif inside(values["dataset"], run_dir):
            values["dataset"] = os.path.realpath(Path(run_dir) / values["dataset"])
        else:
            raise BenchInputError(
                f"the run read its dataset from {one_line(values['dataset'])[:200]}, outside the run folder; bench does "
                f"not follow paths from a run folder: pass --data-dir with that path again to resume"
            )
    if space_dir is not None:
        values["space_dir"] = Path(space_dir)
    elif values.get("space_dir"):
        if not inside(values["space_dir"], run_dir):
            raise BenchInputError(
                f"the run searched the spaces in {one_line(values['space_dir'])}, outside the run folder; "
                f"bench does not follow paths from a run folder: pass --space-dir again to resume"
            )
        values["space_dir"] = Path(os.path.realpath(Path(run_dir) / values["space_dir"]))
        _check_space_files(values["space_dir"])
    return values, notes


def _sides_fit(size: str) -> bool:
    from bench.cli import MAX_IMAGE_SIDE

    return all(1 <= int(side) <= MAX_IMAGE_SIDE for side in size.split("x"))


def _names_a_path(dataset: str) -> bool:
    """Whether a saved ``dataset`` option is a path (a user's dataset), not a registered name."""
    from bench.datasets import list_datasets

    return dataset not in list_datasets()


def _check_space_files(folder: Path) -> None:
    """The search-space files of a folder inside a run folder: regular files of bounded size (a
    FIFO named ``svm.yaml`` would hang the reader)."""
    from bench.safe_io import MAX_JSON_BYTES, check_regular, human

    if not folder.is_dir():
        raise BenchInputError(f"the run's space_dir {folder} is not a folder")
    for path in sorted(folder.glob("*.yaml")):
        if check_regular(path).st_size > MAX_JSON_BYTES:
            raise BenchInputError(f"{path} is larger than the {human(MAX_JSON_BYTES)} bench reads from a search-space file")
