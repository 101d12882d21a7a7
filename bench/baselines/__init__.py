"""Published baselines as data: one YAML file per source, checked against ``schema.json``.

Each source carries its citation, its protocol (split, training size, scaling, repeats), a
tolerance for the reproduction verdict and its rows (classifier, parameters, published test
accuracy per dataset, machine-readable preprocessing). ``bench reproduce`` re-runs them; the
leaderboard puts the published number of the same protocol beside each family's row
(:func:`comparable_published`), or names the protocol when none matches.

>>> from bench.baselines import best_published, list_sources
>>> "zalando" in list_sources()
True
>>> best_published("digits", "svm")["accuracy"]
0.968854
"""

from __future__ import annotations

import copy
import json
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import yaml

from bench.baselines.protocol import Protocol, differences, published_protocol, run_protocol
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
        entry.name.removesuffix(".yaml") for entry in resources.files(_PACKAGE).iterdir() if entry.name.endswith(".yaml")
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


def _safe_yaml(text: str) -> Any:
    """YAML read by a safe loader only (plain data, no Python objects): libyaml's where PyYAML
    has it, since the pure-Python one took a second for these files."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


@cache
def _load_cached(name: str) -> dict[str, Any]:
    file = resources.files(_PACKAGE).joinpath(f"{name}.yaml")
    try:
        data = _safe_yaml(file.read_text(encoding="utf-8"))
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


def published_rows(dataset: str, family: str) -> list[dict[str, Any]]:
    """Every published number for a bench ``family`` on ``dataset``, each with its :class:`Protocol`.

    Plain data for the report (``protocol`` is the only object): accuracy, source, classifier,
    params, citation, url, baseline_id, stand_in (a related method standing in for the family),
    rerun, preprocessing (the published wording, None for raw pixels).
    """
    out = []
    for name in list_sources():
        source = _load_cached(name)
        for row in source["rows"]:
            if row.get("family") != family or dataset not in row["published"]:
                continue
            out.append(
                {
                    "accuracy": float(row["published"][dataset]),
                    "source": name,
                    "classifier": row["classifier"],
                    "params": _params_text(row),
                    "citation": " ".join(source["citation"].split()),
                    "url": source.get("url"),
                    "baseline_id": row["id"],
                    "stand_in": bool(row.get("stand_in", False)),
                    "rerun": bool(source["rerun"]),
                    "preprocessing": row.get("preprocessing"),
                    "protocol": published_protocol(source, row, dataset),
                }
            )
    return out


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("protocol", "preprocessing")}


def best_published(dataset: str, family: str, *, include_preprocessed: bool = False) -> dict[str, Any] | None:
    """The best published test accuracy for a bench ``family`` on ``dataset``, across sources.

    Rows whose method adds preprocessing, augmentation or ensembling beyond raw pixels (deskewing,
    elastic distortions, committees) are left out unless ``include_preprocessed``: a family that
    searches on raw pixels is compared with results on raw pixels. Rows where a related method
    stands in for the family (gradient boosting for lightgbm) count, flagged ``stand_in``.
    Returns None when no source publishes a number for the pair. This ignores the protocol
    (split, training size, scaling): :func:`comparable_published` is what the leaderboard uses.
    """
    rows = [r for r in published_rows(dataset, family) if include_preprocessed or not r["preprocessing"]]
    best = max(rows, key=lambda r: r["accuracy"], default=None)  # max keeps the first of equals
    return None if best is None else _public(best)


def comparable_published(run: Protocol, family: str) -> dict[str, Any] | None:
    """The published number to show beside a run of ``family`` under protocol ``run``.

    The best published number measured under the same protocol, with ``comparable`` True; else
    the number whose protocol differs least (then the best of those), with ``comparable`` False
    and ``note`` saying what differs: its difference from the run must not be computed. Both
    carry ``protocol`` as text. None when nothing is published for the family and dataset.
    """
    rows = [(r, differences(run, r["protocol"], family)) for r in published_rows(run.dataset, family)]
    if not rows:
        return None
    row, different = min(rows, key=lambda pair: (len(pair[1]), -pair[0]["accuracy"]))
    return {
        **_public(row),
        "protocol": row["protocol"].describe(),
        "comparable": not different,
        "note": "; ".join(different) or None,
    }


__all__ = [
    "DATASETS",
    "FAMILIES",
    "Protocol",
    "best_published",
    "comparable_published",
    "list_sources",
    "load_source",
    "published_rows",
    "run_protocol",
    "schema",
    "validate_source",
]
