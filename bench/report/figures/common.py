"""What every figure shares: escaping of run strings, a stable colour per family, the layout.

Plotly draws text as SVG and interprets a few HTML-like tags in it; escaping every string from
a run (Plotly turns the entities back into the literal characters) makes a hostile name show
as text rather than markup.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import plotly.io as pio

#: The report's Plotly template.
TEMPLATE = "plotly_white"


def esc(value: object) -> str:
    """A run string made safe for Plotly text (labels, titles, hover, tick text)."""
    return html.escape(str(value))


def escape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells and column names are escaped, numbers untouched."""
    out = frame.copy()
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(out[column]) and not pd.api.types.is_bool_dtype(out[column]):
            out[column] = out[column].map(lambda v: v if v is None or (isinstance(v, float) and pd.isna(v)) else esc(v))
    return out.rename(columns=esc)


def param_label(column: str) -> str:
    """``params_C`` -> ``C``, escaped."""
    return esc(column.removeprefix("params_"))


def family_labels(frame: pd.DataFrame) -> pd.Series:
    """Escaped axis labels of (dataset, family) rows: the family, with the dataset when several,
    and the protocol where one family has rows under several (the leaderboard pools by protocol)."""
    several = frame["dataset"].nunique() > 1
    labels = pd.Series(
        [f"{esc(f)} ({esc(d)})" if several else esc(f) for f, d in zip(frame["family"], frame["dataset"], strict=True)],
        index=frame.index,
        dtype=object,
    )
    if "protocol" in frame and labels.duplicated().any():  # a family under two protocols: two rows, two labels
        labels = labels + [f" · {esc(p)}" if p is not None and not pd.isna(p) else "" for p in frame["protocol"]]
    return labels


def family_colors(families: Iterable[str]) -> dict[str, str]:
    """One colour per (escaped) family name, the same in every figure of a report."""
    palette = px.colors.qualitative.Plotly
    return {esc(f): palette[i % len(palette)] for i, f in enumerate(dict.fromkeys(families))}


@contextmanager
def report_template() -> Iterator[None]:
    """Figures made inside start with the report's template. Plotly gives every new figure its
    default template cheaply; setting another one afterwards checks all of it again, a tenth of
    a second per figure (a second of a one-family report)."""
    previous = pio.templates.default
    pio.templates.default = TEMPLATE
    try:
        yield
    finally:
        pio.templates.default = previous


def styled(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    """The report's common layout; ``title`` must already be escaped."""
    template = {} if pio.templates.default == TEMPLATE else {"template": TEMPLATE}  # inside report_template: has it
    fig.update_layout(
        title={"text": title, "x": 0.02, "xanchor": "left"},
        height=height,
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        legend={"title": {"text": ""}},
        **template,
    )
    return fig
