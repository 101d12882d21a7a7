"""Which rows to run: sources, datasets and ``--only`` patterns turned into validated jobs.

Everything a user can get wrong is checked here, before Ray starts or data loads, and each
error names the bad value and the valid ones.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

from bench.baselines import DATASETS, list_sources, load_source
from bench.errors import BenchInputError
from bench.reproduce.estimator import class_name, resolve


@dataclass(frozen=True)
class PlannedRow:
    """One published number to reproduce: a source row on one dataset."""

    source: str
    baseline_id: str
    classifier: str
    family: str | None
    dataset: str
    published: float
    tolerance: float
    protocol: dict[str, Any]
    spec: dict[str, Any]
    repeats: int
    published_params: str = ""
    published_as: str = ""
    stand_in: bool = False
    notes: str = ""
    citation: str = ""
    url: str | None = None

    @property
    def seeds(self) -> list[int]:
        """Repeat i uses seed i: seed 0 is the published one where the source fixed a seed."""
        return list(range(self.repeats))

    @property
    def family_label(self) -> str:
        return self.family or self.classifier


@dataclass(frozen=True)
class ReferenceRow:
    """A row of a reference-only source (LeCun's table): shown, never run."""

    source: str
    baseline_id: str
    classifier: str
    family: str | None
    dataset: str
    published: float
    published_as: str = ""
    preprocessing: str | None = None


@dataclass
class Plan:
    rows: list[PlannedRow] = field(default_factory=list)
    references: list[ReferenceRow] = field(default_factory=list)

    @property
    def datasets(self) -> list[str]:
        return sorted({r.dataset for r in self.rows})

    @property
    def sources(self) -> list[str]:
        return sorted({r.source for r in self.rows} | {r.source for r in self.references})


def parse_names(values: list[str] | None) -> list[str]:
    """Repeatable, comma-separated option values, in order, without duplicates."""
    names: list[str] = []
    for value in values or []:
        for name in value.split(","):
            name = name.strip()
            if name and name not in names:
                names.append(name)
    return names


def resolve_sources(values: list[str] | None) -> list[str]:
    valid = list_sources()
    names = parse_names(values)
    if not names:
        raise BenchInputError(f"no --source given; valid sources: {', '.join(valid)}, all (or --list to see them)")
    if "all" in names:
        return valid
    for name in names:
        if name not in valid:
            raise BenchInputError(f"unknown baseline source {name!r}; valid sources: {', '.join(valid)}, all")
    return names


def effective_spec(source: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """The row's estimator spec with the source's library defaults of the time merged under it."""
    defaults = source.get("defaults", {})
    main_defaults = defaults.get(row["classifier"], defaults.get(class_name(row["estimator"]), {}))
    spec: dict[str, Any] = {"estimator": row["estimator"], "params": {**main_defaults, **row.get("params", {})}}
    if row.get("wrap"):
        spec["wrap"] = row["wrap"]
    if row.get("steps"):
        spec["steps"] = [
            {"estimator": s["estimator"], "params": {**defaults.get(class_name(s["estimator"]), {}), **s["params"]}}
            for s in row["steps"]
        ]
    return spec


def _matches(row: dict[str, Any], patterns: list[str]) -> bool:
    keys = [row["id"].lower(), row["classifier"].lower()]
    return any(fnmatch.fnmatchcase(key, p.lower()) for p in patterns for key in keys)


def make_plan(
    sources: list[str] | None,
    datasets: list[str] | None = None,
    only: list[str] | None = None,
    repeats: int | None = None,
) -> Plan:
    """Validate the selection and expand it into rows (run) and references (shown only)."""
    if repeats is not None and repeats < 1:
        raise BenchInputError(f"--repeats {repeats} is not valid; use a whole number of at least 1 (repeat i uses seed i)")
    names = resolve_sources(sources)
    wanted = parse_names(datasets)
    for dataset in wanted:
        if dataset not in DATASETS:
            raise BenchInputError(f"unknown dataset {dataset!r}; valid datasets: {', '.join(DATASETS)}")
    patterns = parse_names(only)
    plan = Plan()
    for name in names:
        source = load_source(name)
        published_sets = sorted({d for row in source["rows"] for d in row["published"]})
        chosen = [d for d in (wanted or published_sets) if d in published_sets]
        if wanted and not chosen:
            if len(names) == 1:
                raise BenchInputError(
                    f"source {name!r} publishes no numbers for --dataset {', '.join(wanted)}; its datasets: {', '.join(published_sets)}"
                )
            continue
        for row in source["rows"]:
            if patterns and not _matches(row, patterns):
                continue
            for dataset in chosen:
                if dataset not in row["published"]:
                    continue
                if not source["rerun"]:
                    plan.references.append(
                        ReferenceRow(
                            source=name,
                            baseline_id=row["id"],
                            classifier=row["classifier"],
                            family=row.get("family"),
                            dataset=dataset,
                            published=float(row["published"][dataset]),
                            published_as=row.get("published_as", ""),
                            preprocessing=row.get("preprocessing"),
                        )
                    )
                    continue
                protocol = {**source["protocol"], **row.get("protocol", {})}
                spec = effective_spec(source, row)
                resolve(spec["estimator"])
                plan.rows.append(
                    PlannedRow(
                        source=name,
                        baseline_id=row["id"],
                        classifier=row["classifier"],
                        family=row.get("family"),
                        dataset=dataset,
                        published=float(row["published"][dataset]),
                        tolerance=float(source["tolerance"]),
                        protocol=protocol,
                        spec=spec,
                        repeats=repeats or int(protocol.get("repeats", 1)),
                        published_params=row.get("published_params", ""),
                        published_as=row.get("published_as", ""),
                        stand_in=bool(row.get("stand_in", False)),
                        notes=" ".join(row.get("notes", "").split()),
                        citation=" ".join(source["citation"].split()),
                        url=source.get("url"),
                    )
                )
    if not plan.rows and not plan.references:
        _nothing_matched(names, patterns, wanted)
    return plan


def _nothing_matched(names: list[str], patterns: list[str], wanted: list[str]) -> None:
    classifiers: list[str] = []
    for name in names:
        for row in load_source(name)["rows"]:
            if row["classifier"] not in classifiers:
                classifiers.append(row["classifier"])
    where = f"source {', '.join(names)}" + (f" on {', '.join(wanted)}" if wanted else "")
    shown = ", ".join(classifiers[:20]) + (", ..." if len(classifiers) > 20 else "")
    raise BenchInputError(
        f"--only {' '.join(repr(p) for p in patterns)} matches no row of {where}; "
        f"patterns match row ids or classifiers: {shown} (see --list for row ids)"
    )
