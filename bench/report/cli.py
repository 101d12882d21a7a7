"""``python -m bench report``: its arguments and handler, registered by :mod:`bench.cli`.

Run folders may come from anyone, so a report reads only what is inside them (through
:func:`bench.results.load`, bounded) plus what the user names on the command line: a path a
manifest records (the run's ``--data-dir``, its search-space files) is used only when it lies
inside that run folder or under the ``--data-dir``/``--space-dir`` given here. A report never
downloads a dataset: images come from files already on this machine, or the page says why not.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
from typing import Any

#: ``bench.report.export.FORMATS``, spelled out: importing the exporter loads pandas and Plotly, and
#: ``--help`` should not (a test checks the two agree).
FORMATS = ("html", "png", "svg")


def add_report_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``report`` subcommand to ``commands`` (argparse subparsers)."""
    report = commands.add_parser(
        "report",
        help="write one HTML report (or static figures) over one or many run folders",
        description="Combine the run folders found under the paths given into one self-contained HTML report "
        "(leaderboard, search histories, parameter effects, dataset images), or write its figures as "
        "PNG or SVG files. Reads only what is inside the run folders and what you pass here; never "
        "downloads.",
    )
    report.add_argument(
        "results",
        nargs="*",
        type=Path,
        default=[Path("results")],
        metavar="PATH",
        help="run folders or results roots (default: results)",
    )
    report.add_argument(
        "--output",
        "-o",
        type=Path,
        metavar="PATH",
        help="HTML file to write, or the folder for --format png|svg "
        "(default: report.html or figures/ in the run folder or the first root given)",
    )
    report.add_argument("--title", default="bench report", help="the page's title")
    report.add_argument(
        "--format",
        choices=FORMATS,
        default="html",
        help="html (default; self-contained, works offline) or png/svg figure files (needs kaleido)",
    )
    report.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="folder with the datasets' IDX files for the images (a run's own --data-dir is used only "
        "inside its folder; nothing is downloaded)",
    )
    report.add_argument(
        "--space-dir",
        type=Path,
        metavar="DIR",
        help="folder of <family>.yaml search spaces the runs used (else the files inside each run folder, else the shipped ones)",
    )
    return report


def default_base(given: list[Path], runs: list[Path]) -> Path:
    """Where output goes by default: the run folder for one run, else the first path given."""
    return runs[0] if len(runs) == 1 and len(given) == 1 and given[0] == runs[0] else Path(given[0])


def confined(results: Any, data_dir: Path | None = None, space_dir: Path | None = None) -> Any:
    """``results`` with the paths its manifests name kept only where a report may read them:
    inside the run's own folder, or what the user passed (``data_dir``, ``space_dir``).

    The manifests are copies; the tables are shared. A search-space file that is kept must be
    a regular file (a FIFO named by a crafted manifest would hang the reader)."""
    from bench.errors import BenchInputError
    from bench.safe_io import MAX_JSON_BYTES, check_regular, human, inside

    manifests: dict[str, dict[str, Any]] = {}
    for run_id, manifest in results.manifests.items():
        folder = Path(results.paths[run_id])
        copy = dict(manifest)
        options = copy.get("options")
        if isinstance(options, dict) or data_dir is not None:
            options = dict(options or {})
            saved = options.get("data_dir")
            if data_dir is not None:
                options["data_dir"] = str(data_dir)
            elif saved:
                options["data_dir"] = os.path.realpath(folder / saved) if inside(saved, folder) else None
            copy["options"] = options
        spaces = copy.get("search_spaces")
        if isinstance(spaces, dict):
            kept: dict[str, str] = {}
            for family, source in spaces.items():
                given = Path(space_dir) / f"{family}.yaml" if space_dir is not None else None
                if given is not None and given.is_file():
                    kept[family] = str(given)
                elif source and inside(source, folder):
                    path = Path(os.path.realpath(folder / source))
                    if check_regular(path, f"search space {family!r} of run {run_id}").st_size > MAX_JSON_BYTES:
                        raise BenchInputError(
                            f"search space {family!r} of run {run_id} ({path}) is larger than {human(MAX_JSON_BYTES)}"
                        )
                    kept[family] = str(path)
            copy["search_spaces"] = kept
        manifests[run_id] = copy
    return dataclasses.replace(results, manifests=manifests)


def cmd_report(args: argparse.Namespace) -> int:
    """Combine the runs found under ``args.results`` into one report."""
    from bench.datasets import no_downloads
    from bench.report import render
    from bench.report.build import build_sections
    from bench.report.export import check_engine, export_figures
    from bench.results import find_runs, load, write_text

    check_engine(args.format)  # before loading anything: no engine is one clear line, exit 2
    runs = find_runs(args.results)
    results = confined(load(*runs), getattr(args, "data_dir", None), getattr(args, "space_dir", None))
    base = default_base(list(args.results), runs)
    with no_downloads("bench report never downloads; pass --data-dir FOLDER to show the dataset's images"):
        if args.format == "html":
            output = args.output or base / "report.html"
            write_text(render(results, args.title), output)
            print(f"report over {len(runs)} run(s): {output}")
            return 0
        folder = args.output or base / "figures"
        paths = export_figures(build_sections(results), folder, args.format)
    print(f"{len(paths)} {args.format} figure(s) over {len(runs)} run(s) in {folder}")
    return 0
