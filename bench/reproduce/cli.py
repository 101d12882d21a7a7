"""``python -m bench reproduce``: its arguments and its handler, registered by ``bench.cli``.

Imports stay light at module level so ``python -m bench --help`` does not load Ray or
scikit-learn; the handler imports what it needs.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

DESCRIPTION = (
    "Re-run published baselines with their published protocol (split, scaling, library defaults "
    "of the time spelled out) and print published against reproduced, row by row. Fixed "
    "configurations, never a search; the reproduced number is always measured."
)


def text(value: object) -> str:
    """Run data for a rich markup string: one line, its brackets escaped (an error text or a
    file's name is never markup, nor a terminal link)."""
    from rich.markup import escape

    from bench.safe_io import one_line

    return escape(one_line(value))


def add_parser(subcommands: Any) -> argparse.ArgumentParser:
    """Add the ``reproduce`` subcommand to ``subcommands`` (an argparse subparsers action)."""
    parser = subcommands.add_parser(
        "reproduce", help="re-run published baselines and compare, row by row", description=DESCRIPTION
    )
    parser.add_argument(
        "--source",
        action="append",
        metavar="NAME[,NAME...]",
        help="baseline source, repeatable or comma-separated: notebook, zalando, sklearn-bench-mnist, "
        "sklearn-digits, lecun (reference only), all",
    )
    parser.add_argument(
        "--dataset",
        action="append",
        metavar="NAME[,NAME...]",
        help="only these datasets, repeatable or comma-separated: mnist, fashion-mnist, digits "
        "(default: every one the source publishes)",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="PATTERN",
        help="shell wildcard over row ids and classifier names, e.g. 'DecisionTree*' or 'knn-*' (repeatable)",
    )
    parser.add_argument(
        "--repeats", type=int, metavar="N", help="repeats per row; repeat i uses seed i (default: the source's protocol)"
    )
    parser.add_argument("--list", action="store_true", help="list sources (or, with --source, their rows) and exit")
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="folder with the dataset's IDX files (else $BENCH_DATA_DIR, cache, system dirs, download)",
    )
    parser.add_argument(
        "--results-dir", type=Path, default=Path("results"), metavar="DIR", help="where run folders go (default ./results)"
    )
    parser.add_argument(
        "--address", help="Ray cluster to use: auto, HOST:PORT or ray://HOST:PORT (default: $RAY_ADDRESS or a new local instance)"
    )
    parser.add_argument("--name", help="a label for the run, kept in the manifest and the run folder's name")
    return parser


def _list(args: argparse.Namespace) -> int:
    from rich.console import Console

    from bench.baselines import list_sources, load_source
    from bench.reproduce.display import plan_table, sources_table
    from bench.reproduce.plan import make_plan

    out = Console(width=None if sys.stdout.isatty() else 160)
    if not args.source:
        out.print(sources_table([load_source(name) for name in list_sources()]))
        return 0
    out.print(plan_table(make_plan(args.source, args.dataset, args.only, args.repeats)))
    return 0


def run(args: argparse.Namespace) -> int:
    """Handle ``bench reproduce``; bad input raises BenchInputError (exit status 2 in bench.cli)."""
    if args.list:
        return _list(args)
    from rich.console import Console

    from bench.reproduce.display import references_table, results_table
    from bench.reproduce.plan import make_plan
    from bench.reproduce.runner import ReproduceOptions, Reproduction

    plan = make_plan(args.source, args.dataset, args.only, args.repeats)
    out = Console(width=None if sys.stdout.isatty() else 160)
    if plan.references:
        out.print(references_table(plan.references, "Reference results (shown, never re-run)"))
    if not plan.rows:
        return 0
    options = ReproduceOptions(
        sources=plan.sources,
        datasets=args.dataset,
        only=args.only,
        repeats=args.repeats,
        data_dir=args.data_dir,
        results_dir=args.results_dir,
        address=args.address,
        name=args.name,
        command=shlex.join([*shlex.split(getattr(args, "prog", "python -m bench")), *getattr(args, "argv", sys.argv[1:])]),
    )
    reproduction = Reproduction(options, plan)
    log = Console(stderr=True)
    log.print(
        f"reproduce [bold]{reproduction.run_id}[/]: {len(plan.rows)} row(s), {len(reproduction.jobs)} task(s) "
        f"on {', '.join(plan.datasets)}"
    )

    def progress(trial: dict[str, Any], done: int, total: int) -> None:
        score = f"{trial['test_accuracy']:.4f}" if trial["status"] == "completed" else f"failed: {text(trial['error'])}"
        where = " ".join(text(trial[k]) for k in ("source", "dataset", "baseline_id", "repeat"))
        log.print(f"  \\[{done}/{total}] {where}: {score}")

    run_dir = reproduction.execute(on_result=progress)
    final = reproduction.final_frame()
    out.print(results_table(final, f"Published against reproduced ({reproduction.run_id})"))
    counts = final["verdict"].value_counts().to_dict()
    out.print(", ".join(f"{counts.get(v, 0)} {v}" for v in ("reproduced", "not reproduced", "failed")))
    for _, row in final[final["status"] != "completed"].iterrows():
        out.print(f"[red]{text(row['source'])} {text(row['baseline_id'])}: {text(row['error'])}[/]")
    out.print(f"results: {text(run_dir)}")
    for name in ("trials.parquet", "final.parquet", "samples.parquet", "manifest.json"):
        if (run_dir / name).is_file():
            out.print(f"  {text(run_dir / name)}")
    return 0
