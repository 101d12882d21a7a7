"""Each family declares the parameters it reads (name, type, the value that stands for the
library's default); a search space naming any other is refused when loaded, before Ray starts.

Every test walks the family registry, so a new family is checked as soon as it registers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bench.errors import BenchInputError
from bench.families import Family, create_family, list_families
from bench.families.base import Checkpointable, Hyperparameter, check_declarations, checkpoint_hooks
from bench.space import Param, SearchSpace, declared_parameters, default_space_dir, load_space, parse_space

FAMILIES = list_families()


def _shipped(family: str) -> SearchSpace:
    """The shipped file, parsed without the declaration check (so a failure lists the names)."""
    path = default_space_dir() / f"{family}.yaml"
    return parse_space(path.read_text(), family, str(path))


def _default_point(space: SearchSpace) -> dict[str, Any]:
    """The space's default configuration as a trial gets it: with the fixed values active under it."""
    config = dict(space.default)
    for param in space.params:
        if param.type == "fixed" and param.active(config):
            config[param.name] = param.value
    return config


def _same(a: Any, b: Any) -> bool:
    """Equal, and a bool only where the other is one (False == 0 is not the same default)."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def test_every_family_ships_a_space_and_every_space_names_a_family() -> None:
    assert {p.stem for p in default_space_dir().glob("*.yaml")} == set(FAMILIES)


@pytest.mark.parametrize("family", FAMILIES)
def test_shipped_space_names_only_declared_parameters(family: str) -> None:
    declared = create_family(family).declared()
    assert declared, family
    assert set(_shipped(family).names) <= set(declared), set(_shipped(family).names) - set(declared)
    assert load_space(family).names == _shipped(family).names  # the loader's check passes them


@pytest.mark.parametrize("family", FAMILIES)
def test_declared_defaults_are_the_spaces_default_point(family: str) -> None:
    """Where the space's default point gives a parameter, it gives the declared default."""
    declared = create_family(family).declared()
    point = _default_point(_shipped(family))
    assert point, family
    wrong = {name: (value, declared[name].default) for name, value in point.items() if not _same(value, declared[name].default)}
    assert not wrong, f"{family}: space default vs declared default: {wrong}"


def _values(param: Param) -> list[Any]:
    """Values the space can give ``param`` that its declared type must admit."""
    if param.type == "categorical":
        return list(param.choices)
    if param.type == "fixed":
        return [param.value]
    low, high = param.bounds
    return [int(low), int(high)] if param.type == "int" else [low, high]


@pytest.mark.parametrize("family", FAMILIES)
def test_every_value_a_shipped_space_gives_has_the_declared_type(family: str) -> None:
    declared = create_family(family).declared()
    space = _shipped(family)
    for param in space.params:
        for value in _values(param):
            assert declared[param.name].admits(value), (family, param.name, value, declared[param.name].value_type)
    for config in (space.default, *space.start):
        for name, value in config.items():
            assert declared[name].admits(value), (family, name, value)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_declaration_says_what_its_default_stands_for(family: str) -> None:
    for h in create_family(family).hyperparameters:
        assert h.stands_for.strip(), (family, h.name)
        assert h.admits(h.default), (family, h.name)


class _Reads(dict):
    """A configuration that notes every name read from it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def get(self, key: Any, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: Any) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)


@pytest.mark.parametrize("family", FAMILIES)
def test_build_reads_only_declared_parameters(family: str) -> None:
    """The default point, the starts and sampled configurations (every branch of the conditions):
    whatever ``build`` and ``max_fidelity`` look up is declared, and every declaration is looked up."""
    model_family = create_family(family)
    if "torch" in model_family.libraries:
        pytest.importorskip("torch")
    space = load_space(family)
    read: set[str] = set()
    for config in (_default_point(space), *space.start, *space.sample(30, seed=0)):
        params = _Reads(config)
        model_family.build(params, seed=0, n_jobs=1)
        model_family.max_fidelity(params)
        read |= params.read
    declared = set(model_family.declared())
    assert read <= declared, f"{family} reads undeclared {sorted(read - declared)}"
    assert declared <= read, f"{family} declares {sorted(declared - read)}, which no configuration looked up"


# ----------------------------------------------------------------- the loader refuses undeclared names


def _misspelt_svm(folder: Path, *, in_default: bool = True) -> Path:
    text = (default_space_dir() / "svm.yaml").read_text()
    params, rest = text.split("\ndefault:", 1)
    folder.mkdir(exist_ok=True)
    (folder / "svm.yaml").write_text(params.replace("gamma_factor:", "gama_factor:") + "\ndefault:"
                                     + (rest.replace("gamma_factor:", "gama_factor:") if in_default else rest))
    return folder


@pytest.mark.parametrize("in_default", [True, False])
def test_a_misspelt_parameter_is_refused_naming_it_and_the_valid_ones(tmp_path: Path, in_default: bool) -> None:
    """Misspelt in ``params`` only, the default naming the right one, the name is still the error."""
    folder = _misspelt_svm(tmp_path / "spaces", in_default=in_default)
    valid = ", ".join(declared_parameters("svm"))
    with pytest.raises(BenchInputError, match="unknown parameter 'gama_factor' for family svm; valid: ") as info:
        load_space("svm", folder)
    assert str(info.value).endswith(f"valid: {valid}") and "gamma_factor" in valid
    assert str(folder / "svm.yaml") in str(info.value)


def test_several_undeclared_parameters_are_named_together() -> None:
    text = "params:\n  Cc: {type: float, low: 0.1, high: 10.0}\n  krnel: {type: fixed, value: rbf}\ndefault: {Cc: 1.0}\n"
    with pytest.raises(BenchInputError, match=r"x.yaml: unknown parameters 'Cc', 'krnel' for family svm; valid: deskew, "):
        parse_space(text, "svm", "x.yaml", declared=declared_parameters("svm"))
    assert parse_space(text, "svm", "x.yaml").names == ["Cc", "krnel"]  # no declaration given: an old run's file, for its report


def test_a_misspelt_parameter_exits_2_through_the_cli(cli, tmp_path: Path) -> None:
    folder = _misspelt_svm(tmp_path / "spaces")
    result = cli("run", "--family", "svm", "--trials", "1", "--space-dir", str(folder),
                 "--results-dir", str(tmp_path / "results"), "--no-progress")
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "'gama_factor'" in lines[0] and f"valid: {', '.join(declared_parameters('svm'))}" in lines[0], lines[0]
    assert not (tmp_path / "results").exists()  # refused before any run folder (or Ray) exists


def test_the_refusal_comes_before_ray_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    import ray

    from bench.cli import main

    def no_ray(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("Ray was started before the search space was checked")

    monkeypatch.setattr(ray, "init", no_ray)
    folder = _misspelt_svm(tmp_path / "spaces")
    assert main(["run", "--family", "svm", "--trials", "1", "--space-dir", str(folder),
                 "--results-dir", str(tmp_path / "results"), "--no-progress"]) == 2
    assert "unknown parameter 'gama_factor' for family svm" in capsys.readouterr().err


# ----------------------------------------------------------------- the contract's own checks


def _family(**attributes: Any) -> type[Family]:
    def build(self: Family, params: dict[str, Any], *, seed: int, n_jobs: int, device: str = "cpu") -> Any:
        return None

    base = {"name": "toy", "description": "a toy", "build": build,
            "hyperparameters": (Hyperparameter("C", float, 1.0, "Toy(C=1.0)"),)}
    return type("Toy", (Family,), {**base, **attributes})


@pytest.mark.parametrize(("attributes", "message"), [
    ({"hyperparameters": ()}, "declares no hyperparameters"),
    ({"hyperparameters": (Hyperparameter("C", float, 1.0, "x"), Hyperparameter("C", float, 2.0, "y"))}, "declares C more than once"),
    ({"hyperparameters": (Hyperparameter("C", float, "one", "x"),)}, "C's default 'one' is not of its type"),
    ({"hyperparameters": (Hyperparameter("deep", int, True, "x"),)}, "deep's default True is not of its type"),
    ({"ceilings": {"units": 10}}, "bounds undeclared parameters: units"),
    ({"fidelity_unit": "rounds"}, "bounds undeclared parameters: n_rounds"),
    ({"checkpointable": True}, "checkpointable but lacks the hooks"),
])
def test_declarations_that_do_not_hold_together_are_refused(attributes: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        check_declarations(_family(**attributes))
    check_declarations(_family())  # the toy itself is fine


def test_checkpointable_families_have_the_hooks_and_others_none() -> None:
    class Resumable(_family()):
        checkpointable: ClassVar[bool] = True

        def fit_stages(self, model: Any, X: Any, y: Any, resume: dict[str, Any] | None = None) -> Iterator[float]:
            yield 1

        def save_state(self, model: Any, path: Path) -> None: ...

        def load_state(self, path: Path) -> dict[str, Any]:
            return {}

    check_declarations(Resumable)
    for name in FAMILIES:
        model_family = create_family(name)
        hooks = checkpoint_hooks(model_family)
        assert (hooks is model_family) == model_family.checkpointable, name
        assert not model_family.checkpointable or isinstance(model_family, Checkpointable)
    assert {n for n in FAMILIES if create_family(n).checkpointable} >= {"mlp", "cnn"}


def test_int_is_a_float_and_a_bool_is_no_number() -> None:
    rate, count, switch = Hyperparameter("lr", float, 0.1, "x"), Hyperparameter("n", int, 1, "x"), Hyperparameter("b", bool, False, "x")
    assert rate.admits(1) and rate.admits(0.5) and not rate.admits(True) and not rate.admits("0.1") and not rate.admits(None)
    assert count.admits(3) and not count.admits(3.0) and not count.admits(False)
    assert switch.admits(True) and not switch.admits(1)
    assert Hyperparameter("depth", int, None, "x").admits(None)
