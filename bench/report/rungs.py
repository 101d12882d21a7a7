"""Was early stopping fair? Per family, how the first rung's ranking of trials agrees with full training.

ASHA prunes on the scores at its first rung; if that ranking differs from the one at full fidelity,
pruned trials were judged on noise. Spearman's rank correlation over the trials that reached both
says so, from ``history.parquet`` alone:

- first rung: for schedule-bound families (mlp, cnn; their learning-rate schedule spans the plan),
  the first report at or past 1/27 of the trial's plan; for the others, the first report (step 1);
- full fidelity: the last report at progress >= 1 (the trial finished its plan).

>>> rank_correlations(bench.load("results").history)  # doctest: +SKIP
"""

from __future__ import annotations

import warnings

import pandas as pd

from bench.errors import BenchInputError
from bench.results import STUDY_KEYS

FIRST_RUNG_PROGRESS = 1 / 27
FLAG_BELOW = 0.5
MIN_TRIALS = 3
_EPS = 1e-9
COLUMNS = ["dataset", "family", "first_rung", "trials", "spearman_rho", "flagged", "note"]
TOO_FEW = f"not enough trials (n < {MIN_TRIALS})"
ONE_REPORT = "one report per trial: no intermediate scores, nothing to stop early"
FLAGGED = (
    f"below {FLAG_BELOW}: the first rung ranks trials unlike full training, so trials pruned there may have been judged unfairly"
)


def schedule_bound(family: str) -> bool:
    """Whether the family's rungs sit at fractions of each trial's own plan (an unknown one: no)."""
    from bench.families import create_family

    try:
        return bool(create_family(family).schedule_bound)
    except BenchInputError:
        return False


def first_rung_label(family: str) -> str:
    return "1/27 of each plan" if schedule_bound(family) else "first report (step 1)"


def _trial_keys(history: pd.DataFrame) -> list[str]:
    return [c for c in (*STUDY_KEYS, "trial_id") if c in history]


def rung_scores(history: pd.DataFrame) -> pd.DataFrame:
    """Per trial that reached both: ``first`` (score at the first rung) and ``full`` (at full
    fidelity), from two different reports; a trial whose first report is already its full
    fidelity was never at risk of early stopping and is left out."""
    needed = {"family", "step", "progress", "val_accuracy"}
    keys = _trial_keys(history)
    if history.empty or not needed <= set(history.columns):
        return pd.DataFrame(columns=[*keys, "first", "full"])
    frame = history.assign(
        progress=pd.to_numeric(history["progress"], errors="coerce"),
        val_accuracy=pd.to_numeric(history["val_accuracy"], errors="coerce"),
    )
    frame = frame.dropna(subset=["val_accuracy"]).sort_values([*keys, "step"], kind="stable")
    bound = frame["family"].map({f: schedule_bound(f) for f in frame["family"].unique()}).astype(bool)
    at_rung = (bound & (frame["progress"] >= FIRST_RUNG_PROGRESS - _EPS)) | (~bound & (frame["step"] == 1))
    first = frame[at_rung].groupby(keys, sort=False).head(1)
    full = frame[frame["progress"] >= 1 - _EPS].groupby(keys, sort=False).tail(1)
    both = first.merge(full, on=keys, suffixes=("_first", "_full"))
    both = both[both["step_first"] < both["step_full"]]
    return both.rename(columns={"val_accuracy_first": "first", "val_accuracy_full": "full"})[[*keys, "first", "full"]]


def _correlation(pairs: pd.DataFrame, reports: pd.DataFrame) -> tuple[float, str]:
    from scipy.stats import spearmanr

    if pairs.empty and not reports.groupby(_trial_keys(reports)).size().gt(1).any():
        return float("nan"), ONE_REPORT
    if len(pairs) < MIN_TRIALS:
        return float("nan"), TOO_FEW
    with warnings.catch_warnings():  # constant input: scipy warns and returns NaN, said below
        warnings.simplefilter("ignore")
        rho = float(spearmanr(pairs["first"], pairs["full"]).statistic)
    if pd.isna(rho):
        return rho, "every trial scored the same at one of the two fidelities: no ranking to compare"
    return rho, FLAGGED if rho < FLAG_BELOW else ""


def rank_correlations(history: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, family) in ``history``: trials that reached both fidelities, Spearman's
    rho between their scores there, ``flagged`` when rho < 0.5, and a note where rho is missing."""
    if history.empty or "family" not in history:
        return pd.DataFrame(columns=COLUMNS)
    history = history if "dataset" in history else history.assign(dataset="")
    pairs = rung_scores(history)
    rows = []
    for (dataset, family), _ in history.groupby(["dataset", "family"], sort=False):
        mine = pairs[(pairs["dataset"] == dataset) & (pairs["family"] == family)]
        rho, note = _correlation(mine, history[(history["dataset"] == dataset) & (history["family"] == family)])
        rows.append(
            {
                "dataset": dataset,
                "family": family,
                "first_rung": first_rung_label(str(family)),
                "trials": len(mine),
                "spearman_rho": rho,
                "flagged": bool(rho < FLAG_BELOW),
                "note": note,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


#: Headers of :func:`display`'s columns, for the report's table.
HEADERS = {
    "dataset": "dataset",
    "family": "family",
    "first_rung": "first rung",
    "trials": "trials reaching both",
    "spearman_rho": "Spearman ρ",
    "note": "note",
}


def display(rows: pd.DataFrame) -> pd.DataFrame:
    """``rank_correlations`` as text cells (unescaped): a flagged rho carries a visible ⚠."""
    rho = [
        "-" if pd.isna(r) else f"⚠ {r:.2f}" if flagged else f"{r:.2f}"
        for r, flagged in zip(rows["spearman_rho"], rows["flagged"], strict=True)
    ]
    return rows.assign(spearman_rho=rho, trials=rows["trials"].astype(str), note=rows["note"].replace("", "-"))
