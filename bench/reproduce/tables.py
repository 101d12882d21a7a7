"""A reproduction's tables: one trials row per (row, repeat), one final row per published number.

The verdict compares the mean over completed repeats with the published number against the
source's tolerance; a row outside it is "not reproduced" and stays in the table.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

from bench.reproduce.estimator import describe
from bench.reproduce.plan import PlannedRow

VERDICTS = ("reproduced", "not reproduced", "failed")


def row_key(row: PlannedRow) -> str:
    return f"{row.source}/{row.dataset}/{row.baseline_id}"


def params_json(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def verdict(difference: float, tolerance: float) -> str:
    """ "reproduced" within ``tolerance`` (either way), "failed" without a measurement (NaN)."""
    if not math.isfinite(difference):
        return "failed"
    return "reproduced" if abs(difference) <= tolerance + 1e-12 else "not reproduced"


def trial_record(run_id: str, row: PlannedRow, job: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """The trials.parquet row of one repeat."""
    return {
        "run_id": run_id,
        "dataset": row.dataset,
        "family": row.family_label,
        "source": row.source,
        "baseline_id": row.baseline_id,
        "classifier": row.classifier,
        "params": params_json(job["spec"]["params"]),
        "estimator": describe(job["spec"]),
        "repeat": job["repeat"],
        "seed": job["seed"],
        "status": result.get("status", "failed"),
        "test_accuracy": result.get("test_accuracy", math.nan),
        "test_correct": result.get("test_correct"),
        "test_size": result.get("test_size"),
        "train_size": result.get("train_size"),
        "fit_seconds": result.get("fit_seconds", math.nan),
        "predict_seconds": result.get("predict_seconds", math.nan),
        "n_iter": result.get("n_iter"),
        "warnings": result.get("warnings"),
        "confusion_matrix": json.dumps(result["confusion_matrix"]) if result.get("confusion_matrix") else None,
        "node_ip": result.get("node_ip"),
        "error": result.get("error"),
    }


def final_record(run_id: str, row: PlannedRow, trials: list[dict[str, Any]]) -> dict[str, Any]:
    """The final.parquet row of one published number, from its repeats' trials rows."""
    done = sorted((t for t in trials if t["status"] == "completed"), key=lambda t: t["repeat"])
    scores = np.array([t["test_accuracy"] for t in done], dtype=float)
    mean = float(scores.mean()) if len(scores) else math.nan
    difference = mean - row.published
    errors = [t["error"] for t in trials if t.get("error")]
    return {
        "run_id": run_id,
        "dataset": row.dataset,
        "family": row.family_label,
        "source": row.source,
        "baseline_id": row.baseline_id,
        "classifier": row.classifier,
        "params": params_json(row.spec["params"]),
        "estimator": describe(row.spec),
        "published_params": row.published_params,
        "published_as": row.published_as,
        "published_accuracy": row.published,
        "test_accuracy": mean,
        "test_accuracy_std": float(scores.std(ddof=1)) if len(scores) > 1 else math.nan,
        "test_accuracy_min": float(scores.min()) if len(scores) else math.nan,
        "test_accuracy_max": float(scores.max()) if len(scores) else math.nan,
        "test_correct": done[0]["test_correct"] if len(done) == 1 else math.nan,
        "test_size": done[0]["test_size"] if done else math.nan,
        "repeats": row.repeats,
        "repeats_completed": len(done),
        "seeds": json.dumps(row.seeds),
        "difference": difference,
        "tolerance": row.tolerance,
        "verdict": verdict(difference, row.tolerance),
        "status": "completed" if done else "failed",
        "confusion_matrix": done[0]["confusion_matrix"] if done else None,
        "refit_seconds": float(np.mean([t["fit_seconds"] for t in done])) if done else math.nan,
        "protocol": json.dumps(row.protocol, sort_keys=True),
        "stand_in": row.stand_in,
        "notes": row.notes or None,
        "citation": row.citation,
        "url": row.url,
        "error": errors[0] if errors else None,
    }


def sample_records(run_id: str, row: PlannedRow, result: dict[str, Any], image_shape: tuple[int, int]) -> list[dict[str, Any]]:
    """samples.parquet rows: the first training digits of the first repeat, raw pixels."""
    samples = result.get("samples")
    if not samples:
        return []
    return [
        {
            "run_id": run_id,
            "source": row.source,
            "baseline_id": row.baseline_id,
            "dataset": row.dataset,
            "repeat": result["repeat"],
            "seed": result["seed"],
            "position": i,
            "index": int(index),
            "label": int(label),
            "height": image_shape[0],
            "width": image_shape[1],
            "pixels": [int(v) for v in pixels],
        }
        for i, (index, label, pixels) in enumerate(zip(samples["index"], samples["label"], samples["pixels"], strict=True))
    ]


def frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame.from_records(records)
