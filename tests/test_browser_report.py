"""A real headless Chromium opens reports from real runs, and from tables that follow the run-table
contract, with the network cut off.

Skipped, with the reason, only when no Chromium is installed (``apt-get install chromium``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import bench
from bench.leaderboard import COLUMNS, formatted, leaderboard
from bench.report import write_report
from conftest import run_cli
from test_report import HOSTILE, Runs, combined, runs  # noqa: F401  (shared session fixtures)
from test_report_figures import synthetic_results
from test_report_methods import SVM, comparison_run

pytestmark = pytest.mark.slow

class Opened:
    """A page loaded offline, with what it tried to fetch, logged as errors, or alerted."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.page.route("**/*", self._offline)
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", self._dialog)
        self.page.goto(path.resolve().as_uri(), wait_until="load")
        self.page.wait_for_function("() => document.querySelectorAll('.plotly-graph-div').length > 0")

    def _offline(self, route: Any) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:  # the network is off: anything else is a failure of self-containment
            self.requests.append(route.request.url)
            route.abort()

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def figure_roots(self) -> dict[str, int]:
        return self.page.evaluate(
            "() => Object.fromEntries([...document.querySelectorAll('.plotly-graph-div')]"
            ".map(d => [d.id, d.querySelectorAll('svg.main-svg').length]))")


def test_report_of_several_families_draws_every_figure_offline(browser: Any, combined: Path, tmp_path: Path) -> None:
    opened = Opened(browser, combined)
    roots = opened.figure_roots()
    assert {"fig-leaderboard", "fig-cost", "fig-params-digits-svm", "fig-params-digits-knn",
            "fig-confusion-digits-svm", "fig-confusion-digits-knn", "fig-default-vs-tuned"} <= set(roots)
    assert all(count > 0 for count in roots.values()), roots
    assert opened.errors == [] and opened.requests == [] and opened.dialogs == []
    text = opened.page.inner_text("body")
    assert "Leaderboard" in text and "knn" in text and "svm" in text
    shot = Path(os.environ.get("BENCH_SCREENSHOT_DIR", tmp_path)) / "report.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    opened.page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000  # a drawn page, not a blank one
    opened.page.close()


def test_hostile_name_and_parameter_show_as_text(browser: Any, runs: Runs, tmp_path: Path) -> None:
    output = tmp_path / "hostile.html"
    result = run_cli("report", str(runs.hostile), "--output", str(output), "--title", HOSTILE)
    assert result.returncode == 0, result.stderr
    opened = Opened(browser, output)
    assert opened.dialogs == [] and opened.errors == []
    assert HOSTILE in opened.page.inner_text("header h1")
    assert HOSTILE in opened.page.inner_text("#runs")  # the manifest's run name
    svg_text = opened.page.evaluate("() => [...document.querySelectorAll('#fig-params-digits-knn text')].map(t => t.textContent)")
    assert HOSTILE in svg_text  # the parameter value as a tick label, literally
    assert opened.page.evaluate("() => [...document.scripts].filter(s => s.textContent.trim() === 'alert(1)').length") == 0
    opened.page.close()


def _table(opened: Opened, selector: str) -> list[dict[str, str]]:
    """A table's body rows as header -> cell text, as the browser renders them."""
    return opened.page.evaluate(
        "(sel) => { const t = document.querySelector(sel); const heads = [...t.querySelectorAll('thead th')].map(h => h.innerText);"
        " return [...t.querySelectorAll('tbody tr')].map(r => Object.fromEntries([...r.cells].map((c, i) => [heads[i], c.innerText]))); }",
        selector)


def test_report_shows_default_vs_tuned_ties_intervals_and_rank_correlations(browser: Any, tmp_path: Path) -> None:
    """On tables that follow the issue-16 contract (no Ray): the leaderboard's default, gain, p,
    tie and Wilson columns as the leaderboard formats them, the default-vs-tuned figure drawn,
    and the early-stopping table with its flag."""
    results = synthetic_results()
    output = write_report(results, tmp_path / "contract.html", "contract tables")
    opened = Opened(browser, output)
    assert opened.errors == [] and opened.requests == [] and opened.dialogs == []
    board = leaderboard(results.final, results.predictions)
    expected = formatted(board, list(COLUMNS)).set_index("family")
    shown = {row["family"]: row for row in _table(opened, "table.grid.board")}
    assert set(shown) == set(expected.index) == {"svm", "knn"}
    for family, row in shown.items():
        for column in ("default_test_accuracy", "tuning_gain", "tuning_p_value", "tie", "test_wilson95"):
            assert row[COLUMNS[column]] == expected.at[family, column], (family, column)
        assert row[COLUMNS["tie"]] != "-" and "–" in row[COLUMNS["test_wilson95"]]  # a mark and a low–high interval
    roots = opened.figure_roots()
    assert roots.get("fig-default-vs-tuned", 0) > 0
    legend = opened.page.evaluate("() => [...document.querySelectorAll('#fig-default-vs-tuned .legendtext')].map(t => t.textContent)")
    assert legend == ["library default", "selected configuration"]
    rungs = {row["family"]: row for row in _table(opened, "table.grid.rungs")}
    assert rungs["svm"]["Spearman ρ"] == "1.00" and rungs["knn"]["Spearman ρ"] == "⚠ -1.00"
    assert "below 0.5" in rungs["knn"]["note"] and "⚠ knn" in opened.page.inner_text("#early-stopping")
    opened.page.close()


def test_search_methods_section_draws_its_figures(browser: Any, tmp_path: Path) -> None:
    """A run folder of hand-made comparison tables (3 methods, 3 problems, no Ray): each problem's
    curves with their bands and the critical-difference diagram drawn, labels as text."""
    output = write_report(bench.load(comparison_run(tmp_path / "runs")), tmp_path / "methods.html", "search methods")
    opened = Opened(browser, output)
    assert opened.errors == [] and opened.requests == [] and opened.dialogs == []
    roots = {k: v for k, v in opened.figure_roots().items() if k.startswith("fig-methods-")}
    assert {"fig-methods-cd", f"fig-methods-trials-{SVM}", f"fig-methods-seconds-{SVM}"} <= set(roots)
    assert len(roots) == 7 and all(count > 0 for count in roots.values()), roots  # 3 problems x 2 curves + the diagram
    legend = opened.page.evaluate(f"() => [...document.querySelectorAll('#fig-methods-trials-{SVM} .legendtext')].map(t => t.textContent)")
    assert legend == ["random/none", "tpe/none", "gp/none"]
    bands = opened.page.evaluate(f"() => document.querySelectorAll('#fig-methods-trials-{SVM} path.js-fill').length")
    assert bands >= 3  # one filled band per method
    labels = opened.page.evaluate("() => [...document.querySelectorAll('#fig-methods-cd text')].map(t => t.textContent)")
    assert any(label.startswith("tpe/none (") for label in labels) and any(label.startswith("CD = ") for label in labels)
    text = opened.page.inner_text("#search-methods")
    assert "Across problems" in text and "Friedman test over 3 problems" in text
    opened.page.close()
