"""Frames the report's figures need, derived from :func:`bench.load` results and nothing else.

Every number on the page comes through here from the run tables; the figure modules only draw.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bench.leaderboard import pooled_finals
from bench.results import STUDY_KEYS, Results

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


def cost_seconds(trials: pd.DataFrame) -> pd.Series:
    """Seconds one configuration costs as it would run: its last stage's fit plus predicting validation.

    Staged families (svm, knn) refit on growing subsets and report ``fit_seconds`` summed over the
    stages; ``stage_fit_seconds`` is the final stage alone (``fit_seconds`` where a table lacks it).
    Prediction is added because it is k-NN's whole cost.
    """
    fit = pd.to_numeric(trials["fit_seconds"], errors="coerce")
    if "stage_fit_seconds" in trials:
        fit = pd.to_numeric(trials["stage_fit_seconds"], errors="coerce").fillna(fit)
    if "val_predict_seconds" in trials:
        fit = fit + pd.to_numeric(trials["val_predict_seconds"], errors="coerce").fillna(0.0)
    return fit


def scored_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """Trials with a validation score and a cost (:func:`cost_seconds`), Pareto front marked."""
    needed = {"val_accuracy", "fit_seconds", "status"}
    if trials.empty or not needed <= set(trials.columns):
        return pd.DataFrame(columns=[*needed, "cost_seconds", "family", "dataset", "pareto"])
    scored = trials.assign(cost_seconds=cost_seconds(trials))
    scored = scored[(scored["status"] != "failed") & scored["val_accuracy"].notna() & (scored["cost_seconds"] > 0)].copy()
    scored["pareto"] = False
    for _, group in scored.groupby("dataset", sort=False):
        scored.loc[pareto_front(group, "cost_seconds", "val_accuracy").index, "pareto"] = True
    return scored


def pareto_front(frame: pd.DataFrame, cost: str, score: str) -> pd.DataFrame:
    """Rows no other row beats on both lower ``cost`` and higher ``score``, by increasing cost."""
    ordered = frame.sort_values([cost, score], ascending=[True, False])
    best_before = ordered[score].cummax().shift(fill_value=-np.inf)
    return ordered[ordered[score] > best_before]


def series_columns(trials: pd.DataFrame) -> list[str]:
    """What one best-so-far line is: one search (run, seed, family, dataset, method)."""
    return [c for c in STUDY_KEYS if c in trials]


#: ``best_so_far`` orders: by trial number, or by the moment each score became known.
BY_TRIAL, BY_FINISH = "trial_number", "finished"


def counted_scores(trials: pd.DataFrame, search: pd.Series) -> pd.Series:
    """The validation scores a search's best counts: its completed trials' (a pruned or cut
    trial's score is half-trained), or every scored trial's where none completed."""
    score = pd.to_numeric(trials["val_accuracy"], errors="coerce")  # an all-failed search stores an all-null object column
    status = trials["status"] if "status" in trials else pd.Series("completed", index=trials.index)
    score = score.where(status != "failed")
    completed = (status == "completed") & score.notna()
    any_completed = completed.groupby(search).transform("any")
    return score.where(completed | ~any_completed)


def best_so_far(trials: pd.DataFrame, order: str = BY_TRIAL) -> pd.DataFrame:
    """Per search, the best validation accuracy known after each trial.

    ``BY_TRIAL`` walks trials by ``trial_number``. ``BY_FINISH`` walks them by ``finished_at`` and
    puts each at ``elapsed_seconds`` (its finish, since the search's first start): with concurrent
    trials a score is known only once its trial has finished, whatever order they started in.
    """
    if trials.empty or "val_accuracy" not in trials or "trial_number" not in trials:
        return pd.DataFrame()
    keys = series_columns(trials)
    frame = trials.copy()
    frame["search"] = frame[keys].astype(str).agg(" · ".join, axis=1) if keys else "search"
    frame["counted_val_accuracy"] = counted_scores(frame, frame["search"])
    started = _timestamps(frame, "started_at")
    finished = _timestamps(frame, "finished_at")
    frame["elapsed_seconds"] = (finished - started.groupby(frame["search"]).transform("min")).dt.total_seconds()
    if order == BY_FINISH:
        frame = frame.dropna(subset=["elapsed_seconds"]).sort_values(["search", "elapsed_seconds", "trial_number"], kind="stable")
    else:
        frame = frame.sort_values(["search", "trial_number"], kind="stable")
    best = frame.groupby("search", sort=False)["counted_val_accuracy"].cummax()
    frame["best_val_accuracy"] = best.groupby(frame["search"], sort=False).ffill()
    return frame.dropna(subset=["best_val_accuracy"])


def _timestamps(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    return pd.to_datetime(frame[column], utc=True, format="ISO8601", errors="coerce")


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
    done = pooled_finals(results.final)  # a copied run folder or a repeated seed counts once
    if done.empty or "confusion_matrix" not in done:
        return []
    out = []
    for (dataset_key, family_key), group in done.dropna(subset=["confusion_matrix"]).groupby(["dataset", "family"], sort=False):
        dataset, family = str(dataset_key), str(family_key)  # text columns (bench.safe_io checks them)
        matrices = [np.asarray(json.loads(m)) for m in group["confusion_matrix"]]
        if len({m.shape for m in matrices}) != 1:
            continue
        total = np.sum(matrices, axis=0)
        out.append(Confusion(dataset, family, total, len(matrices), class_names_for(results, dataset, total.shape[0])))
    return out


def winners(results: Results, board: pd.DataFrame) -> pd.DataFrame:
    """Per dataset, the final row (run, seed) of the board's first family (the best mean of the
    dataset's first protocol) with the best test accuracy."""
    done = pooled_finals(results.final)
    if done.empty or board.empty:
        return done.iloc[0:0]
    keys = ["dataset", "family", *(["protocol_key"] if "protocol_key" in board else [])]
    top = board.groupby("dataset", sort=False).head(1)[keys]
    rows = done.merge(top, on=keys)
    return rows.sort_values("test_accuracy", ascending=False).groupby("dataset", sort=False).head(1)


def misclassified(results: Results, winner: pd.Series, limit: int = 30) -> pd.DataFrame:
    """The winner's wrong test predictions (``test_index``, ``y_true``, ``y_pred``), first ``limit``."""
    predictions = results.predictions
    if predictions.empty:
        return predictions
    keys = [k for k in STUDY_KEYS if k in predictions and k in winner.index and not pd.isna(winner[k])]
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
    table = results.samples  # read by bench.results with its limits
    for run_id in results.paths:
        if run_kind(results.manifests.get(run_id, {})) != REPRODUCE or table.empty or "run_id" not in table:
            continue
        samples = table[table["run_id"] == run_id]
        if {"pixels", "label", "index", "height", "width"} <= set(samples.columns) and not samples.empty:
            sort = [c for c in ("position",) if c in samples]
            out[run_id] = (
                samples.sort_values(sort).drop_duplicates("index").head(limit)
                if sort
                else samples.drop_duplicates("index").head(limit)
            )
    return out
