"""The report's "Search methods" section, on run folders written from hand-made tables (no Ray)
and read back through bench.load with its checks.

``comparison_run`` is also what the browser test opens.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_method_stats import FINALS, SCORES, C, final_rows, trial_rows

import bench
from bench.methods import across_problems, methods_table
from bench.report import render
from bench.report.build import build_sections
from bench.report.page import Figure, Html, Note, Section, figures

RUN = "methods-run"
HOSTILE = "<script>alert(1)</script>"
SAMPLERS = ("random", "tpe", "gp")
FAMILIES = ("svm", "knn", "tree")
SAMPLERS_LABELS = {f"{s}/none" for s in SAMPLERS}
#: The hand-worked problem of test_method_stats: svm on digits, 1,437 training images, 4 trials.
SVM = "digits-svm-1437-4-trials"


def generated(family: str, samplers: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two seeds of 4 completed trials per sampler; tpe a little better than gp, gp than random."""
    rng = np.random.default_rng(len(family))
    shift = {"random": 0.0, "gp": 0.015, "tpe": 0.03}
    scores = {
        (s, seed): [(C, float(v)) for v in np.round(0.85 + shift.get(s, 0.0) + rng.uniform(0, 0.05, 4), 4)]
        for s in samplers
        for seed in (0, 1)
    }
    return trial_rows(scores, family=family), final_rows({k: (C, 0.9, 5.0) for k in scores}, family=family)


def comparison_tables(
    samplers: tuple[str, ...] = SAMPLERS, families: tuple[str, ...] = FAMILIES
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """svm: the hand-worked problem; the other families generated."""
    parts = [
        (
            trial_rows({k: v for k, v in SCORES.items() if k[0] in samplers}),
            final_rows({k: v for k, v in FINALS.items() if k[0] in samplers}),
        )
    ]
    parts += [generated(f, samplers) for f in families if f != "svm"]
    return pd.concat([t for t, _ in parts], ignore_index=True), pd.concat([f for _, f in parts], ignore_index=True)


def write_run(root: Path, trials: pd.DataFrame, final: pd.DataFrame, run_id: str = RUN) -> Path:
    """A run folder as bench writes one: manifest, trials and final tables naming the run."""
    folder = root / run_id
    folder.mkdir(parents=True)
    manifest = {
        "run_id": run_id,
        "name": "methods",
        "kind": "search",
        "status": "finished",
        "dataset": {"name": "digits"},
        "options": {"trials": 4, "reproducible": False},
        "seeds": [0, 1],
        "families": sorted(set(final["family"])),
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    trials.assign(run_id=run_id).to_parquet(folder / "trials.parquet", index=False)
    final.assign(run_id=run_id).to_parquet(folder / "final.parquet", index=False)
    return folder


def comparison_run(root: Path, samplers: tuple[str, ...] = SAMPLERS, families: tuple[str, ...] = FAMILIES) -> Path:
    return write_run(root, *comparison_tables(samplers, families))


def methods_section(sections: list[Section]) -> Section | None:
    return next((s for s in sections if s.title == "Search methods"), None)


def test_section_shows_each_problem_and_the_comparison(tmp_path: Path) -> None:
    results = bench.load(comparison_run(tmp_path))
    section = methods_section(build_sections(results))
    assert section is not None
    slugs = {b.slug for b in section.blocks if isinstance(b, Figure)}
    for family in FAMILIES:
        problem = SVM.replace("svm", family)
        assert {f"methods-trials-{problem}", f"methods-seconds-{problem}"} <= slugs
    assert "methods-cd" in slugs  # 3 methods on 3 problems: enough for a Friedman test
    tables = [html.unescape(b.markup) for b in section.blocks if isinstance(b, Html)]
    svm = next(t for t in tables if "svm on digits · 1,437 train · 4 trials" in t)
    # tpe: mean best .9400, ± .1271, normalized 76.5, ranks 2.75 / 2.00 / 1.50 (worked out in test_method_stats)
    assert "<td>tpe/none</td><td>2</td><td>4</td><td>0.9400</td><td>0.1271</td><td>0.9400</td><td>76.5</td>" in svm
    assert "<td>2.75</td><td>2.00</td><td>1.50</td>" in svm
    comparison = across_problems(methods_table(results.trials, results.final))
    notes = [b.text for b in section.blocks if isinstance(b, Note)]
    assert comparison.test == "friedman" and comparison.note in notes
    ranks = next(t for t in tables if "Across problems" in t)
    for method, rank in comparison.ranks.items():
        assert f"<td>{method}</td><td>{rank:.2f}</td><td>3</td>" in ranks


def test_curves_are_the_mean_over_seeds_with_a_band(tmp_path: Path) -> None:
    section = methods_section(build_sections(bench.load(comparison_run(tmp_path))))
    assert section is not None
    by_slug = {b.slug: b.figure for b in section.blocks if isinstance(b, Figure)}
    figure = by_slug[f"methods-trials-{SVM}"]
    line = next(t for t in figure.data if t.name == "tpe/none")
    # tpe seed 0: .80 .90 .95 .95; seed 1: (pruned) .88 .92 .93; drawn once both seeds have a completed trial
    assert list(line.x) == [2.0, 3.0, 4.0] and list(line.y) == pytest.approx([0.89, 0.935, 0.94])
    bands = [t for t in figure.data if t.name == "tpe/none 95% band"]
    assert [t.fill for t in bands] == [None, "tonexty"]
    assert "95% Student-t interval of the mean over seeds" in figure.layout.title.text
    cd = by_slug["methods-cd"]
    marks = {t.name: t.x[0] for t in cd.data if t.name in SAMPLERS_LABELS}
    comparison = across_problems(methods_table(*comparison_tables()))
    assert marks == pytest.approx(comparison.ranks)
    assert any(
        t.name.startswith("critical difference") and t.x[1] - t.x[0] == pytest.approx(comparison.cd) for t in cd.data if t.name
    )


def test_too_few_problems_show_the_note_and_no_diagram(tmp_path: Path) -> None:
    section = methods_section(build_sections(bench.load(comparison_run(tmp_path, families=("svm", "knn")))))
    assert section is not None
    assert not any(isinstance(b, Figure) and b.slug == "methods-cd" for b in section.blocks)
    assert any(isinstance(b, Note) and "too few for a Friedman test" in b.text for b in section.blocks)


def test_a_run_with_one_method_has_no_section(tmp_path: Path) -> None:
    sections = build_sections(bench.load(comparison_run(tmp_path, samplers=("tpe",))))
    assert methods_section(sections) is None
    assert not [f for f in figures(sections) if f.slug.startswith("methods-")]
    assert sections  # the rest of the report is built


def test_method_names_are_escaped(tmp_path: Path) -> None:
    trials, final = comparison_tables()
    run = write_run(tmp_path, trials.replace({"gp": HOSTILE}), final.replace({"gp": HOSTILE}))
    results = bench.load(run)
    page = render(results, "methods")
    assert HOSTILE not in page and html.escape(f"{HOSTILE}/none") in page
    section = methods_section(build_sections(results))
    assert section is not None
    for block in section.blocks:
        if isinstance(block, Figure):
            names = [t.name or "" for t in block.figure.data] + [str(t.text) for t in block.figure.data]
            assert not any(HOSTILE in n for n in names)
