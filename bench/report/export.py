"""Static export of the report's figures (PNG or SVG, for papers) through Kaleido, when installed.

Kaleido is optional: the HTML report never needs it, and without it ``--format png|svg`` stops
with one clear line (exit status 2) before any work.
"""

from __future__ import annotations

import tempfile
from importlib import metadata
from pathlib import Path

from bench.errors import BenchInputError
from bench.report.page import Section, figures

FORMATS = ("html", "png", "svg")
STATIC = ("png", "svg")
INSTALL_HINT = "pip install 'kaleido>=1' (it also needs Chrome or Chromium, e.g. apt-get install chromium)"


def engine_problem() -> str | None:
    """Why static export cannot run here, or None when Kaleido >= 1 is installed."""
    try:
        version = metadata.version("kaleido")
    except metadata.PackageNotFoundError:
        return f"no static export engine is installed; {INSTALL_HINT}"
    if int(version.split(".")[0]) < 1:
        return f"kaleido {version} is too old for plotly {metadata.version('plotly')}; {INSTALL_HINT}"
    return None


def check_engine(fmt: str) -> None:
    """Raise :class:`BenchInputError` (exit 2) when ``fmt`` is static and no engine exists."""
    if fmt not in FORMATS:
        raise BenchInputError(f"unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    problem = engine_problem() if fmt in STATIC else None
    if problem:
        raise BenchInputError(f"--format {fmt}: {problem}")


def export_figures(sections: list[Section], folder: Path, fmt: str, scale: float = 2.0) -> list[Path]:
    """Write every figure as ``<folder>/<slug>.<fmt>``; returns the paths in page order."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    check_engine(fmt)
    folder.mkdir(parents=True, exist_ok=True)
    items = figures(sections)
    paths = [folder / f"{item.slug}.{fmt}" for item in items]
    with tempfile.TemporaryDirectory() as tmp:
        bundled = Path(tmp) / "plotly.min.js"  # the installed plotly.js, so Kaleido fetches nothing
        bundled.write_text(get_plotlyjs())
        previous = pio.defaults.plotlyjs
        pio.defaults.plotlyjs = str(bundled)
        try:
            pio.write_images(
                [item.figure for item in items],
                paths,
                format=fmt,
                scale=scale,
                width=[1100 if item.wide else 800 for item in items],
                height=[int(item.figure.layout.height or 420) for item in items],
            )
        except RuntimeError as exc:  # Kaleido present but no browser to drive
            raise BenchInputError(
                f"--format {fmt}: static export failed: {str(exc).strip().splitlines()[0]}; {INSTALL_HINT}"
            ) from None
        finally:
            pio.defaults.plotlyjs = previous
    return paths
