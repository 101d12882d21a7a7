"""Families adapt to a user's data: the CNN's input shape and channels, shifts on colour images,
and search-space choices that cannot apply (deskewing anything but square grey images)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.errors import BenchInputError
from bench.families.preprocess import adapt_spaces, deskew_applies
from bench.families.torch_estimator import input_shape, parse_image_shape
from bench.space import load_space

torch = pytest.importorskip("torch")


@pytest.mark.parametrize(
    ("features", "given", "shape"),
    [(64, "", (1, 8, 8)), (784, None, (1, 28, 28)), (3 * 32 * 32, "", (3, 32, 32)), (3 * 12 * 8, "3x12x8", (3, 12, 8))],
)
def test_the_input_shape_is_read_from_the_row_width_or_given(features: int, given: str | None, shape: tuple) -> None:
    assert input_shape(features, given) == shape


def test_an_input_shape_that_cannot_be_read_names_the_parameter() -> None:
    with pytest.raises(BenchInputError, match="image_shape"):
        input_shape(12 * 8)
    with pytest.raises(BenchInputError, match="does not hold rows of 100"):
        input_shape(100, "3x12x8")
    with pytest.raises(BenchInputError, match="channels x height x width"):
        parse_image_shape("12x8")


def test_the_cnn_takes_channels_and_a_non_square_size() -> None:
    from bench.families.cnn import CnnSpec

    net = CnnSpec(width=4, blocks=3, image_shape="3x12x8").build(3 * 12 * 8, 5)
    first = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.in_channels == 3
    assert net(torch.zeros(2, 3 * 12 * 8)).shape == (2, 5)


def test_a_cnn_fits_colour_rows_with_shifts() -> None:
    from bench.families import create_family

    rng = np.random.default_rng(0)
    X = rng.random((40, 3 * 6 * 10), dtype=np.float32)
    y = np.arange(40) % 4
    params = {"width": 4, "blocks": 1, "epochs": 1, "batch_size": 16, "shift": 1, "image_shape": "3x6x10"}
    model = create_family("cnn").build(params, seed=0, n_jobs=1)
    assert model.fit(X, y).predict_proba(X).shape == (40, 4)


def test_a_shift_moves_every_channel_of_an_image_alike() -> None:
    from bench.families.torch_estimator import random_shift

    images = torch.rand(50, 3, 7, 9)
    images[:, 1] = images[:, 0] * 2  # channel 1 mirrors channel 0: a shift must keep that
    out = random_shift(images.reshape(50, -1), (3, 7, 9), 2, torch.Generator().manual_seed(0)).reshape(50, 3, 7, 9)
    torch.testing.assert_close(out[:, 1], out[:, 0] * 2)
    assert not torch.equal(out, images)


def test_deskew_is_left_out_where_it_cannot_apply_with_a_note() -> None:
    spaces = {family: load_space(family) for family in ("svm", "tree", "cnn", "mlp")}
    same, notes = adapt_spaces(spaces, (28, 28), 1)
    assert same == spaces and notes == [] and deskew_applies((28, 28), 1)
    colour, notes = adapt_spaces(spaces, (32, 32), 3)
    for family in ("svm", "tree"):
        assert "deskew" not in colour[family].names and "deskew" not in colour[family].default
        assert all("deskew" not in start for start in colour[family].start)
        assert any(note.startswith(f"{family}: deskew left out") for note in notes)
    assert colour["tree"].start[0]["criterion"] == "entropy"  # the start's other choices stay
    fixed = {p.name: p.value for p in colour["cnn"].params if p.type == "fixed"}
    assert fixed == {"image_shape": "3x32x32"} and "cnn: image_shape fixed to 3x32x32" in " ".join(notes)
    wide, _ = adapt_spaces(spaces, (20, 30), 1)
    assert "deskew" not in wide["svm"].names
    assert {p.name: p.value for p in wide["mlp"].params if p.type == "fixed"} == {"image_shape": "1x20x30"}


def test_a_start_that_only_deskewed_goes_with_deskewing() -> None:
    from bench.families.preprocess import without
    from bench.space import parse_space

    space = parse_space(
        "params:\n  deskew: {type: categorical, choices: [false, true]}\n  C: {type: float, low: 0.1, high: 10}\n"
        "default: {deskew: false, C: 1.0}\nstart:\n  - {deskew: true, C: 1.0}\n  - {deskew: true, C: 5.0}\n"
        "  - {deskew: false, C: 5.0}\n",
        "svm",
    )
    trimmed = without(space, "deskew")
    assert trimmed.names == ["C"] and trimmed.default == {"C": 1.0} and trimmed.start == ({"C": 5.0},)
