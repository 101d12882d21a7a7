"""``python -m bench``: argument parsing and the one place where errors become exit codes."""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from pathlib import Path
from typing import NoReturn, Sequence

from bench.errors import BenchInputError
from bench.safe_io import one_line

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (no usage block), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"bench: error: {message} (see --help)\n")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def duration(text: str) -> float:
    """Seconds from '90', '90s', '15m', '1.5h'."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive duration; use e.g. 90s, 15m, 1h")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def interval(text: str) -> float:
    """Seconds from '0', '30s', '2m': like :func:`duration`, but 0 is allowed."""
    if re.fullmatch(r"\s*0+(?:\.0*)?\s*[smh]?\s*", text):
        return 0.0
    try:
        return duration(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not 0 or a positive duration; use e.g. 0, 30s, 2m") from None


def seed_list(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"{text!r} must list distinct non-negative integers, e.g. 0,1,2")
    return seeds


def build_parser() -> argparse.ArgumentParser:
    from bench.datasets import list_datasets
    from bench.families import list_families
    from bench.samplers import SAMPLERS

    parser = _Parser(prog="python -m bench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="search hyperparameters of one or more families, refit, test, report")
    run.add_argument("--family", action="append",
                     help=f"family to search, repeatable or comma-separated: {', '.join(list_families())}, all")
    run.add_argument("--dataset", default="digits", help=f"one of {', '.join(list_datasets())} (default: digits)")
    run.add_argument("--trials", type=positive_int, help=f"trials per family (default {20}, unlimited with --time-budget)")
    run.add_argument("--time-budget", type=duration, help="search time per family and seed, e.g. 90s, 15m, 1h")
    run.add_argument("--seed", type=int, default=0, help="seed of the sampler and the models (default 0)")
    run.add_argument("--seeds", type=seed_list, help="repeat each family's search per seed, e.g. 0,1,2")
    run.add_argument("--sampler", default="tpe", help=f"Optuna sampler: {', '.join(SAMPLERS)} (default tpe)")
    run.add_argument("--cpus-per-trial", type=positive_int, default=1, help="cores each trial may use (default 1)")
    run.add_argument("--gpus-per-trial", type=float, default=0.0,
                     help="GPU share per trial of the PyTorch families when Ray sees GPUs, e.g. 0.25 packs four (default 0)")
    run.add_argument("--scheduler", default="auto",
                     help="early stopping: asha, none, or auto (asha for families that report per epoch/round; default)")
    run.add_argument("--max-concurrent", type=positive_int, help="trials running at once (default: as many as fit)")
    run.add_argument("--reproducible", action="store_true",
                     help="identical trials for the same seed at any concurrency: proposals in batches of the "
                          "concurrency, pruning decided against finished batches (costs some wall time)")
    run.add_argument("--address", help="Ray cluster to use: auto, HOST:PORT or ray://HOST:PORT (default: $RAY_ADDRESS or a new local instance)")
    run.add_argument("--data-dir", type=Path, help="folder with the dataset's IDX files (else $BENCH_DATA_DIR, cache, system dirs, download)")
    run.add_argument("--train-size", type=positive_int, help="subsample the training data to N rows (stratified) for quick runs")
    run.add_argument("--results-dir", type=Path, default=Path("results"), help="where run folders go (default ./results)")
    run.add_argument("--name", help="a label for the run, kept in the manifest and the run folder's name")
    run.add_argument("--space-dir", type=Path, help="folder of <family>.yaml search spaces to use instead of the shipped ones")
    run.add_argument("--no-progress", action="store_true", help="no live progress display")
    run.add_argument("--resume", type=Path, metavar="RUN",
                     help="finish an interrupted run (its folder, or its id under --results-dir) with its own options")
    run.add_argument("--max-failures", type=int, default=2,
                     help="retries of a trial whose worker process or node died (default 2); a trial that raises is not retried")
    run.add_argument("--storage", help="shared storage (NFS path or cloud URI) for Ray Tune's state and trial checkpoints on a multi-node cluster")
    run.add_argument("--checkpoint-interval", type=interval, default=30.0,
                     help="PyTorch trials save their training state at most this often, e.g. 30s, 2m; 0 = every epoch "
                          "(default 30s). A retried trial goes on from it")

    from bench.report.cli import add_report_parser

    add_report_parser(commands)
    from bench.reproduce.cli import add_parser as add_reproduce_parser

    add_reproduce_parser(commands)
    from bench.perf import add_parser as add_perf_parser

    add_perf_parser(commands)
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from bench import interrupt
    from bench.cluster import check_cpus_per_trial
    from bench.runner import Run, RunOptions

    console = Console(stderr=True)
    interrupt.install()  # Ctrl-C and a polite kill save and say how to resume
    if args.resume is not None:  # where to connect and write, and paths outside the folder: the user's, again
        run = Run.resume(_run_folder(args.resume, args.results_dir), console, address=args.address, progress=not args.no_progress,
                         storage=args.storage, data_dir=args.data_dir, space_dir=args.space_dir)
        check_cpus_per_trial(run.options.cpus_per_trial, run.options.address)
        return _execute(run, console)
    check_cpus_per_trial(args.cpus_per_trial, args.address)
    options = RunOptions(
        families=args.family or [], dataset=args.dataset, trials=args.trials, time_budget_s=args.time_budget,
        seeds=args.seeds or [args.seed], sampler=args.sampler, cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial, scheduler=args.scheduler,
        max_concurrent=args.max_concurrent, max_failures=args.max_failures, address=args.address,
        storage=args.storage, checkpoint_interval_s=args.checkpoint_interval, data_dir=args.data_dir,
        train_size=args.train_size, results_dir=args.results_dir, name=args.name, space_dir=args.space_dir,
        progress=not args.no_progress, command=shlex.join(["python", "-m", "bench", *sys.argv[1:]]),
        reproducible=args.reproducible,
    )
    return _execute(Run(options, console), console)


def _run_folder(value: Path, results_dir: Path) -> Path:
    for candidate in (value, results_dir / value):
        if (candidate / "manifest.json").is_file():
            return candidate
    raise BenchInputError(f"--resume {value}: no run folder there or under {results_dir} (a run folder holds manifest.json)")


def _execute(run: "Run", console: "Console") -> int:
    """Run (or finish) a search; on Ctrl-C keep what finished and say how to go on."""
    from rich.console import Console
    from rich.markup import escape

    from bench.leaderboard import leaderboard, rich_table
    from bench.report import write_report
    from bench.results import load

    options = run.options
    console.print(f"run [bold]{escape(run.run_id)}[/]: {escape(', '.join(run.families))} on {escape(options.dataset)} "
                  f"({len(run.final_data.y_train)} train, searched by {run.search_data.validation} / "
                  f"{len(run.final_data.y_test)} test)")
    try:
        run_dir = run.execute()
    except KeyboardInterrupt:
        write_report(load(run.run_dir), run.run_dir / "report.html", title=f"bench run {run.run_id} (interrupted)")
        console.print(f"interrupted: finished trials are saved in {escape(str(run.run_dir))}\nresume with: {escape(run.resume_command())}")
        return 130
    results = load(run_dir)
    report = write_report(results, run_dir / "report.html", title=f"bench run {run.run_id}")
    out = Console(width=None if sys.stdout.isatty() else 140)
    out.print(rich_table(leaderboard(results.final, results.predictions), title=f"Leaderboard: {options.dataset} (test set, refit on all training data)"))
    failed = results.final[results.final["status"] != "completed"] if not results.final.empty else results.final
    for _, row in failed.iterrows():
        out.print(f"[red]{escape(one_line(row['family']))}: no result ({escape(one_line(row.get('error')))})[/]")  # run data: no markup
    out.print(f"results: {escape(str(run_dir))}")
    for name in ("trials.parquet", "history.parquet", "final.parquet", "manifest.json"):
        out.print(f"  {escape(str(run_dir / name))}")
    out.print(f"report:  {escape(str(report))}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from bench.report.cli import cmd_report as report

    return report(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from bench.reproduce.cli import run as cmd_reproduce

    from bench.perf import run as cmd_perf

    handlers = {"run": cmd_run, "report": cmd_report, "reproduce": cmd_reproduce, "perf": cmd_perf}
    try:
        return handlers[args.command](args)
    except BenchInputError as exc:  # one line, control characters escaped: messages quote run data
        print(f"bench: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("bench: interrupted; finished families are saved in the run folder", file=sys.stderr)
        return 130
