"""Scores from ``sklearn.metrics``, timed, for validation during the search and test after it."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from sklearn import metrics


def _probabilities(model: Any, X: np.ndarray) -> np.ndarray | None:
    if not hasattr(model, "predict_proba"):
        return None
    try:
        return model.predict_proba(X)
    except (AttributeError, NotImplementedError):  # e.g. SVC(probability=False)
        return None


def evaluate(model: Any, X: np.ndarray, y: np.ndarray, prefix: str) -> tuple[dict[str, float], np.ndarray]:
    """Score a fitted model; returns ``{prefix+metric: value}`` and the predictions."""
    start = time.perf_counter()
    proba = _probabilities(model, X)
    if proba is not None:
        classes = getattr(model, "classes_", np.arange(proba.shape[1]))
        predicted = np.asarray(classes)[proba.argmax(axis=1)]
    else:
        predicted = model.predict(X)
    predict_seconds = time.perf_counter() - start
    scores = {
        "accuracy": metrics.accuracy_score(y, predicted),
        "balanced_accuracy": metrics.balanced_accuracy_score(y, predicted),
        "precision_macro": metrics.precision_score(y, predicted, average="macro", zero_division=0),
        "recall_macro": metrics.recall_score(y, predicted, average="macro", zero_division=0),
        "f1_macro": metrics.f1_score(y, predicted, average="macro", zero_division=0),
        "log_loss": (metrics.log_loss(y, proba, labels=getattr(model, "classes_", None)) if proba is not None else math.nan),
    }
    out = {f"{prefix}{k}": float(v) for k, v in scores.items()}
    out[f"{prefix}predict_seconds"] = predict_seconds
    return out, predicted


def confusion(y: np.ndarray, predicted: np.ndarray, n_classes: int) -> list[list[int]]:
    return metrics.confusion_matrix(y, predicted, labels=list(range(n_classes))).tolist()


def per_class_report(y: np.ndarray, predicted: np.ndarray, class_names: tuple[str, ...]) -> dict[str, Any]:
    return metrics.classification_report(
        y,
        predicted,
        labels=list(range(len(class_names))),
        target_names=list(class_names),
        output_dict=True,
        zero_division=0,
    )
