"""A self-contained HTML report: the leaderboard and figures built from a run's tables.

Plotly's JavaScript is embedded once, so the file opens offline with nothing fetched; every
string taken from a run is escaped.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
import plotly.express as px
import plotly.io as pio
from plotly.offline import get_plotlyjs

from bench.leaderboard import COLUMNS, _fmt, leaderboard
from bench.results import Results, write_text


def _table_html(board: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["dataset", *COLUMNS.values()])
    rows = "".join(
        "<tr>" + f"<td>{html.escape(str(r['dataset']))}</td>" + "".join(f"<td>{html.escape(_fmt(c, r[c]))}</td>" for c in COLUMNS) + "</tr>"
        for _, r in board.iterrows()
    )
    return f"<table class='board'><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _cost_figure(trials: pd.DataFrame) -> str:
    scored = trials.dropna(subset=["val_accuracy", "fit_seconds"]) if not trials.empty else trials
    if scored.empty:
        return "<p>No scored trials.</p>"
    fig = px.scatter(
        scored, x="fit_seconds", y="val_accuracy", color="family", symbol="status", log_x=True,
        hover_data=["run_id", "trial_id"], title="Validation accuracy against fit time, every trial",
        labels={"fit_seconds": "fit seconds (log)", "val_accuracy": "validation accuracy"},
    )
    return pio.to_html(fig, full_html=False, include_plotlyjs=False)


def render(results: Results, title: str) -> str:
    board = leaderboard(results.final)
    manifests = "".join(
        f"<li><code>{html.escape(run_id)}</code>: <code>{html.escape(str(m.get('command', '')))}</code></li>"
        for run_id, m in results.manifests.items()
    )
    plotly_js = f'<script type="text/javascript">{get_plotlyjs()}</script>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;}} table.board{{border-collapse:collapse}}
table.board td,table.board th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}</style>
{plotly_js}
</head><body>
<h1>{html.escape(title)}</h1>
<h2>Leaderboard</h2>
{_table_html(board)}
<h2>Accuracy against cost</h2>
{_cost_figure(results.trials)}
<h2>Runs</h2><ul>{manifests}</ul>
</body></html>"""


def write_report(results: Results, path: Path, title: str) -> Path:
    write_text(render(results, title), path)
    return path
