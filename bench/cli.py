"""Command line of bench: the parser of every command, and the one place where errors become
exit codes. Building the parser and answering ``--help`` or a bad argument import nothing heavy
(no Ray, Optuna, pandas, scikit-learn or torch): the names it checks against are listed here and
tests compare them with the registries."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from bench.errors import BenchInputError
from bench.safe_io import one_line

if TYPE_CHECKING:
    from rich.console import Console

    from bench.runner import Run, RunOptions

EXIT_BAD_INPUT = 2

#: Registered names, spelled out so the parser needs no registry import (tests/test_cli_help.py
#: checks them against ``list_families()``, ``list_datasets()``, ``SAMPLERS`` and ``SCHEDULERS``).
FAMILIES = ("logreg", "svm", "knn", "tree", "forest", "lightgbm", "mlp", "cnn")
DATASETS = ("digits", "emnist-digits", "fashion-mnist", "kmnist", "mnist")
#: What ``--dataset`` takes besides a name (bench.datasets.base.PATH_FORMS, checked by a test).
DATASET_PATHS = "a folder of IDX files, an image folder (train/<class>/*, test/<class>/*) or an .npz file"
SAMPLERS = ("tpe", "random", "cmaes", "qmc", "gp")
SCHEDULERS = ("auto", "asha", "none")
DEFAULT_TRIALS = 20
SUITES = ("small", "standard")

#: ``run`` options a resume still takes from the command line: where to connect, read and write.
RESUME_KEEPS = ("address", "storage", "data_dir", "space_dir", "no_progress", "results_dir", "resume")
#: ``run`` options a suite sets itself (its problems): refused beside ``--suite``.
SUITE_SETS = ("family", "dataset", "trials", "time_budget", "seed", "seeds", "train_size", "name")

SUMMARY = """\
Hyperparameter searches for handwritten-digit recognition (digits, MNIST, Fashion-MNIST):
Ray Tune runs Optuna searches over model families on local cores or a Ray cluster, then
refits and tests the best of each; every trial lands in Parquet tables and an HTML report."""
EXAMPLES = """\
examples:
  %(prog)s run --family svm               # SVMs on the digits data, 20 trials
  %(prog)s run --family svm,knn --dataset mnist --seeds 0,1,2
  %(prog)s run --resume RUN               # finish an interrupted run
  %(prog)s report results/                # one HTML report over every run
  %(prog)s COMMAND --help                 # the options of one command
"""


def program_name() -> str:
    """How the user called bench: ``python -m bench`` (as typed, interpreter by its file name),
    ``bench`` (the console script), else ``bench`` (e.g. :func:`main` called from Python)."""
    orig = list(getattr(sys, "orig_argv", []) or [])
    for i, token in enumerate(orig[1:], start=1):
        if token == "-m" and i + 1 < len(orig) and orig[i + 1] == "bench":
            return f"{os.path.basename(orig[0])} -m bench"
        if token.startswith("-m") and token[2:] == "bench":
            return f"{os.path.basename(orig[0])} -m bench"
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return name if name.startswith("bench") and not name.endswith(".py") else "bench"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (no usage block), exit status 2.

    ``check_given``, when set, is called after a parse with the options the user gave (dest ->
    flag) to refuse combinations; ``run`` uses it."""

    _UNSET = object()
    check_given: Callable[[_Parser, argparse.Namespace, dict[str, str]], None] | None = None

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if self.check_given is None:
            return super().parse_known_args(args, namespace)
        # Every option's default becomes a marker for the parse, so "given" does not depend on
        # whether the value typed equals the default (--seed 0 is given). append keeps None.
        options = [a for a in self._actions if a.option_strings and a.dest != "help"]
        defaults = {a.dest: a.default for a in options}
        for action in options:
            if action.default is None or isinstance(action, argparse._AppendAction):
                continue
            action.default = self._UNSET
        try:
            namespace, extras = super().parse_known_args(args, namespace)
        finally:
            for action in options:
                action.default = defaults[action.dest]
        given: dict[str, str] = {}
        for action in options:
            value = getattr(namespace, action.dest, None)
            if value is self._UNSET:
                default = defaults[action.dest]
                if isinstance(default, str) and action.type is not None:
                    default = self._get_value(action, default)
                setattr(namespace, action.dest, default)
            elif value is not None:
                given[action.dest] = action.option_strings[0]
        self.check_given(self, namespace, given)
        return namespace, extras


def _check_run(parser: _Parser, args: argparse.Namespace, given: dict[str, str]) -> None:
    """``run``: refuse --seed with --seeds and --resume with options it would ignore; flatten --family."""
    if "seed" in given and "seeds" in given:
        parser.error("--seed and --seeds together: give one seed with --seed N or several with --seeds 0,1,2")
    if "resume" in given:
        ignored = [flag for dest, flag in given.items() if dest not in RESUME_KEEPS]
        if ignored:
            parser.error(
                f"--resume continues a run with its own options and would ignore {', '.join(ignored)}; "
                f"with --resume give only --address, --storage, --data-dir, --space-dir, --results-dir, "
                f"--no-progress"
            )
    args.sampler_given = "sampler" in given  # a suite compares its own default methods otherwise
    if "suite" in given:
        clashing = [flag for dest, flag in given.items() if dest in SUITE_SETS]
        if clashing:
            parser.error(f"--suite sets the families, datasets, sizes, budgets and seeds itself; leave out {', '.join(clashing)}")
    if args.family is not None:  # [[svm, knn], [forest]] -> [svm, knn, forest], in order, once each
        args.family = list(dict.fromkeys(name for names in args.family for name in names))


#: The largest side --image-size accepts.
MAX_IMAGE_SIDE = 1024


def image_size_arg(text: str) -> str:
    """``--image-size``: "N" (square) or "HxW", each side 1 to :data:`MAX_IMAGE_SIDE`, kept as "HxW"."""
    parts = text.lower().split("x")
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or not all(p.isdigit() and 1 <= int(p) <= MAX_IMAGE_SIDE for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: give N or HxW, each side 1 to {MAX_IMAGE_SIDE} pixels")
    return f"{int(parts[0])}x{int(parts[1])}"


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


def name_list(option: str, valid: Sequence[str]) -> Callable[[str], str]:
    """A parser of 'tpe' or 'tpe,random' for ``--{option}``: each name checked, each once; the
    names stay one comma-joined text (as the manifest saves them)."""

    def parse(text: str) -> str:
        names = [name.strip() for name in text.split(",") if name.strip()]
        for name in names:
            if name not in valid:
                raise argparse.ArgumentTypeError(f"unknown {option} {name!r}; valid {option}s: {', '.join(valid)}")
        if not names:
            raise argparse.ArgumentTypeError(f"{text!r} names no {option}; valid {option}s: {', '.join(valid)}")
        if len(set(names)) != len(names):
            raise argparse.ArgumentTypeError(f"{text!r} names a {option} twice")
        return ",".join(names)

    return parse


def dataset_arg(text: str) -> str:
    """A registered dataset's name as given; a path (one with a separator, or one that exists and is
    not a registered name) made absolute, so a resume from another folder finds it."""
    if text in DATASETS:
        return text
    if os.sep in text or "/" in text or os.path.exists(text):
        path = Path(text).expanduser()
        if not path.exists():
            raise argparse.ArgumentTypeError(f"{text!r}: no such file or folder; give the path of {DATASET_PATHS}")
        return str(path.resolve())
    raise argparse.ArgumentTypeError(
        f"unknown dataset {text!r}; valid datasets: {', '.join(map(repr, DATASETS))}, or the path of {DATASET_PATHS}"
    )


def family_list(text: str) -> list[str]:
    """Family names from 'svm' or 'svm,knn', each checked: the first bad one is named."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r} names no family; valid families: {', '.join(FAMILIES)}, all")
    for name in names:
        if name not in (*FAMILIES, "all"):
            raise argparse.ArgumentTypeError(f"unknown family {name!r}; valid families: {', '.join(FAMILIES)}, all")
    return names


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    prog = prog or program_name()
    parser = _Parser(prog=prog, description=SUMMARY, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND", title="commands")

    run = commands.add_parser(
        "run",
        help="search hyperparameters of model families, refit the best, test, report",
        description="Search the hyperparameters of one or more model families on a dataset (Ray Tune schedules "
        "the trials, an Optuna sampler proposes them), refit each family's best configuration on all "
        "training data, score it once on the test set, and write the run folder: Parquet tables, "
        "manifest and report.html. A leaderboard is printed at the end.",
    )
    run.check_given = _check_run
    run.add_argument(
        "--family",
        action="append",
        type=family_list,
        metavar="NAME[,NAME...]",
        help=f"model family to search; repeat the option or separate names with commas: {', '.join(FAMILIES)}, or all",
    )
    run.add_argument(
        "--dataset",
        default="digits",
        type=dataset_arg,
        metavar="NAME|PATH",
        help=f"dataset: {', '.join(DATASETS)} (default: digits, shipped with scikit-learn), or the path of "
        f"{DATASET_PATHS} (see README)",
    )
    run.add_argument(
        "--image-size",
        type=image_size_arg,
        metavar="N|HxW",
        help="for an image folder given as --dataset: the size every image is resized to (default: the most "
        "common size among its images)",
    )
    run.add_argument(
        "--drop-test-duplicates",
        action="store_true",
        help="leave out of the test set the images that are exact copies of training images (the manifest "
        "counts them either way)",
    )
    run.add_argument(
        "--trials",
        type=positive_int,
        metavar="N",
        help=f"trials per family and seed (default {DEFAULT_TRIALS}; unlimited with --time-budget alone)",
    )
    run.add_argument("--time-budget", type=duration, metavar="TIME", help="search time per family and seed, e.g. 90s, 15m, 1h")
    run.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the sampler and the models (default 0)")
    run.add_argument(
        "--seeds",
        type=seed_list,
        metavar="N,N...",
        help="repeat each family's search once per seed, e.g. 0,1,2 (instead of --seed)",
    )
    run.add_argument(
        "--sampler",
        default="tpe",
        type=name_list("sampler", SAMPLERS),
        metavar="NAME[,NAME...]",
        help=f"Optuna sampler: {', '.join(SAMPLERS)} (default tpe); several, e.g. tpe,random, compare them: "
        "each is its own study per family and seed, one after another",
    )
    run.add_argument("--cpus-per-trial", type=positive_int, default=1, metavar="N", help="cores each trial may use (default 1)")
    run.add_argument(
        "--gpus-per-trial",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="GPU share per trial of the PyTorch families when Ray sees GPUs, e.g. 0.25 packs four (default 0)",
    )
    run.add_argument(
        "--scheduler",
        default="auto",
        type=name_list("scheduler", SCHEDULERS),
        metavar="NAME[,NAME...]",
        help="early stopping: asha, none, or auto (default: asha for families that report per epoch, "
        "round or chunk; none for the others); several, e.g. asha,none, compare them",
    )
    run.add_argument(
        "--with-start",
        action="store_true",
        help="a comparison of several samplers or schedulers starts each study, as a single search does, "
        "from the library default and the space's start configurations (default: off, so random search is random)",
    )
    run.add_argument(
        "--suite",
        choices=SUITES,
        metavar="NAME",
        help=f"run a named, versioned problem suite (families x datasets x sizes x budgets x seeds) to compare "
        f"the samplers and schedulers given (default tpe,random): {', '.join(SUITES)}",
    )
    run.add_argument("--max-concurrent", type=positive_int, metavar="N", help="trials running at once (default: as many as fit)")
    run.add_argument(
        "--reproducible",
        action="store_true",
        help="identical trials for the same seed at any concurrency: proposals in batches of the "
        "concurrency, pruning decided against finished batches (costs some wall time)",
    )
    run.add_argument(
        "--address",
        metavar="ADDRESS",
        help="Ray cluster to use: auto, HOST:PORT or ray://HOST:PORT (default: $RAY_ADDRESS or a new local instance)",
    )
    run.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="folder with the dataset's IDX files (else $BENCH_DATA_DIR, cache, system dirs, download)",
    )
    run.add_argument(
        "--train-size", type=positive_int, metavar="N", help="subsample the training data to N rows (stratified) for quick runs"
    )
    run.add_argument(
        "--results-dir", type=Path, default=Path("results"), metavar="DIR", help="where run folders go (default ./results)"
    )
    run.add_argument("--name", help="a label for the run, kept in the manifest and the run folder's name")
    run.add_argument(
        "--space-dir", type=Path, metavar="DIR", help="folder of <family>.yaml search spaces to use instead of the shipped ones"
    )
    run.add_argument("--no-progress", action="store_true", help="no live progress display")
    run.add_argument(
        "--resume",
        type=Path,
        metavar="RUN",
        help="finish an interrupted run (its folder, or its id under --results-dir) with its own options; "
        "only --address, --storage, --data-dir, --space-dir, --results-dir and --no-progress may be "
        "given with it",
    )
    run.add_argument(
        "--max-failures",
        type=int,
        default=2,
        metavar="N",
        help="retries of a trial whose worker process or node died (default 2); a trial that raises is not retried",
    )
    run.add_argument(
        "--storage",
        metavar="PATH_OR_URI",
        help="shared storage (NFS path or cloud URI) for Ray Tune's state and trial checkpoints on a multi-node cluster",
    )
    run.add_argument(
        "--checkpoint-interval",
        type=interval,
        default=30.0,
        metavar="TIME",
        help="PyTorch trials save their training state at most this often, e.g. 30s, 2m; 0 = every epoch "
        "(default 30s). A retried trial goes on from it",
    )

    from bench.report.cli import add_report_parser

    add_report_parser(commands)
    from bench.reproduce.cli import add_parser as add_reproduce_parser

    add_reproduce_parser(commands)
    from bench.perf import add_parser as add_perf_parser

    add_perf_parser(commands)
    from bench.predict import add_parser as add_predict_parser

    add_predict_parser(commands)
    from bench.serve.cli import add_parser as add_serve_parser

    add_serve_parser(commands)
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from bench import interrupt
    from bench.cluster import check_cpus_per_trial
    from bench.runner import Run

    console = Console(stderr=True)
    interrupt.install()  # Ctrl-C and a polite kill save and say how to resume
    if args.resume is not None:  # where to connect and write, and paths outside the folder: the user's, again
        from bench.suites import resume_suite, suite_folder

        suite = suite_folder(args.resume, args.results_dir)
        if suite is not None:
            return resume_suite(suite, args, console, _execute)
        run = resume_run(_run_folder(args.resume, args.results_dir), args, console)
        check_cpus_per_trial(run.options.cpus_per_trial, run.options.address)
        return _execute(run, console)
    check_cpus_per_trial(args.cpus_per_trial, args.address)
    if args.suite is not None:
        from bench.suites import run_suite

        return run_suite(args, console, _execute)
    options = run_options(args)
    return _execute(Run(options, console), console)


def resume_run(run_dir: Path, args: argparse.Namespace, console: Console) -> Run:
    """Reopen a run folder with where to connect, read and write taken from ``args`` (the user's)."""
    from bench.runner import Run

    return Run.resume(
        run_dir,
        console,
        address=args.address,
        progress=not args.no_progress,
        storage=args.storage,
        data_dir=args.data_dir,
        space_dir=args.space_dir,
    )


def run_options(args: argparse.Namespace, **problem: Any) -> RunOptions:
    """``RunOptions`` from ``run``'s arguments; ``problem`` replaces what a suite sets itself."""
    from bench.runner import RunOptions

    values: dict[str, Any] = {
        "families": args.family or [],
        "dataset": args.dataset,
        "drop_test_duplicates": args.drop_test_duplicates,
        "image_size": args.image_size,
        "trials": args.trials,
        "time_budget_s": args.time_budget,
        "seeds": args.seeds or [args.seed],
        "sampler": args.sampler,
        "cpus_per_trial": args.cpus_per_trial,
        "gpus_per_trial": args.gpus_per_trial,
        "scheduler": args.scheduler,
        "max_concurrent": args.max_concurrent,
        "max_failures": args.max_failures,
        "address": args.address,
        "storage": args.storage,
        "checkpoint_interval_s": args.checkpoint_interval,
        "data_dir": args.data_dir,
        "train_size": args.train_size,
        "results_dir": args.results_dir,
        "name": args.name,
        "space_dir": args.space_dir,
        "progress": not args.no_progress,
        "command": shlex.join([*shlex.split(args.prog), *args.argv]),
        "reproducible": args.reproducible,
        "with_start": args.with_start,
    }
    return RunOptions(**{**values, **problem})


def _run_folder(value: Path, results_dir: Path) -> Path:
    for candidate in (value, results_dir / value):
        if (candidate / "manifest.json").is_file():
            return candidate
    raise BenchInputError(f"--resume {value}: no run folder there or under {results_dir} (a run folder holds manifest.json)")


def _execute(run: Run, console: Console) -> int:
    """Run (or finish) a search; on Ctrl-C keep what finished and say how to go on."""
    from rich.console import Console
    from rich.markup import escape

    from bench.leaderboard import leaderboard, rich_table
    from bench.report import write_report
    from bench.results import load

    console.print(
        f"run [bold]{escape(run.run_id)}[/]: {escape(', '.join(run.families))} on {escape(run.loaded.name)} "
        f"({len(run.final_data.y_train)} train, searched by {run.search_data.validation} / "
        f"{len(run.final_data.y_test)} test)"
    )
    try:
        run_dir = run.execute()
    except KeyboardInterrupt:
        write_report(load(run.run_dir), run.run_dir / "report.html", title=f"bench run {run.run_id} (interrupted)")
        console.print(
            f"interrupted: finished trials are saved in {escape(str(run.run_dir))}\nresume with: {escape(run.resume_command())}"
        )
        return 130
    results = load(run_dir)
    board = leaderboard(results.final, results.predictions)  # once, for the report and the terminal
    report = write_report(results, run_dir / "report.html", title=f"bench run {run.run_id}", board=board)
    out = Console(width=None if sys.stdout.isatty() else 140)
    out.print(rich_table(board, title=f"Leaderboard: {escape(run.loaded.name)} (test set, refit on all training data)"))
    files = ["trials.parquet", "history.parquet", "final.parquet", "manifest.json"]
    if (run_dir / "models").is_dir():  # the refit models and their cards (bench.models): bench predict reads them
        files.append("models")
    if run.options.comparison:
        from bench import methods
        from bench.results import write_table

        table = methods.methods_table(results.trials, results.final)
        write_table(table, run_dir / "methods.parquet")
        files.append("methods.parquet")
        out.print(methods.terminal_table(table))
    failed = results.final[results.final["status"] != "completed"] if not results.final.empty else results.final
    for _, row in failed.iterrows():
        out.print(
            f"[red]{escape(one_line(row['family']))}: no result ({escape(one_line(row.get('error')))})[/]"
        )  # run data: no markup
    out.print(f"results: {escape(str(run_dir))}")
    for name in files:
        out.print(f"  {escape(str(run_dir / name))}")
    out.print(f"report:  {escape(str(report))}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from bench.report.cli import cmd_report as report

    return report(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: the process's arguments), run the command, return its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.prog, args.argv = parser.prog, argv
    from bench.perf import run as cmd_perf
    from bench.predict import run as cmd_predict
    from bench.reproduce.cli import run as cmd_reproduce
    from bench.serve.cli import run as cmd_serve

    handlers = {
        "run": cmd_run,
        "report": cmd_report,
        "reproduce": cmd_reproduce,
        "perf": cmd_perf,
        "predict": cmd_predict,
        "serve": cmd_serve,
    }
    try:
        return handlers[args.command](args)
    except BenchInputError as exc:  # one line, control characters escaped: messages quote run data
        print(f"{parser.prog}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted; finished families are saved in the run folder", file=sys.stderr)
        return 130
