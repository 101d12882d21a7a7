"""Deskewing: the shear that straightens a slanted digit, as a search-space choice."""

from __future__ import annotations

import numpy as np
import pytest

from bench.families import create_family
from bench.families.preprocess import deskew, deskew_images


def _moments(image: np.ndarray) -> tuple[float, float, float]:
    rows, cols = np.mgrid[: image.shape[0], : image.shape[1]]
    mass = image.sum()
    cr, cc = (rows * image).sum() / mass, (cols * image).sum() / mass
    cov = ((rows - cr) * (cols - cc) * image).sum() / mass
    return cr, cc, cov


def _slanted_stroke(side: int = 28, slope: float = 0.5, shift: int = 4) -> np.ndarray:
    """A one-pixel stroke from bottom left to top right, off centre: a slanted, displaced '1'."""
    image = np.zeros((side, side), dtype=np.float32)
    for r in range(6, side - 6):
        image[r, int(round(side / 2 + shift + slope * (side / 2 - r)))] = 1.0
    return image


def test_deskew_makes_a_slanted_stroke_upright_and_centred() -> None:
    image = _slanted_stroke()
    _, _, cov_before = _moments(image)
    (out,) = deskew_images(image.reshape(1, -1))
    cr, cc, cov_after = _moments(out.reshape(28, 28))
    assert abs(cov_before) > 5  # clearly slanted before
    assert abs(cov_after) < 0.1 * abs(cov_before)
    assert abs(cr - 13.5) < 0.5 and abs(cc - 13.5) < 0.5  # the ink's centroid moved to the centre
    assert out.sum() == pytest.approx(image.sum(), rel=0.05)  # a shear moves ink, it does not make any


def test_deskew_leaves_an_upright_centred_digit_alone_and_blank_images_blank() -> None:
    upright = np.zeros((8, 8), dtype=np.float32)
    upright[1:7, 3:5] = 1.0  # symmetric about the centre (3.5, 3.5): nothing to straighten
    out = deskew_images(np.stack([upright.ravel(), np.zeros(64, dtype=np.float32)]))
    np.testing.assert_allclose(out[0], upright.ravel(), atol=1e-6)
    assert not out[1].any()


def test_deskew_refuses_images_that_are_not_square() -> None:
    with pytest.raises(ValueError, match="square"):
        deskew_images(np.zeros((2, 10)))


@pytest.mark.parametrize("family", ["tree", "knn", "svm", "logreg"])
def test_deskew_choice_puts_the_step_in_the_pipeline(family: str) -> None:
    params = {"deskew": True, "scaler": "none", "pca_variance": 0, "kernel": "rbf", "C": 1.0, "n_neighbors": 3,
              "weights": "uniform", "criterion": "gini", "max_depth": 5, "max_iter": 100, "tol": 1e-4}
    steps = dict(create_family(family).build(params, seed=0, n_jobs=1).steps)
    assert "deskew" in steps
    without = dict(create_family(family).build({**params, "deskew": False}, seed=0, n_jobs=1).steps)
    assert "deskew" not in without


def test_deskew_cache_answers_by_content_and_hands_out_read_only_arrays() -> None:
    images = np.stack([_slanted_stroke().ravel(), _slanted_stroke(slope=-0.3).ravel()])
    first = deskew_images(images)
    again = deskew_images(images.copy())  # another array with the same content: the cached result
    assert again is first and not first.flags.writeable
    np.testing.assert_array_equal(first, deskew(images))
    changed = images.copy()
    changed[1] = _slanted_stroke(slope=0.8).ravel()
    assert not np.array_equal(deskew_images(changed)[1], first[1])  # new content, new result
