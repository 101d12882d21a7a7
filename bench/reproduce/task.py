"""What runs inside a Ray worker: one published row, one repeat, on one CPU.

The task builds its own split from the raw pixels in the object store, fits the fixed
configuration, scores the test part once and returns plain data. A row that raises becomes a
failed result carrying its error text; the reproduction goes on.
"""

from __future__ import annotations

import os
import time
import traceback
import warnings
from typing import Any

import numpy as np
from sklearn import metrics
from threadpoolctl import threadpool_limits

from bench.reproduce.data import RawData, split
from bench.reproduce.estimator import build

#: Cores a reproduction task may use: every row runs single-threaded, as one Ray CPU.
CPUS_PER_TASK = 1


def _node() -> dict[str, Any]:
    try:
        import ray

        return {"node_ip": ray.util.get_node_ip_address(), "pid": os.getpid()}
    except Exception:  # noqa: BLE001 - outside Ray (tests calling the task directly)
        return {"node_ip": None, "pid": os.getpid()}


def _n_iter(model: Any) -> int | None:
    """Iterations the solver ran (the most over one-vs-rest parts): shows a fit stopped at max_iter."""
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    if hasattr(final, "n_iter_"):
        parts = [final.n_iter_]
    else:
        parts = [getattr(e, "n_iter_", None) for e in getattr(final, "estimators_", [])]
    values = [int(np.max(p)) for p in parts if p is not None]
    return max(values) if values else None


def run_job(job: dict[str, Any], data: RawData) -> dict[str, Any]:
    """Fit and score ``job`` (its spec already seeded); never raises for a model's failure."""
    result: dict[str, Any] = {"key": job["key"], "repeat": job["repeat"], "seed": job["seed"], **_node()}
    try:
        with threadpool_limits(limits=CPUS_PER_TASK), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            parts = split(data, job["protocol"], job["seed"])
            model = build(job["spec"])
            started = time.perf_counter()
            model.fit(parts.X_train, parts.y_train)
            fit_seconds = time.perf_counter() - started
            started = time.perf_counter()
            predicted = model.predict(parts.X_test)
            predict_seconds = time.perf_counter() - started
        labels = list(range(len(data.class_names)))
        correct = int(np.sum(predicted == parts.y_test))
        messages = sorted(
            {
                f"{w.category.__name__}: {str(w.message).splitlines()[0][:200]}"
                for w in caught
                if not issubclass(w.category, (DeprecationWarning, FutureWarning))
            }
        )
        result.update(
            {
                "status": "completed",
                "test_accuracy": float(metrics.accuracy_score(parts.y_test, predicted)),
                "test_correct": correct,
                "test_size": len(parts.y_test),
                "train_size": len(parts.y_train),
                "fit_seconds": fit_seconds,
                "predict_seconds": predict_seconds,
                "n_iter": _n_iter(model),
                "warnings": "; ".join(messages)[:1000] or None,
                "confusion_matrix": metrics.confusion_matrix(parts.y_test, predicted, labels=labels).tolist(),
                "error": None,
            }
        )
        samples = int(job["protocol"].get("samples", 0))
        if samples and job["repeat"] == 0:
            result["samples"] = {
                "index": parts.train_index[:samples].tolist(),
                "label": parts.y_train[:samples].tolist(),
                "pixels": parts.raw_train[:samples].tolist(),
            }
    except Exception as exc:  # noqa: BLE001 - a row that fails is a finding: keep its error, go on
        result.update(
            {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:2000], "traceback": traceback.format_exc()[-4000:]}
        )
    return result
