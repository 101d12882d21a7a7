"""The report's "Search methods" section: samplers and schedulers compared, from the run tables only.

Built when the loaded search runs hold more than one method (:func:`bench.methods.has_several_methods`);
the numbers are :func:`bench.methods.methods_table`'s, the same the terminal prints.
"""

from __future__ import annotations

import html

import pandas as pd

from bench.methods import (
    BY_SECONDS,
    BY_TRIALS,
    HEADERS,
    Comparison,
    across_problems,
    best_so_far_curves,
    cd_groups,
    formatted,
    has_several_methods,
    methods_table,
    notes,
)
from bench.report import data
from bench.report.figures.common import esc
from bench.report.figures.methods import BAND, cd_figure, curves_figure, method_colors
from bench.report.page import Figure, Html, Note, Section
from bench.report.tables import html_table
from bench.results import Results

TITLE = "Search methods"
INTRO = (
    "A method is a (sampler, scheduler) pair; a problem is a (dataset, family, training size, budget); a study is one "
    "method on one problem with one seed. Best so far counts completed trials only (a pruned or cut trial's score is "
    "half-trained); N is the fewest trials any study of the problem ran, and a method's best is the mean over seeds of "
    "its studies' best within N trials. Normalized score (bayesmark): 100 (best - random) / (best found - random), where "
    "random is random search's best (the same scheduler where there is one) and best found the best validation score "
    "any study found within N trials; 'no headroom' where random search already found it. Rank at 25%, 50% and 100% "
    "of N: per seed, the methods ranked by best so far after that many trials (1 = best, ties averaged), averaged over "
    "seeds. Across problems: the methods ranked per problem by best and the ranks averaged, with a Wilcoxon "
    "signed-rank test (two methods) or a Friedman test and Nemenyi's critical difference (three or more, Demsar 2006), "
    "run only where there are enough problems for the test to reach p < 0.05."
)
RANK_HEADERS = {"method": "method", "rank": "average rank (1 = best)", "problems": "problems"}


def search_final(results: Results) -> pd.DataFrame:
    """``final`` rows of the search runs (reproductions left out)."""
    final = results.final
    if final.empty or "run_id" not in final:
        return final
    searches = {run for run, manifest in results.manifests.items() if data.run_kind(manifest) == data.SEARCH}
    return final[final["run_id"].isin(searches)]


def _problem_blocks(
    table: pd.DataFrame, by_trials: pd.DataFrame, by_seconds: pd.DataFrame, colors: dict[str, str]
) -> list[Figure | Html | Note]:
    from bench.report.build import slug  # build imports this module

    blocks: list[Figure | Html | Note] = []
    headers = {c: h for c, h in HEADERS.items() if c != "problem"}
    cells = formatted(table)
    for problem, rows in table.groupby("problem", sort=False):
        first = rows.iloc[0]
        name = slug(first["dataset"], first["family"], first["train_size"], first["budget"])
        blocks.append(
            Html(f"<h3>{html.escape(str(problem))}</h3>" + html_table(cells.loc[rows.index], headers, css="grid methods"))
        )
        label = esc(problem)
        curves = by_trials[by_trials["problem"] == problem]
        if curves.empty:
            blocks.append(Note(f"{problem}: no study has a completed trial in every seed: no curve."))
        else:
            title = f"{label}: best so far against trials<br><sup>{BAND}</sup>"
            figure = curves_figure(curves, BY_TRIALS, f"trials proposed (N = {int(first['trials_at'])})", colors, title)
            blocks.append(Figure(f"methods-trials-{name}", figure))
        timed = by_seconds[by_seconds["problem"] == problem]
        if timed.empty:
            blocks.append(Note(f"{problem}: no finish times recorded for every seed: no wall-time curve."))
        else:
            title = f"{label}: best so far against wall time<br><sup>{BAND}</sup>"
            x_title = "seconds since the study's first trial started (a score counts from its trial's finish)"
            blocks.append(Figure(f"methods-seconds-{name}", curves_figure(timed, BY_SECONDS, x_title, colors, title)))
    return blocks


def _comparison_blocks(comparison: Comparison) -> list[Figure | Html | Note]:
    ranks = pd.DataFrame(
        {
            "method": list(comparison.ranks),
            "rank": ["-" if pd.isna(r) else f"{r:.2f}" for r in comparison.ranks.values()],
            "problems": str(comparison.problems),
        }
    )
    blocks: list[Figure | Html | Note] = [
        Html("<h3>Across problems</h3>" + html_table(ranks, RANK_HEADERS, css="grid methods-ranks")),
        Note(comparison.note),
    ]
    if comparison.cd is not None:
        title = f"Critical-difference diagram: average ranks over {comparison.problems} problems (Friedman p = {comparison.p_value:.3g})"
        figure = cd_figure(comparison.ranks, comparison.cd, cd_groups(comparison.ranks, comparison.cd), title)
        blocks.append(Figure("methods-cd", figure, wide=True))
    return blocks


def methods_section(results: Results, trials: pd.DataFrame) -> Section | None:
    """The section, or None unless the search runs of ``results`` hold more than one method;
    ``trials``: the search runs' trials."""
    final = search_final(results)
    if not has_several_methods(final):
        return None
    table = methods_table(trials, final)
    section = Section(TITLE, intro=INTRO)
    section.blocks.extend(Note(text) for text in notes(table))
    colors = method_colors(table["method"])
    by_trials = best_so_far_curves(trials, final, BY_TRIALS)
    by_seconds = best_so_far_curves(trials, final, BY_SECONDS)
    section.blocks.extend(_problem_blocks(table, by_trials, by_seconds, colors))
    section.blocks.extend(_comparison_blocks(across_problems(table)))
    return section
