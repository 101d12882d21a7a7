"""Frames the report's figures need, derived from :func:`bench.load` results and nothing else.

Every number on the page comes through here from the run tables; the figure modules only draw.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bench.leaderboard import search_finals
from bench.results import Results

SEARCH = "search"
REPRODUCE = "reproduce"


def run_kind(manifest: dict[str, Any]) -> str:
    """``reproduce`` for runs written by ``bench reproduce``, ``search`` for ``bench run``."""
    return str(manifest.get("kind") or SEARCH)


def dataset_name(manifest: dict[str, Any]) -> str | None:
    """The dataset a run used; manifests store it as a mapping with ``name`` or a plain string."""
    dataset = manifest.get("dataset")
    if isinstance(dataset, dict):
        return dataset.get("name")
    return dataset if isinstance(dataset, str) else None


def param_columns(frame: pd.DataFrame) -> list[str]:
    """The ``params_*`` columns with at least one value in ``frame``, in table order."""
    return [c for c in frame.columns if c.startswith("params_") and frame[c].notna().any()]


def scored_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """Trials with a validation score and a fit time (completed or pruned), Pareto front marked."""
    needed = {"val_accuracy", "fit_seconds", "status"}
    if trials.empty or not needed <= set(trials.columns):
        return pd.DataFrame(columns=[*needed, "family", "dataset", "pareto"])
    scored = trials[(trials["status"] != "failed") & trials["val_accuracy"].notna() & (trials["fit_seconds"] > 0)].copy()
    scored["pareto"] = False
    for _, group in scored.groupby("dataset", sort=False):
        scored.loc[pareto_front(group, "fit_seconds", "val_accuracy").index, "pareto"] = True
    return scored


def pareto_front(frame: pd.DataFrame, cost: str, score: str) -> pd.DataFrame:
    """Rows no other row beats on both lower ``cost`` and higher ``score``, by increasing cost."""
    ordered = frame.sort_values([cost, score], ascending=[True, False])
    best_before = ordered[score].cummax().shift(fill_value=-np.inf)
    return ordered[ordered[score] > best_before]


def series_columns(trials: pd.DataFrame) -> list[str]:
    """What one best-so-far line is: one search (run, seed, family, dataset)."""
    return [c for c in ("run_id", "dataset", "family", "seed") if c in trials]


def best_so_far(trials: pd.DataFrame) -> pd.DataFrame:
    """Per search, the best validation accuracy after each trial, by trial number and wall time."""
    if trials.empty or "val_accuracy" not in trials or "trial_number" not in trials:
        return pd.DataFrame()
    keys = series_columns(trials)
    frame = trials.sort_values([*keys, "trial_number"]).copy()
    # a search where every trial failed stores an all-null (object) column
    score = pd.to_numeric(frame["val_accuracy"], errors="coerce").where(frame["status"] != "failed")
    frame["best_val_accuracy"] = score.groupby([frame[k] for k in keys]).cummax()
    frame["best_val_accuracy"] = frame.groupby(keys)["best_val_accuracy"].ffill()
    started = pd.to_datetime(frame["started_at"], utc=True, format="ISO8601", errors="coerce")
    finished = pd.to_datetime(frame["finished_at"], utc=True, format="ISO8601", errors="coerce")
    frame["elapsed_seconds"] = (finished - started.groupby([frame[k] for k in keys]).transform("min")).dt.total_seconds()
    frame["search"] = frame[keys].astype(str).agg(" · ".join, axis=1)
    return frame.dropna(subset=["best_val_accuracy"])


def class_names_for(results: Results, dataset: str, size: int) -> list[str]:
    """Class names from the manifest of a run on ``dataset``, else the label numbers."""
    for manifest in results.manifests.values():
        info = manifest.get("dataset")
        if dataset_name(manifest) == dataset and isinstance(info, dict) and len(info.get("class_names") or []) == size:
            return [str(c) for c in info["class_names"]]
    return [str(i) for i in range(size)]


@dataclass
class Confusion:
    """A family's confusion matrix summed over its final models (one per run and seed)."""

    dataset: str
    family: str
    matrix: np.ndarray
    models: int
    class_names: list[str]


def confusions(results: Results) -> list[Confusion]:
    """One summed confusion matrix per (dataset, family) from ``final.confusion_matrix`` (JSON)."""
    done = search_finals(results.final)
    if done.empty or "confusion_matrix" not in done:
        return []
    out = []
    for (dataset, family), group in done.dropna(subset=["confusion_matrix"]).groupby(["dataset", "family"], sort=False):
        matrices = [np.asarray(json.loads(m)) for m in group["confusion_matrix"]]
        if len({m.shape for m in matrices}) != 1:
            continue
        total = np.sum(matrices, axis=0)
        out.append(Confusion(dataset, family, total, len(matrices), class_names_for(results, dataset, total.shape[0])))
    return out


def winners(results: Results, board: pd.DataFrame) -> pd.DataFrame:
    """Per dataset, the final row (run, seed) of the leading family with the best test accuracy."""
    done = search_finals(results.final)
    if done.empty or board.empty:
        return done.iloc[0:0]
    top = board.groupby("dataset", sort=False).head(1)[["dataset", "family"]]
    rows = done.merge(top, on=["dataset", "family"])
    return rows.sort_values("test_accuracy", ascending=False).groupby("dataset", sort=False).head(1)


def misclassified(results: Results, winner: pd.Series, limit: int = 30) -> pd.DataFrame:
    """The winner's wrong test predictions (``test_index``, ``y_true``, ``y_pred``), first ``limit``."""
    predictions = results.predictions
    if predictions.empty:
        return predictions
    keys = [k for k in ("run_id", "dataset", "family", "seed") if k in predictions and k in winner.index]
    mask = np.logical_and.reduce([predictions[k] == winner[k] for k in keys])
    mine = predictions[mask]
    return mine[mine["y_true"] != mine["y_pred"]].sort_values("test_index").head(limit)


def reproductions(results: Results) -> pd.DataFrame:
    """Rows of ``final`` written by ``bench reproduce``: published vs reproduced accuracy."""
    final = results.final
    if final.empty:
        return final
    kinds = {run_id: run_kind(m) for run_id, m in results.manifests.items()}
    from_reproduce = final["run_id"].map(kinds).eq(REPRODUCE) if "run_id" in final else pd.Series(False, index=final.index)
    has_verdict = final["verdict"].notna() if "verdict" in final else pd.Series(False, index=final.index)
    rows = final[from_reproduce | has_verdict]
    return rows if {"published_accuracy", "test_accuracy"} <= set(rows.columns) else rows.iloc[0:0]


def datasets_in(results: Results) -> list[str]:
    """Dataset names of every run, in run order, without repeats."""
    names = [dataset_name(m) for m in results.manifests.values()]
    return list(dict.fromkeys(n for n in names if n))


def reproduction_samples(results: Results, limit: int = 5) -> dict[str, pd.DataFrame]:
    """Per reproduce run with a ``samples.parquet``, its first ``limit`` distinct training digits."""
    out = {}
    for run_id, path in results.paths.items():
        file = path / "samples.parquet"
        if run_kind(results.manifests.get(run_id, {})) != REPRODUCE or not file.is_file():
            continue
        samples = pd.read_parquet(file)
        if {"pixels", "label", "index", "height", "width"} <= set(samples.columns) and not samples.empty:
            sort = [c for c in ("position",) if c in samples]
            out[run_id] = samples.sort_values(sort).drop_duplicates("index").head(limit) if sort else samples.drop_duplicates("index").head(limit)
    return out
