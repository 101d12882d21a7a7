"""A grid of small grey images with a caption each: the dataset sample and the error gallery."""

from __future__ import annotations

import math

import numpy as np
import plotly.express as px
import plotly.graph_objects as go

from bench.report.figures.common import esc, styled


def image_grid(images: np.ndarray, captions: list[str], title: str, columns: int = 10, cell: int = 90) -> go.Figure:
    """Images (n, height, width) in [0, 1], dark digits on white, with escaped captions."""
    count = len(images)
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    pixels = (1.0 - np.clip(images, 0.0, 1.0)) * 255  # ink dark on paper, as digits are read
    fig = px.imshow(
        pixels.astype(np.uint8),
        facet_col=0,
        facet_col_wrap=columns,
        binary_string=True,
        facet_row_spacing=min(0.4 / max(rows, 1), 0.08),
        facet_col_spacing=0.01,
    )
    for annotation in fig.layout.annotations:  # "facet_col=7" -> the 7th image's caption
        index = int(annotation.text.split("=")[-1])
        annotation.text = esc(captions[index])
        annotation.font.size = 11
    fig.update_xaxes(showticklabels=False).update_yaxes(showticklabels=False)
    fig.update_traces(hovertemplate="%{x}, %{y}<extra></extra>")
    return styled(fig, title, height=80 + rows * cell)
