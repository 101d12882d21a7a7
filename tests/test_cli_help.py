"""The command line reads like one: user help on every command, names listed without importing
the libraries they come from, and the program name the user typed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO

from bench import cli

HEAVY = ("ray", "optuna", "pandas", "sklearn", "torch")
COMMANDS = ("run", "report", "reproduce", "perf")


def help_text(capsys: pytest.CaptureFixture, *args: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        cli.main([*args, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_help_and_argument_errors_import_nothing_heavy() -> None:
    """--help of every command and an argument error, in a fresh interpreter: none of Ray,
    Optuna, pandas, scikit-learn or torch is loaded."""
    code = (
        "import json, sys\n"
        "from bench.cli import main\n"
        f"for args in {[['--help'], *[[c, '--help'] for c in COMMANDS], ['run', '--family', 'svm,nope'], ['run', '--sampler', 'x']]!r}:\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_top_level_help_is_for_users(capsys: pytest.CaptureFixture) -> None:
    text = help_text(capsys)
    assert text.startswith("usage: ")
    description = text.split("\n\n")[1]
    assert description.startswith("Hyperparameter searches for handwritten-digit recognition"), description
    assert "``" not in text and "exit codes" not in text  # no developer docstring
    for command in COMMANDS:
        assert f"\n    {command}" in text, command
    assert "examples:" in text and "run --family svm" in text


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_says_what_it_does(capsys: pytest.CaptureFixture, command: str) -> None:
    text = help_text(capsys, command)
    description = text.split("\n\n")[1]
    assert not description.startswith("options:") and len(description) > 60, description


def test_run_help_names_the_valid_values(capsys: pytest.CaptureFixture) -> None:
    text = " ".join(help_text(capsys, "run").split())  # argparse wraps lines
    assert "trials per family and seed" in text
    for name in (*cli.FAMILIES, *cli.DATASETS, *cli.SAMPLERS, *cli.SCHEDULERS, *cli.SUITES):
        assert name in text, name


def test_listed_names_match_the_registries() -> None:
    """The names the parser checks against are spelled out in bench.cli (no registry import for
    --help); they must be the registries' own."""
    from bench.datasets import list_datasets
    from bench.families import list_families
    from bench.report.cli import FORMATS as CLI_FORMATS
    from bench.report.export import FORMATS
    from bench.samplers import SAMPLERS
    from bench.scheduling import SCHEDULERS
    from bench.search import DEFAULT_TRIALS
    from bench.suites import SUITES

    assert cli.FAMILIES == tuple(list_families())
    assert cli.DATASETS == tuple(list_datasets())
    assert cli.SAMPLERS == tuple(SAMPLERS)
    assert cli.SCHEDULERS == tuple(SCHEDULERS)
    assert cli.DEFAULT_TRIALS == DEFAULT_TRIALS
    assert cli.SUITES == tuple(SUITES)
    assert CLI_FORMATS == tuple(FORMATS)


@pytest.mark.parametrize(("orig_argv", "argv0", "prog"), [
    (["python", "-m", "bench", "run"], "/x/bench/__main__.py", "python -m bench"),
    (["/opt/venv/bin/python3", "-X", "importtime", "-m", "bench"], "/x/bench/__main__.py", "python3 -m bench"),
    (["python", "-mbench"], "/x/bench/__main__.py", "python -m bench"),
    (["/usr/bin/python3", "/venv/bin/bench", "run"], "/venv/bin/bench", "bench"),
    (["python", "-m", "pytest"], "/venv/bin/pytest", "bench"),
])
def test_program_name_is_what_the_user_typed(monkeypatch: pytest.MonkeyPatch, orig_argv: list[str], argv0: str, prog: str) -> None:
    monkeypatch.setattr(sys, "orig_argv", orig_argv)
    monkeypatch.setattr(sys, "argv", [argv0])
    assert cli.program_name() == prog


def test_messages_use_the_program_name_typed() -> None:
    result = subprocess.run([sys.executable, "-m", "bench", "run", "--sampler", "annealing"], cwd=REPO,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2
    assert result.stderr.startswith(f"{cli.Path(sys.executable).name} -m bench run: error: "), result.stderr
