"""Named, versioned problem suites: the fixed sets of problems a comparison of search methods
ranks over, so two users' rankings on ``small`` v1 compare.

A problem is one (family, dataset, training size, budget); a suite lists them with the seeds
each is run with. ``bench run --suite NAME`` runs one bench run per (dataset, size, budget),
each comparing the samplers and schedulers given, into one suite folder that ``bench report``
and ``bench.load`` read like any results folder. A suite's content never changes under its
version: a change is a new version.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shlex
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import BenchInputError

if TYPE_CHECKING:
    from rich.console import Console

    from bench.runner import Run


@dataclass(frozen=True)
class SuiteRun:
    """One bench run of a suite: its families on one dataset, training size and budget."""

    dataset: str
    families: tuple[str, ...]
    trials: int | None = None
    time_budget_s: float | None = None
    train_size: int | None = None

    @property
    def label(self) -> str:
        size = f"{self.train_size}" if self.train_size else "full"
        budget = f"{self.trials}t" if self.trials else f"{self.time_budget_s:g}s"
        return f"{self.dataset}-{size}-{budget}"


@dataclass(frozen=True)
class Suite:
    name: str
    version: int
    description: str
    runs: tuple[SuiteRun, ...]
    seeds: tuple[int, ...]
    #: The methods compared when the command line names none.
    samplers: str = "tpe,random"

    @property
    def tag(self) -> str:
        return f"{self.name}@{self.version}"

    def problems(self) -> list[tuple[str, str, int | None, str]]:
        """(family, dataset, training size, budget) of every problem."""
        return [
            (family, run.dataset, run.train_size, f"{run.trials} trials" if run.trials else f"{run.time_budget_s:g} s")
            for run in self.runs
            for family in run.families
        ]


_SMALL_FAMILIES = ("logreg", "svm", "knn", "tree", "forest")

SUITES: dict[str, Suite] = {
    suite.name: suite
    for suite in (
        Suite(
            name="small",
            version=1,
            description="10 problems that fit in under an hour on 2 cores: five scikit-learn families on digits "
            "and on 2,000 MNIST training images (both scored by 5-fold cross-validation), 20 trials each, 3 seeds",
            runs=(
                SuiteRun("digits", _SMALL_FAMILIES, trials=20),
                SuiteRun("mnist", _SMALL_FAMILIES, trials=20, train_size=2000),
            ),
            seeds=(0, 1, 2),
        ),
        Suite(
            name="standard",
            version=1,
            description="24 problems for a cluster: every family on digits, MNIST and Fashion-MNIST (full "
            "training sets), 50 trials each, 5 seeds",
            runs=(
                SuiteRun("digits", ("logreg", "svm", "knn", "tree", "forest", "lightgbm", "mlp", "cnn"), trials=50),
                SuiteRun("mnist", ("logreg", "svm", "knn", "tree", "forest", "lightgbm", "mlp", "cnn"), trials=50),
                SuiteRun("fashion-mnist", ("logreg", "svm", "knn", "tree", "forest", "lightgbm", "mlp", "cnn"), trials=50),
            ),
            seeds=(0, 1, 2, 3, 4),
        ),
    )
}

SUITE_FILE = "suite.json"


def get_suite(name: str) -> Suite:
    if name not in SUITES:
        raise BenchInputError(f"unknown suite {name!r}; valid suites: {', '.join(SUITES)}")
    return SUITES[name]


def run_suite(args: argparse.Namespace, console: Console, execute: Callable[[Run, Console], int]) -> int:
    """Run every run of ``--suite`` in one suite folder (``<results-dir>/suite-<name>-v<version>-<time>``),
    one after the other, then its report and the comparison of methods over all its problems.
    ``--data-dir DIR``: each dataset is looked for in DIR and DIR/<dataset>, then as usual."""
    from bench.results import check_writable, write_json

    suite = get_suite(args.suite)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    folder = check_writable(Path(args.results_dir) / f"suite-{suite.name}-v{suite.version}-{stamp}").resolve()
    command = shlex.join([*shlex.split(args.prog), *args.argv])
    plan: dict[str, Any] = {"suite": suite.name, "version": suite.version, "command": command, "argv": args.argv, "runs": []}
    write_json(plan, folder / SUITE_FILE)
    return _run_parts(folder, suite, plan, args, console, execute)


def _run_parts(
    folder: Path,
    suite: Suite,
    plan: dict[str, Any],
    args: argparse.Namespace,
    console: Console,
    execute: Callable[[Run, Console], int],
    resume: Callable[[Path], Run] | None = None,
) -> int:
    """Each run of the suite in turn: a finished one is skipped, an interrupted one goes on
    (``resume``), one not started starts."""
    from bench.cli import run_options
    from bench.manifest import read_manifest
    from bench.results import write_json
    from bench.runner import Run

    samplers = args.sampler if getattr(args, "sampler_given", False) else suite.samplers
    for index, part in enumerate(suite.runs):
        run_dir = folder / plan["runs"][index]["run_id"] if index < len(plan["runs"]) else None
        if run_dir is not None and resume is not None and (run_dir / "manifest.json").is_file():
            if read_manifest(run_dir).get("status") == "finished":
                continue
            run = resume(run_dir)
        else:
            options = run_options(
                args,
                families=list(part.families),
                dataset=part.dataset,
                trials=part.trials,
                time_budget_s=part.time_budget_s,
                seeds=list(suite.seeds),
                sampler=samplers,
                data_dir=None if part.dataset == "digits" else args.data_dir,
                train_size=part.train_size,
                results_dir=folder,
                name=f"{suite.name}-v{suite.version}-{part.label}",
                command=plan["command"],
                suite=suite.tag,
            )
            run = Run(options, console)
            plan["runs"] = [*plan["runs"][:index], {**asdict(part), "run_id": run.run_id}]
            write_json(plan, folder / SUITE_FILE)
        status = execute(run, console)
        if status != 0:
            console.print(f"suite {suite.tag} stopped at {part.label}; the runs before it are finished in {folder}")
            console.print(f"resume with: {shlex.join(['python', '-m', 'bench', 'run', '--resume', str(folder)])}")
            return status
    return finish_suite(folder, suite, console)


def suite_folder(value: Path, results_dir: Path) -> Path | None:
    """The suite folder ``--resume VALUE`` names (there or under the results folder), if it is one."""
    for candidate in (value, results_dir / value):
        if (candidate / SUITE_FILE).is_file():
            return candidate.resolve()
    return None


def _safe_name(value: object) -> bool:
    """A run id that names a folder inside the suite folder."""
    import re

    return isinstance(value, str) and value not in (".", "..") and re.fullmatch(r"[A-Za-z0-9._-]+", value) is not None


def read_plan(folder: Path) -> tuple[Suite, dict[str, Any]]:
    """A suite folder's plan, checked: it is someone's data, so its run ids stay inside the folder
    and its command line is parsed again like the user's own."""
    import json

    path = folder / SUITE_FILE
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchInputError(f"--resume {folder}: {SUITE_FILE} is unreadable ({exc.__class__.__name__})") from None
    argv, runs = plan.get("argv") if isinstance(plan, dict) else None, plan.get("runs") if isinstance(plan, dict) else None
    if (
        not isinstance(plan, dict)
        or not isinstance(argv, list)
        or not all(isinstance(a, str) for a in argv)
        or not isinstance(runs, list)
        or not all(isinstance(r, dict) and _safe_name(r.get("run_id")) for r in runs)
    ):
        raise BenchInputError(f"--resume {folder}: {SUITE_FILE} is not a suite plan bench wrote (suite, version, argv, runs)")
    suite = get_suite(str(plan.get("suite")))
    if plan.get("version") != suite.version:
        raise BenchInputError(
            f"--resume {folder}: the folder holds {suite.name} v{plan.get('version')!s:.20}; this bench has {suite.tag} only"
        )
    if len(runs) > len(suite.runs):
        raise BenchInputError(f"--resume {folder}: {SUITE_FILE} lists {len(runs)} runs; {suite.tag} has {len(suite.runs)}")
    return suite, plan


def resume_suite(folder: Path, args: argparse.Namespace, console: Console, execute: Callable[[Run, Console], int]) -> int:
    """Finish a suite: its finished runs stay, an interrupted one goes on, the rest start, with
    the options of the command that started the suite, except where to connect, read and write
    (the resuming user's own, as for a run)."""
    from bench.cli import RESUME_KEEPS, build_parser, resume_run

    suite, plan = read_plan(folder)
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # one message: ours, not argparse's too
            original = build_parser().parse_args(plan["argv"])
    except SystemExit:
        raise BenchInputError(f"--resume {folder}: the command in {SUITE_FILE} is not a valid bench run command") from None
    if getattr(original, "suite", None) != suite.name:
        raise BenchInputError(f"--resume {folder}: the command in {SUITE_FILE} does not run --suite {suite.name}")
    for key in RESUME_KEEPS:
        setattr(original, key, getattr(args, key))
    original.prog, original.argv = args.prog, plan["argv"]

    return _run_parts(folder, suite, plan, original, console, execute, lambda run_dir: resume_run(run_dir, args, console))


def finish_suite(folder: Path, suite: Suite, console: Console) -> int:
    """The suite's report and its comparison of methods over every problem."""
    import sys

    from rich.console import Console as RichConsole
    from rich.markup import escape

    from bench import methods
    from bench.report import write_report
    from bench.results import load, write_table

    results = load(folder)
    report = write_report(results, folder / "report.html", title=f"bench suite {suite.tag}")
    table = methods.methods_table(results.trials, results.final)
    write_table(table, folder / "methods.parquet")
    out = RichConsole(width=None if sys.stdout.isatty() else 160)
    out.print(methods.terminal_table(table))
    out.print(f"suite {escape(suite.tag)}: {escape(str(folder))}")
    out.print(f"  {escape(str(folder / 'methods.parquet'))}")
    out.print(f"report:  {escape(str(report))}")
    return 0
