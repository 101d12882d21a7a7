"""Preprocessing steps shared by families whose results depend on feature scaling."""

from __future__ import annotations

from typing import Any

from sklearn.decomposition import PCA
from sklearn.preprocessing import MinMaxScaler, StandardScaler

SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler}


def preprocessing_steps(params: dict[str, Any], seed: int) -> list[tuple[str, Any]]:
    """Pipeline steps for the ``scaler`` and ``pca_variance`` parameters, when present.

    ``pca_variance`` is the fraction of variance PCA keeps (0 or absent: no PCA), which
    transfers across datasets unlike a fixed component count.
    """
    steps: list[tuple[str, Any]] = []
    scaler = params.get("scaler", "none")
    if scaler not in (None, "none"):
        steps.append(("scale", SCALERS[scaler]()))
    variance = params.get("pca_variance") or 0
    if variance:
        steps.append(("pca", PCA(n_components=float(variance), svd_solver="full", random_state=seed)))
    return steps
