"""Interactive, self-contained HTML reports over one run or many.

>>> from bench import load                                   # doctest: +SKIP
>>> write_report(load("results"), Path("report.html"), "all runs")  # doctest: +SKIP

Modules: :mod:`~bench.report.data` derives frames from the run tables,
:mod:`~bench.report.build` decides what the page shows, :mod:`~bench.report.figures` holds one
helper per kind of figure, :mod:`~bench.report.page` assembles the HTML,
:mod:`~bench.report.export` writes static images, :mod:`~bench.report.cli` is ``bench report``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas loads with bench.results: not for ``bench --help`` (bench.report.cli is a submodule)
    import pandas as pd

    from bench.results import Results


def subtitle(results: Results) -> str:
    """Which runs and datasets the report covers."""
    from bench.report.data import datasets_in

    runs = len(results.manifests)
    return f"{runs} run{'s' if runs != 1 else ''} on {', '.join(datasets_in(results)) or 'no dataset'}"


def render(results: Results, title: str, board: pd.DataFrame | None = None) -> str:
    """The report as one HTML string (Plotly's JavaScript inlined once); ``board``: the
    leaderboard of ``results`` when the caller has it (see ``build_sections``)."""
    from bench.report.build import build_sections
    from bench.report.page import render_page

    return render_page(title, subtitle(results), build_sections(results, board))


def write_report(results: Results, path: Path, title: str, board: pd.DataFrame | None = None) -> Path:
    """Write ``render(results, title, board)`` to ``path`` atomically and return the path."""
    from bench.results import write_text

    write_text(render(results, title, board), Path(path))
    return Path(path)


__all__ = ["render", "write_report"]
