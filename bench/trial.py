"""What runs inside a Ray worker: one trial of the search, and the refit of the winner.

The arrays arrive through the Ray object store (``tune.with_parameters`` and ``ray.put``), so
every trial on a node reads the same shared memory instead of a copy in its closure.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from bench.families import create_family
from bench.metrics import confusion, evaluate, per_class_report


@dataclass(frozen=True)
class SearchData:
    """What a trial may see: the fitting and validation parts of the training data. No test."""

    X_fit: np.ndarray
    y_fit: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray


@dataclass(frozen=True)
class FinalData:
    """The whole (possibly subsampled) training set and the test set, for the refit only."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]


def _placement() -> dict[str, Any]:
    import ray

    return {"node_ip": ray.util.get_node_ip_address(), "node_id": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}


def pick_device(gpus: float) -> str:
    """"cuda" when Ray granted this task a GPU share and torch can see a GPU, else "cpu"."""
    if gpus <= 0:
        return "cpu"
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def _limit_torch_threads(cpus: int) -> None:
    import sys

    if "torch" in sys.modules:  # only families that use torch have imported it
        sys.modules["torch"].set_num_threads(cpus)


def run_trial(config: dict[str, Any], *, data: SearchData, family: str, seed: int, cpus: int, gpus: float = 0.0) -> None:
    """Ray Tune function trainable: fit in stages, report validation scores after each."""
    from ray import tune

    model_family = create_family(family)
    params = dict(config)
    placement = {**_placement(), "device": pick_device(gpus)}
    with threadpool_limits(limits=cpus), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning and friends: the score says enough
        model = model_family.build(params, seed=seed, n_jobs=cpus, device=placement["device"])
        _limit_torch_threads(cpus)
        fit_seconds = 0.0
        started = time.perf_counter()
        for fidelity in model_family.fit_stages(model, data.X_fit, data.y_fit):
            fit_seconds += time.perf_counter() - started
            scores, _ = evaluate(model, data.X_val, data.y_val, prefix="val_")
            if not math.isfinite(scores["val_accuracy"]):
                raise FloatingPointError(f"validation accuracy is {scores['val_accuracy']} at {fidelity}")
            tune.report({**scores, "fit_seconds": fit_seconds, "fidelity": int(fidelity), **placement})
            started = time.perf_counter()


def refit_and_test(family: str, params: dict[str, Any], seed: int, cpus: int, data: FinalData, gpus: float = 0.0) -> dict[str, Any]:
    """Fit the chosen configuration on all training data and score it once on the test set."""
    model_family = create_family(family)
    device = pick_device(gpus)
    with threadpool_limits(limits=cpus), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = model_family.build(dict(params), seed=seed, n_jobs=cpus, device=device)
        _limit_torch_threads(cpus)
        started = time.perf_counter()
        fidelity = 0
        for fidelity in model_family.fit_stages(model, data.X_train, data.y_train):
            pass
        fit_seconds = time.perf_counter() - started
        scores, predicted = evaluate(model, data.X_test, data.y_test, prefix="test_")
    return {
        **scores,
        "refit_seconds": fit_seconds,
        "fidelity": int(fidelity),
        "model_bytes": _model_bytes(model),
        "confusion_matrix": confusion(data.y_test, predicted, len(data.class_names)),
        "per_class": per_class_report(data.y_test, predicted, data.class_names),
        "predicted": predicted.astype(np.int64),
        "device": device,
        **_placement(),
    }


def _model_bytes(model: Any) -> int:
    """Serialized size of the fitted model: what it would cost to ship or store it."""
    import io

    import joblib

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.tell()
