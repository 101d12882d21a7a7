"""Preprocessing steps shared by families whose results depend on how the pixels are presented:
deskewing, scaling and PCA, each a search-space choice."""

from __future__ import annotations

import dataclasses
import hashlib
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage
from sklearn.decomposition import PCA
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, StandardScaler

from bench.families.base import Hyperparameter

if TYPE_CHECKING:
    from bench.space import SearchSpace

SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler}

#: The parameter :func:`deskew_images` answers to (LightGBM reads it alone).
DESKEW = Hyperparameter("deskew", bool, False, "the pixels as given (no deskewing)")
#: The parameters :func:`preprocessing_steps` reads; each default is "no such step", as the
#: library's estimator used alone on the [0, 1] pixels.
PREPROCESSING = (
    DESKEW,
    Hyperparameter("scaler", str, "none", "the [0, 1] pixels as given (no scaler)"),
    Hyperparameter("pca_variance", float, 0.0, "no PCA (every pixel)"),
)

#: Deskewed arrays kept per process, by content: a search feeds the same training subsets and
#: validation set to every trial on a worker, and hashing them costs a tenth of deskewing.
DESKEW_CACHE_ENTRIES = 4
_deskewed: OrderedDict[bytes, np.ndarray] = OrderedDict()


def deskew_images(X: np.ndarray) -> np.ndarray:
    """:func:`deskew` with a small per-process cache keyed by the array's content; the result
    is read-only, so no later step can change what the next trial gets."""
    X = np.ascontiguousarray(X)
    key = hashlib.sha1(X.data.cast("B"), usedforsecurity=False).digest() + repr((X.shape, X.dtype.str)).encode()
    if key in _deskewed:
        _deskewed.move_to_end(key)
        return _deskewed[key]
    out = deskew(X)
    out.flags.writeable = False
    _deskewed[key] = out
    while len(_deskewed) > DESKEW_CACHE_ENTRIES:
        _deskewed.popitem(last=False)
    return out


def deskew(X: np.ndarray) -> np.ndarray:
    """Straighten each square image by the shear that makes its ink's principal axis vertical,
    and centre its ink; the classic MNIST preprocessing (LeCun et al.'s "deskewing").

    From the image moments, alpha = cov(row, col) / var(row); output pixel (r, c) reads the input
    at (r + cr - m, c + cc - m + alpha (r - m)), with (cr, cc) the ink's centroid and m the
    image's centre, by bilinear interpolation. Stateless, so fit and predict see the same map.
    """
    X = np.asarray(X)
    side = round(X.shape[1] ** 0.5)
    if side * side != X.shape[1]:
        raise ValueError(f"deskew needs square images; {X.shape[1]} features is not a square")
    rows, cols = (grid.ravel().astype(np.float64) for grid in np.mgrid[:side, :side])
    sums = np.asarray(X, dtype=np.float64) @ np.stack([np.ones_like(rows), rows, cols, rows * rows, rows * cols], axis=1)
    mass = np.where(sums[:, 0] > 0, sums[:, 0], 1.0)
    cr, cc = sums[:, 1] / mass, sums[:, 2] / mass
    var_r = sums[:, 3] / mass - cr * cr
    cov = sums[:, 4] / mass - cr * cc
    alpha = np.where(var_r > 1e-9, cov / np.maximum(var_r, 1e-9), 0.0)
    centre = (side - 1) / 2.0
    out = np.empty(X.shape, dtype=np.float32)
    images = X.reshape(-1, side, side)
    for i, image in enumerate(images):
        shear = np.array([[1.0, 0.0], [alpha[i], 1.0]])
        offset = (cr[i] - centre, cc[i] - centre - alpha[i] * centre)
        out[i] = ndimage.affine_transform(image, shear, offset=offset, order=1).ravel()
    return out


def preprocessing_steps(params: dict[str, Any], seed: int) -> list[tuple[str, Any]]:
    """Pipeline steps for the ``deskew``, ``scaler`` and ``pca_variance`` parameters, when present.

    ``pca_variance`` is the fraction of variance PCA keeps (0 or absent: no PCA), which
    transfers across datasets unlike a fixed component count.
    """
    steps: list[tuple[str, Any]] = []
    if params.get("deskew"):
        steps.append(("deskew", FunctionTransformer(deskew_images)))
    scaler = params.get("scaler", "none")
    if scaler not in (None, "none"):
        steps.append(("scale", SCALERS[scaler]()))
    variance = params.get("pca_variance") or 0
    if variance:
        steps.append(("pca", PCA(n_components=float(variance), svd_solver="full", random_state=seed)))
    return steps


def deskew_applies(image_shape: tuple[int, int], channels: int) -> bool:
    """Deskewing reads one square grey image per row (the shear is estimated from ink moments)."""
    return channels == 1 and image_shape[0] == image_shape[1]


def adapt_spaces(
    spaces: dict[str, SearchSpace], image_shape: tuple[int, int], channels: int
) -> tuple[dict[str, SearchSpace], list[str]]:
    """The spaces fitted to images of ``image_shape`` (height, width) with ``channels``, and a
    note for each change (the manifest keeps them): ``deskew`` is left out of the search where it
    cannot apply, and the PyTorch families get the shape as the fixed ``image_shape`` parameter
    where the row width does not tell it (anything but square grey images)."""
    out: dict[str, SearchSpace] = {}
    notes: list[str] = []
    for family, space in spaces.items():
        out[family] = space
        if deskew_applies(image_shape, channels):
            continue
        shape = f"{channels}x{image_shape[0]}x{image_shape[1]}"
        if "deskew" in space.names:
            out[family] = without(out[family], "deskew")
            notes.append(f"{family}: deskew left out of the search (it needs square single-channel images; these are {shape})")
        if "image_shape" in _declared(family) and "image_shape" not in space.names:
            from bench.space import Param

            out[family] = dataclasses.replace(
                out[family], params=(*out[family].params, Param("image_shape", "fixed", value=shape))
            )
            notes.append(f"{family}: image_shape fixed to {shape} (channels x height x width of the dataset's images)")
    return out, notes


def without(space: SearchSpace, name: str) -> SearchSpace:
    """``space`` less the parameter ``name`` (and any that exists only under it), its default and
    start configurations too; a start that becomes the default, or another start, goes."""
    params = tuple(p for p in space.params if p.name != name and name not in p.when)
    kept = {p.name for p in params}
    default = {k: v for k, v in space.default.items() if k in kept}
    start: list[dict[str, Any]] = []
    for config in space.start:
        trimmed = {k: v for k, v in config.items() if k in kept}
        if trimmed != default and trimmed not in start:
            start.append(trimmed)
    return dataclasses.replace(space, params=params, default=default, start=tuple(start))


def _declared(family: str) -> tuple[str, ...]:
    from bench.space import declared_parameters

    return declared_parameters(family)
