"""``python -m bench report``: its arguments and handler, registered by :mod:`bench.cli`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.report.export import FORMATS


def add_report_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``report`` subcommand to ``commands`` (argparse subparsers)."""
    report = commands.add_parser("report", help="write one HTML report (or static figures) over one or many run folders")
    report.add_argument("results", nargs="*", type=Path, default=[Path("results")],
                        help="run folders or results roots (default: results)")
    report.add_argument("--output", "-o", type=Path,
                        help="HTML file to write, or the folder for --format png|svg "
                             "(default: report.html or figures/ in the run folder or the first root given)")
    report.add_argument("--title", default="bench report", help="the page's title")
    report.add_argument("--format", choices=FORMATS, default="html",
                        help="html (default; self-contained, works offline) or png/svg figure files (needs kaleido)")
    return report


def default_base(given: list[Path], runs: list[Path]) -> Path:
    """Where output goes by default: the run folder for one run, else the first path given."""
    return runs[0] if len(runs) == 1 and len(given) == 1 and given[0] == runs[0] else Path(given[0])


def cmd_report(args: argparse.Namespace) -> int:
    """Combine the runs found under ``args.results`` into one report."""
    from bench.report import render
    from bench.report.build import build_sections
    from bench.report.export import check_engine, export_figures
    from bench.results import find_runs, load, write_text

    check_engine(args.format)  # before loading anything: no engine is one clear line, exit 2
    runs = find_runs(args.results)
    results = load(*runs)
    base = default_base(list(args.results), runs)
    if args.format == "html":
        output = args.output or base / "report.html"
        write_text(render(results, args.title), output)
        print(f"report over {len(runs)} run(s): {output}")
        return 0
    folder = args.output or base / "figures"
    paths = export_figures(build_sections(results), folder, args.format)
    print(f"{len(paths)} {args.format} figure(s) over {len(runs)} run(s) in {folder}")
    return 0
