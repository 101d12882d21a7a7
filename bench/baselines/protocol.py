"""Protocols: what must be equal before a run's test accuracy may be subtracted from a published one.

Two accuracies are comparable only when they were measured on the same test images after
training on the same images, seeing the pixels the same way: the same dataset, split, training
size, input scaling and preprocessing (deskewing, augmentation, resizing, ensembling change
what the classifier sees; PCA and a scaler fit on the training data are part of the method and
count only through the scaling the classifier receives). Anything else is shown beside the run
with its protocol named, never as a difference.

>>> run = run_protocol({"dataset": "digits", "family": "svm", "train_size": 1437, "preprocessing": "raw"})
>>> run.describe()
'stratified 80/20 split (seed 0) · 1,437 train · pixels / max · raw pixels'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    import pandas as pd

    #: A row of ``final.parquet``: a pandas row or a dict.
    Row: TypeAlias = Mapping[str, Any] | pd.Series

#: Datasets whose published train/test files bench uses as they are, with their training size.
OFFICIAL_TRAIN_SIZE = {"mnist": 60_000, "fashion-mnist": 60_000}
#: All images of a dataset (train + test), for splits that pool them.
TOTAL_SIZE = {"mnist": 70_000, "fashion-mnist": 70_000, "digits": 1_797}
#: Preprocessing that changes what a classifier sees, and so the protocol.
PROTOCOL_KINDS = ("deskew", "augment", "resize", "ensemble")
#: The run table's preprocessing parts, as the kinds of the baseline files.
RUN_PARTS = {"deskew": "deskew", "shift": "augment", "augment": "augment", "pca": "pca"}
#: Families whose predictions a per-pixel monotone rescaling does not change (every split
#: threshold moves with the pixel), so input scaling is not part of their protocol.
SCALE_FREE_FAMILIES = frozenset({"tree", "forest", "lightgbm"})
#: Scalings that differ by one factor for every pixel: the same neighbours for k-NN.
UNIFORM_SCALINGS = frozenset({"raw", "unit"})

SCALING_TEXT = {
    "raw": "stored pixel values",
    "unit": "pixels / max",
    "standard": "standardised pixels",
    "minmax": "min-max scaled pixels",
    "method": "each method's own scaling",
    "scaled": "a scaler of unrecorded kind",
}
KIND_TEXT = {
    "deskew": "deskewing",
    "augment": "augmentation",
    "resize": "resized images",
    "ensemble": "an ensemble",
    "pca": "PCA",
}


@dataclass(frozen=True)
class Protocol:
    """What an accuracy was measured under; ``split`` names the split (equal names, equal splits)."""

    dataset: str
    split: str
    train_size: int | None
    scaling: str | None
    kinds: frozenset[str] = field(default_factory=frozenset)

    @property
    def pixels(self) -> frozenset[str]:
        """The preprocessing kinds that are part of the protocol (PCA is not)."""
        return self.kinds & frozenset(PROTOCOL_KINDS)

    def describe(self) -> str:
        """One line for a table cell or a tooltip."""
        size = f"{self.train_size:,} train" if self.train_size else "train size unknown"
        scaling = SCALING_TEXT.get(self.scaling or "", self.scaling or "scaling unknown")
        pixels = ", ".join(KIND_TEXT[k] for k in sorted(self.pixels)) or "raw pixels"
        return f"{self.split} · {size} · {scaling} · {pixels}"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _int(value: Any) -> int | None:
    return None if _missing(value) else int(value)


def _percent(fraction: float) -> str:
    return f"{round(fraction * 100):g}"


def split_name(protocol: Mapping[str, Any], dataset: str) -> str:
    """A published protocol's split, named so that equal names mean the same test images."""
    kind = protocol.get("split", "official")
    if kind == "official":
        return "official split"
    if kind == "pooled":
        test = float(protocol["test_size"])
        seeded = "seeded" if protocol.get("seeded") else "unseeded"
        return f"train+test pooled, random {_percent(1 - test)}/{_percent(test)} split ({seeded})"
    if kind == "head":
        train = float(protocol["train_fraction"])
        return f"first {_percent(train)}% of rows train, unshuffled ({_percent(train)}/{_percent(1 - train)})"
    return str(kind)


def published_train_size(protocol: Mapping[str, Any], dataset: str) -> int | None:
    """Training images of a published protocol: stated, or derived from its split."""
    if protocol.get("train_size"):
        return int(protocol["train_size"])
    kind = protocol.get("split", "official")
    total = TOTAL_SIZE.get(dataset)
    if kind == "official":
        return OFFICIAL_TRAIN_SIZE.get(dataset)
    if total is None:
        return None
    if kind == "pooled":  # train_test_split rounds the test part up
        return total - math.ceil(float(protocol["test_size"]) * total)
    if kind == "head":
        return int(float(protocol["train_fraction"]) * total)
    return None


def published_protocol(source: Mapping[str, Any], row: Mapping[str, Any], dataset: str) -> Protocol:
    """The protocol of one published number: the source's, overridden by the row's."""
    merged = {**source.get("protocol", {}), **row.get("protocol", {})}
    return Protocol(
        dataset=dataset,
        split=split_name(merged, dataset),
        train_size=published_train_size(merged, dataset),
        scaling=merged.get("scaling", "raw"),  # what bench reproduce feeds when none is named
        kinds=frozenset(row.get("preprocessing_kinds") or ()),
    )


def run_split(dataset: str) -> str:
    """The split bench uses for ``dataset`` (its test images are always the same ones)."""
    if dataset in OFFICIAL_TRAIN_SIZE:
        return "official split"
    if dataset == "digits":
        from bench.datasets.digits import SPLIT_SEED, TEST_FRACTION

        return f"stratified {_percent(1 - TEST_FRACTION)}/{_percent(TEST_FRACTION)} split (seed {SPLIT_SEED})"
    return f"bench's split of {dataset}"


def _parts(row: Row) -> list[str]:
    """The run's preprocessing parts: the ``preprocessing`` column, else its parameters."""
    text = row.get("preprocessing")
    if isinstance(text, str) and text:
        return [] if text == "raw" else [p.strip() for p in text.split("+") if p.strip()]
    parts = []
    if not _missing(row.get("params_deskew")) and bool(row.get("params_deskew")):
        parts.append("deskew")
    if row.get("params_scaler") not in (None, "none") and not _missing(row.get("params_scaler")):
        parts.append("scale")
    if not _missing(row.get("params_pca_variance")) and row.get("params_pca_variance"):
        parts.append("pca")
    return parts


def run_scaling(row: Row, parts: list[str]) -> str:
    """What the classifier sees: bench's pixels / max, or the scaler the search chose."""
    scaler = row.get("params_scaler")
    if isinstance(scaler, str) and scaler not in ("none", ""):
        return scaler
    named = [p for p in parts if p in ("standard", "minmax")]
    if named:
        return named[0]
    return "scaled" if "scale" in parts else "unit"


def run_protocol(row: Row) -> Protocol:
    """The protocol of one row of ``final.parquet`` (a pandas row or a dict)."""
    dataset = str(row.get("dataset"))
    parts = _parts(row)
    return Protocol(
        dataset=dataset,
        split=run_split(dataset),
        train_size=_int(row.get("train_size")),
        scaling=run_scaling(row, parts),
        kinds=frozenset(RUN_PARTS[p] for p in parts if p in RUN_PARTS),
    )


def scaling_matches(family: str, run: str | None, published: str | None) -> bool:
    """Whether two input scalings give ``family`` the same problem."""
    if published == "method" or family in SCALE_FREE_FAMILIES:
        return True
    if run is None or published is None:
        return False
    if family == "knn" and {run, published} <= UNIFORM_SCALINGS:
        return True
    return run == published


def differences(run: Protocol, published: Protocol, family: str) -> list[str]:
    """Why a published number is not comparable with a run: empty when it is."""
    out = []
    if run.dataset != published.dataset:
        out.append(f"published on {published.dataset}; this run on {run.dataset}")
    if run.split != published.split:
        out.append(f"published on the {published.split}; this run on the {run.split}")
    if run.train_size is None or run.train_size != published.train_size:
        theirs = f"{published.train_size:,}" if published.train_size else "an unknown number of"
        ours = f"{run.train_size:,}" if run.train_size else "an unknown number"
        out.append(f"published with {theirs} training images; this run {ours}")
    if not scaling_matches(family, run.scaling, published.scaling):
        out.append(
            f"published on {SCALING_TEXT.get(published.scaling or '', published.scaling)}; "
            f"this run on {SCALING_TEXT.get(run.scaling or '', run.scaling)}"
        )
    if run.pixels != published.pixels:
        theirs = ", ".join(KIND_TEXT[k] for k in sorted(published.pixels)) or "raw pixels"
        ours = "+".join(sorted(run.pixels)) or "raw pixels"
        out.append(
            f"published {'on' if not published.pixels else 'with'} {theirs}; "
            f"this run {'used ' + ours if run.pixels else 'on raw pixels'}"
        )
    return out


__all__ = ["PROTOCOL_KINDS", "Protocol", "differences", "published_protocol", "run_protocol", "scaling_matches"]
