"""Published baselines as data: one YAML file per source, checked against ``schema.json``.

Each source carries its citation, its protocol (split, scaling, repeats), a tolerance for the
reproduction verdict and its rows (classifier, parameters, published test accuracy per
dataset). ``bench reproduce`` re-runs them; the report puts the best published number beside
each family's leaderboard row.

>>> from bench.baselines import best_published, list_sources
>>> "zalando" in list_sources()
True
>>> best_published("digits", "svm")["accuracy"]
0.968854
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from bench.errors import BenchInputError

#: Bench family names a row may map to (``family: null`` rows map to none of them).
FAMILIES = ("logreg", "svm", "knn", "tree", "forest", "lightgbm", "mlp", "cnn")
#: Datasets a row may publish a number for.
DATASETS = ("mnist", "fashion-mnist", "digits")

_PACKAGE = "bench.baselines"


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The JSON Schema every source file must satisfy."""
    return json.loads(resources.files(_PACKAGE).joinpath("schema.json").read_text(encoding="utf-8"))


def list_sources() -> list[str]:
    """Names of the shipped sources, sorted (``notebook``, ``zalando``, ...)."""
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in resources.files(_PACKAGE).iterdir()
        if entry.name.endswith(".yaml")
    )


def validate_source(data: Any, origin: str = "<data>") -> None:
    """Raise :class:`BenchInputError` naming the first place ``data`` breaks the schema."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(top level)"
        raise BenchInputError(f"baseline file {origin} is invalid at {where}: {first.message}")
    ids = [row["id"] for row in data["rows"]]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise BenchInputError(f"baseline file {origin} repeats row ids: {', '.join(duplicates)}")


@lru_cache(maxsize=None)
def _load_cached(name: str) -> dict[str, Any]:
    file = resources.files(_PACKAGE).joinpath(f"{name}.yaml")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise BenchInputError(f"baseline file {name}.yaml is malformed YAML: {exc}") from None
    validate_source(data, f"{name}.yaml")
    if data["name"] != name:
        raise BenchInputError(f"baseline file {name}.yaml names itself {data['name']!r}")
    return data


def load_source(name: str) -> dict[str, Any]:
    """The parsed, validated source ``name`` (a fresh copy: callers may change it)."""
    valid = list_sources()
    if name not in valid:
        raise BenchInputError(f"unknown baseline source {name!r}; valid sources: {', '.join(valid)}")
    return copy.deepcopy(_load_cached(name))


def _params_text(row: dict[str, Any]) -> str:
    if row.get("published_params"):
        return str(row["published_params"])
    params = row.get("params") or {}
    return " ".join(f"{k}={v}" for k, v in params.items())


def best_published(dataset: str, family: str, *, include_preprocessed: bool = False) -> dict[str, Any] | None:
    """The best published test accuracy for a bench ``family`` on ``dataset``, across sources.

    Rows whose method adds preprocessing, augmentation or ensembling beyond raw pixels (deskewing,
    elastic distortions, committees) are left out unless ``include_preprocessed``: a family that
    searches on raw pixels is compared with results on raw pixels. Rows where a related method
    stands in for the family (gradient boosting for lightgbm) count, flagged ``stand_in``.
    Returns None when no source publishes a number for the pair.
    """
    best: dict[str, Any] | None = None
    for name in list_sources():
        source = _load_cached(name)
        for row in source["rows"]:
            if row.get("family") != family or dataset not in row["published"]:
                continue
            if row.get("preprocessing") and not include_preprocessed:
                continue
            accuracy = float(row["published"][dataset])
            if best is None or accuracy > best["accuracy"]:
                best = {
                    "accuracy": accuracy,
                    "source": name,
                    "classifier": row["classifier"],
                    "params": _params_text(row),
                    "citation": " ".join(source["citation"].split()),
                    "url": source.get("url"),
                    "baseline_id": row["id"],
                    "stand_in": bool(row.get("stand_in", False)),
                    "rerun": bool(source["rerun"]),
                }
    return best


__all__ = ["DATASETS", "FAMILIES", "best_published", "list_sources", "load_source", "schema", "validate_source"]
