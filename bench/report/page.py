"""The page: sections of figures, tables and notes assembled into one self-contained HTML file.

Plotly's JavaScript is inlined once in the head; each figure is a div plus a small script
(``include_plotlyjs=False``), so the file opens offline and nothing is fetched.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime, timezone

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

#: Plotly's own links (Chart Studio, plotly.com logo) stay off: nothing on the page goes online.
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True, "toImageButtonOptions": {"format": "png", "scale": 2}}


@dataclass
class Figure:
    """A Plotly figure with a slug, used as its div id and as its file name on static export."""

    slug: str
    figure: go.Figure
    wide: bool = False


@dataclass
class Html:
    """A fragment that is already safe HTML (built by :mod:`bench.report.tables`)."""

    markup: str


@dataclass
class Note:
    """Plain text, escaped when rendered."""

    text: str


Block = Figure | Html | Note


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)
    intro: str = ""

    @property
    def anchor(self) -> str:
        return "".join(ch if ch.isalnum() else "-" for ch in self.title.lower()).strip("-")


def figures(sections: list[Section]) -> list[Figure]:
    """Every figure of the report, in page order."""
    return [b for s in sections for b in s.blocks if isinstance(b, Figure)]


def _block(block: Block) -> str:
    if isinstance(block, Figure):
        div = pio.to_html(
            block.figure,
            full_html=False,
            include_plotlyjs=False,
            div_id=f"fig-{block.slug}",
            config=PLOTLY_CONFIG,
            default_height=f"{block.figure.layout.height or 420}px",
        )
        return f"<div class='figure{' wide' if block.wide else ''}'>{div}</div>"
    if isinstance(block, Html):
        return f"<div class='block wide'>{block.markup}</div>"
    return f"<p class='note wide'>{html.escape(block.text)}</p>"


STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1f2933;background:#f7f8fa}
header{background:#1f2933;color:#fff;padding:1.2em 2em} header h1{margin:0;font-size:1.6em}
header p{margin:.3em 0 0;color:#cbd2d9} nav a{color:#9fb3c8;margin-right:1em;font-size:.9em}
main{padding:0 2em 3em} section{margin-top:2em} h2{border-bottom:2px solid #d9e2ec;padding-bottom:.2em}
p.intro{color:#52606d;max-width:70em}
.grid2{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:1em}
.figure,.block{background:#fff;border:1px solid #e4e7eb;border-radius:6px;padding:.4em;min-width:0}
.wide{grid-column:1/-1} p.note{color:#7b8794;font-style:italic}
table.grid{border-collapse:collapse;font-size:.92em;background:#fff}
table.grid th,table.grid td{border:1px solid #d9e2ec;padding:4px 9px;text-align:right}
table.grid th{background:#f0f4f8} table.grid td:first-child{text-align:left;font-weight:600}
table.rungs td:last-child{text-align:left;max-width:40em}
table.manifest{border-collapse:collapse;font-size:.88em} table.manifest th{text-align:left;vertical-align:top;padding:3px 12px 3px 0;color:#52606d}
table.manifest pre{margin:0;font-size:.95em;white-space:pre-wrap} details{margin:.6em 0} summary{cursor:pointer;font-weight:600}
"""


# Figures are drawn while the page is still parsing; once everything is laid out, fit each to its box.
RESIZE = (
    "window.addEventListener('load', function () {"
    " document.querySelectorAll('.plotly-graph-div').forEach(function (d) { Plotly.Plots.resize(d); }); });"
)


def render_page(title: str, subtitle: str, sections: list[Section]) -> str:
    """The whole HTML document; ``title`` and ``subtitle`` are plain text (escaped here)."""
    nav = "".join(f"<a href='#{s.anchor}'>{html.escape(s.title)}</a>" for s in sections)
    body = "".join(
        f"<section id='{s.anchor}'><h2>{html.escape(s.title)}</h2>"
        + (f"<p class='intro'>{html.escape(s.intro)}</p>" if s.intro else "")
        + f"<div class='grid2'>{''.join(_block(b) for b in s.blocks)}</div></section>"
        for s in sections
    )
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{STYLE}</style>
<script type="text/javascript">{get_plotlyjs()}
{RESIZE}</script>
</head><body>
<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)} · made {made}</p><nav>{nav}</nav></header>
<main>{body}</main>
</body></html>
"""
