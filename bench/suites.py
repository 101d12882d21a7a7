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
    from bench.cli import run_options
    from bench.results import check_writable, write_json
    from bench.runner import Run

    suite = get_suite(args.suite)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    folder = check_writable(Path(args.results_dir) / f"suite-{suite.name}-v{suite.version}-{stamp}").resolve()
    command = shlex.join([*shlex.split(args.prog), *args.argv])
    samplers = args.sampler if getattr(args, "sampler_given", False) else suite.samplers
    plan: dict[str, Any] = {"suite": suite.name, "version": suite.version, "command": command, "runs": []}
    write_json(plan, folder / SUITE_FILE)
    for part in suite.runs:
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
            command=command,
            suite=suite.tag,
        )
        run = Run(options, console)
        plan["runs"].append({**asdict(part), "run_id": run.run_id})
        write_json(plan, folder / SUITE_FILE)
        status = execute(run, console)
        if status != 0:
            console.print(f"suite {suite.tag} stopped at {part.label}; the runs before it are finished in {folder}")
            return status
    return finish_suite(folder, suite, console)


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
