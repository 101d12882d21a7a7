"""Bad input: one line naming the bad value and what is valid, exit status 2, no traceback.

The cases call ``bench.cli.main`` in-process (the ``cli`` fixture); one goes through a real
``python -m bench`` process, so the exit status and stderr of the process itself stay covered."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
from conftest import run_cli

from bench.cli import build_parser, main


def _assert_one_line_error(result, *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def _refused_by_parser(capsys: pytest.CaptureFixture, args: list[str], *needles: str) -> str:
    """An argument error answered in-process by argparse: exit 2, one line, naming what is wrong."""
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert ": error: " in lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.mark.parametrize("args", [["--family", "xgboost"], ["--family", "svm,xgboost,knn"], ["--family", "svm", "--family", "knn,xgboost"]])
def test_unknown_family(capsys: pytest.CaptureFixture, args: list[str]) -> None:
    """Comma lists and repeated --family are checked item by item: the bad one and the valid ones."""
    line = _refused_by_parser(capsys, ["run", *args], "--family", "unknown family 'xgboost'", "logreg, svm, knn", "all")
    assert "'svm'" not in line and "'knn'" not in line


def test_empty_family_list(capsys: pytest.CaptureFixture) -> None:
    _refused_by_parser(capsys, ["run", "--family", ","], "--family", "names no family", "svm")


def test_family_lists_are_flattened() -> None:
    args = build_parser().parse_args(["run", "--family", "svm,knn", "--family", "svm", "--family", "all"])
    assert args.family == ["svm", "knn", "all"]


@pytest.mark.parametrize(("flag", "value", "valid"), [
    ("--dataset", "emnist", "'digits', 'emnist-digits', 'fashion-mnist', 'kmnist', 'mnist'"),
    ("--sampler", "annealing", "valid samplers: tpe, random, cmaes, qmc, gp"),
    ("--scheduler", "hyperband", "valid schedulers: auto, asha, none"),
    ("--suite", "huge", "'small', 'standard'"),
])
def test_one_known_value(capsys: pytest.CaptureFixture, flag: str, value: str, valid: str) -> None:
    _refused_by_parser(capsys, ["run", "--family", "svm", flag, value], flag, repr(value), valid)


@pytest.mark.parametrize(("flag", "value", "bad"), [("--sampler", "tpe,annealing,random", "annealing"),
                                                    ("--scheduler", "asha,hyperband", "hyperband")])
def test_lists_of_methods_name_the_bad_one(capsys: pytest.CaptureFixture, flag: str, value: str, bad: str) -> None:
    line = _refused_by_parser(capsys, ["run", "--family", "svm", flag, value], flag, repr(bad), "valid")
    assert "'tpe'" not in line and "'asha'" not in line


@pytest.mark.parametrize(("flag", "value"), [("--trials", "0"), ("--trials", "many"), ("--time-budget", "0m"), ("--time-budget", "soon"),
                                             ("--cpus-per-trial", "0"), ("--seeds", "0,0"), ("--seeds", "a,b")])
def test_nonsense_numbers(capsys: pytest.CaptureFixture, flag: str, value: str) -> None:
    _refused_by_parser(capsys, ["run", "--family", "svm", flag, value], flag, repr(value))


def test_perf_repeats(capsys: pytest.CaptureFixture) -> None:
    _refused_by_parser(capsys, ["perf", "--repeats", "0"], "--repeats", "'0'")


@pytest.mark.parametrize("seed", ["0", "3"])  # the default value typed is still given
def test_seed_with_seeds(capsys: pytest.CaptureFixture, seed: str) -> None:
    _refused_by_parser(capsys, ["run", "--family", "svm", "--seed", seed, "--seeds", "0,1"], "--seed and --seeds")


def test_resume_with_options_it_would_ignore(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    line = _refused_by_parser(capsys, ["run", "--resume", str(tmp_path), "--family", "svm", "--dataset", "digits", "--trials", "5",
                                       "--sampler", "tpe", "--reproducible", "--address", "auto"],
                              "--resume", "--family", "--dataset", "--trials", "--sampler", "--reproducible")
    assert "ignore --family, --dataset, --trials, --sampler, --reproducible;" in line  # --address is allowed


def test_resume_takes_where_to_connect_read_and_write(tmp_path: Path) -> None:
    args = build_parser().parse_args(["run", "--resume", "RUN", "--address", "auto", "--storage", "/nfs/x", "--data-dir", "d",
                                      "--space-dir", "s", "--results-dir", str(tmp_path), "--no-progress"])
    assert args.resume == Path("RUN") and args.no_progress and args.results_dir == tmp_path
    assert (args.seed, args.sampler, args.dataset, args.family, args.checkpoint_interval) == (0, "tpe", "digits", None, 30.0)


def test_malformed_search_space(cli, tmp_path: Path) -> None:
    (tmp_path / "svm.yaml").write_text("params:\n  C: {type: float, low: 1, high: [\n")
    _assert_one_line_error(cli("run", "--family", "svm", "--space-dir", str(tmp_path)), "svm.yaml", "malformed YAML")


def test_invalid_search_space(cli, tmp_path: Path) -> None:
    (tmp_path / "svm.yaml").write_text("params:\n  C: {type: float, low: 10, high: 1}\n")
    _assert_one_line_error(cli("run", "--family", "svm", "--space-dir", str(tmp_path)), "'C'", "below high")


def test_tampered_idx_file(cli, mnist_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mnist"
    shutil.copytree(mnist_dir, folder)
    target = folder / "train-labels-idx1-ubyte.gz"
    target.chmod(0o644)
    raw = bytearray(gzip.decompress(target.read_bytes()))
    raw[-1] ^= 1
    target.write_bytes(gzip.compress(bytes(raw)))
    result = cli("run", "--family", "logreg", "--dataset", "mnist", "--data-dir", str(folder), "--results-dir", str(tmp_path / "r"))
    _assert_one_line_error(result, "checksum mismatch", "train-labels-idx1-ubyte")


def test_missing_data_offline(cli, tmp_path: Path) -> None:
    if Path("/usr/share/datasets/fashion-mnist").is_dir():
        pytest.skip("fashion-mnist is installed on this machine (apt-get install dataset-fashion-mnist)")
    empty = tmp_path / "empty"
    empty.mkdir()
    # no file anywhere and the mirror unreachable (a proxy where nothing listens): the error says where files go
    offline = {k: "http://127.0.0.1:9" for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}
    result = cli("run", "--family", "knn", "--dataset", "fashion-mnist", "--data-dir", str(empty), "--trials", "1",
                 "--train-size", "100", "--results-dir", str(tmp_path / "r"), env={**offline, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    _assert_one_line_error(result, "fashion-mnist", "--data-dir", "BENCH_DATA_DIR")


def test_unwritable_results_folder(cli, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    _assert_one_line_error(cli("run", "--family", "svm", "--results-dir", str(blocker / "results")), "results folder", str(blocker))


def test_unreachable_address_fails_fast(cli, tmp_path: Path) -> None:
    # refused by a socket probe before ray.init, which the cli fixture makes fail: no wait for Ray's own timeout
    result = cli("run", "--family", "svm", "--trials", "1", "--address", "127.0.0.1:9", "--results-dir", str(tmp_path))
    _assert_one_line_error(result, "127.0.0.1:9", "ray start")


def test_report_on_missing_results(cli, tmp_path: Path) -> None:
    _assert_one_line_error(cli("report", str(tmp_path / "nope")), "nope")


def test_bad_input_exits_2_from_a_real_process(tmp_path: Path) -> None:
    """End to end: ``python -m bench`` exits 2 with the one line on its stderr (bench/__main__.py
    passes main's return value to sys.exit). argparse's own refusal in a real process is
    tests/test_cli_help.py::test_messages_use_the_program_name_typed."""
    _assert_one_line_error(run_cli("reproduce", "--results-dir", str(tmp_path)), "--source", "notebook")
    assert not any(tmp_path.iterdir())
