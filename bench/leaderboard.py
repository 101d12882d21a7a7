"""The leaderboard, computed once from the ``final`` (and ``predictions``) tables for the terminal
and the HTML report.

Both sinks format the same frame with :func:`formatted`, so the numbers printed at the end of
``bench run`` and the numbers in ``report.html`` cannot drift apart. The terminal shows
:data:`COLUMNS`; the HTML shows :data:`HTML_COLUMNS`, which begin with the same columns.

One row per (dataset, protocol, family). Runs pool only under the same protocol
(:data:`PROTOCOL_KEYS`: training size, trial count or time budget, sampler, scheduler, mode,
validation), so a 5-trial smoke run never averages into a 20-trial one; a (run, family, seed)
counts once however many copies of its folder were loaded, and a seed repeated in another run of
the same protocol counts once (the first run's, by run id: ids begin with their UTC start).

How sure each number is (:mod:`bench.stats`):

- ``test_wilson_low/high``: the 95% Wilson interval of the pooled correct/total test
  predictions: test-set sampling noise at the test set's size.
- ``test_accuracy_std`` / ``test_accuracy_ci95``: spread of the seeds' accuracies and the
  Student-t half-width of their mean: *search noise only*, since every seed scores the same
  test images.
- ``tuning_p_value``: exact McNemar between the selected model and the library default's refit,
  of the first (lowest) seed: seeds share the test set, so their p-values are not independent
  and are not combined.
- ``tie``: within a dataset and protocol, the family with the best mean is the ``winner``; each
  other family's test predictions are paired with the winner's on the first seed both have
  (pairs of different seeds are not independent, so seeds are not concatenated), tested with
  exact McNemar and Holm-corrected across the families: ``tied`` where the adjusted p >= 0.05,
  else ``worse`` (or ``better``, where that seed disagrees with the means). None without
  predictions.
- ``published_*``: the published number measured under the same protocol
  (:func:`bench.baselines.comparable_published`), with ``published_difference``; any other
  published number is shown with ``published_note`` naming what differs and no difference.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table
from rich.text import Text

from bench.results import STUDY_KEYS
from bench.safe_io import one_line
from bench.stats import CONFIDENCE, holm, mcnemar_exact, t_halfwidth, wilson_interval

#: Columns the terminal shows, with their headers; the HTML shows these first, in this order.
COLUMNS = {
    "family": "family",
    "test_accuracy": "test acc",
    "test_wilson95": "95% Wilson",
    "test_accuracy_std": "± std",
    "test_accuracy_ci95": "95% CI ±",
    "default_test_accuracy": "default",
    "tuning_gain": "gain",
    "tuning_p_value": "p",
    "tie": "tie",
    "val_accuracy": "val acc",
    "n": "n",
    "published_accuracy": "published",
    "published_difference": "Δ pub.",
}
#: Columns only the HTML adds after :data:`COLUMNS` (the terminal stays readable at 140 columns).
HTML_EXTRA = {
    "tie_p_value": "tie p (Holm)",
    "selected": "selected",
    "test_f1_macro": "test F1",
    "refit_seconds": "refit s",
    "search_seconds": "search s",
    "trials_completed": "completed",
    "trials_pruned": "pruned",
    "trials_cut": "cut",
    "trials_failed": "failed",
    "preprocessing": "preprocessing",
    "refit_note": "note",
    "reproduced_accuracy": "reproduced",
}
HTML_COLUMNS = {**COLUMNS, **HTML_EXTRA}
#: Extra text columns the HTML shows beside the numbers.
BASELINE_TEXT = ("published_source", "published_classifier", "published_citation", "published_protocol", "published_note")
#: What makes two runs' results poolable (besides dataset and family).
PROTOCOL_KEYS = ("train_size", "trials_requested", "time_budget_s", "sampler", "scheduler", "mode", "validation")
#: Columns formatted from two board columns: an interval.
INTERVALS = {"test_wilson95": ("test_wilson_low", "test_wilson_high")}
TIE_ALPHA = 0.05
#: Every column of :func:`leaderboard`'s frame (an empty board has them too).
BOARD_COLUMNS = [
    "dataset",
    "family",
    "protocol_key",
    "protocol",
    "test_accuracy",
    "test_accuracy_std",
    "test_accuracy_ci95",
    "test_correct",
    "test_total",
    "test_wilson_low",
    "test_wilson_high",
    "default_test_accuracy",
    "tuning_gain",
    "tuning_p_value",
    "tuning_p_seed",
    "selected",
    "val_accuracy",
    "test_f1_macro",
    "refit_seconds",
    "search_seconds",
    "trials_completed",
    "trials_pruned",
    "trials_cut",
    "trials_failed",
    "n",
    "seeds",
    "refit_note",
    "preprocessing",
    *PROTOCOL_KEYS,
    "published_accuracy",
    "published_difference",
    "published_comparable",
    "published_baseline_id",
    "reproduced_accuracy",
    *BASELINE_TEXT,
    "tie",
    "tie_p_value",
    "tie_seed",
]

_ACCURACY = {
    "test_accuracy",
    "val_accuracy",
    "test_f1_macro",
    "test_accuracy_std",
    "published_accuracy",
    "default_test_accuracy",
    "test_accuracy_ci95",
    "reproduced_accuracy",
}
_SIGNED = {"published_difference", "tuning_gain"}
_P_VALUES = {"tuning_p_value", "tie_p_value"}
_SUMMED = ("trials_completed", "trials_pruned", "trials_cut", "trials_failed")
_MEAN = ("val_accuracy", "test_f1_macro", "refit_seconds")
_CONFIDENCE = CONFIDENCE


def ci_halfwidth(std: float, n: int, confidence: float = CONFIDENCE) -> float:
    """Half-width of the Student-t confidence interval of a mean of ``n`` values (NaN below 2)."""
    return t_halfwidth(std, n, confidence)


def published_baseline(dataset: str, family: str) -> dict[str, Any] | None:
    """The best published result for a family and dataset, whatever its protocol (or None)."""
    try:
        from bench.baselines import best_published
    except ImportError:
        return None
    try:
        return best_published(dataset, family)
    except (KeyError, ValueError, LookupError):
        return None


def search_finals(final: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``final`` that are searched-and-refit families (not reproduction rows)."""
    if final.empty or "test_accuracy" not in final or "family" not in final:
        return final.iloc[0:0]
    rows = final
    if "verdict" in rows:
        rows = rows[rows["verdict"].isna()]
    if "status" in rows:
        rows = rows[rows["status"] == "completed"]
    return rows


def _plain(value: Any) -> Any:
    """A protocol value as JSON-able plain data: None for missing, int for whole numbers."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return int(value) if float(value).is_integer() else float(value)
    return str(value)


def _budget(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def protocol_text(values: dict[str, Any]) -> str:
    """One readable line for a protocol key: ``1,437 train · 20 trials · tpe · asha · 5-fold CV``."""
    parts = []
    if values.get("train_size") is not None:
        parts.append(f"{values['train_size']:,} train")
    if values.get("trials_requested") is not None:
        parts.append(f"{values['trials_requested']} trials")
    if values.get("time_budget_s") is not None:
        parts.append(f"{_budget(float(values['time_budget_s']))} budget")
    for key in ("sampler", "scheduler", "validation"):
        if values.get(key) is not None:
            parts.append("no early stopping" if key == "scheduler" and values[key] == "none" else str(values[key]))
    if values.get("mode") not in (None, "default"):
        parts.append(f"{values['mode']} mode")
    return " · ".join(parts) or "-"


def pooled_finals(final: pd.DataFrame) -> pd.DataFrame:
    """The search rows of ``final`` that count: with ``protocol_key``/``protocol``, each
    (run, family, seed) once and each seed once per (dataset, family, protocol)."""
    rows = search_finals(final)
    if rows.empty:
        return rows.assign(protocol_key=pd.Series(dtype=str), protocol=pd.Series(dtype=str))
    rows = rows.copy()
    for column, default in (("seed", 0), ("run_id", "")):
        if column not in rows:
            rows[column] = default
    keys = [{k: _plain(row.get(k)) for k in PROTOCOL_KEYS} for _, row in rows.iterrows()]
    rows["protocol_key"] = [json.dumps(k, sort_keys=True) for k in keys]
    rows["protocol"] = [protocol_text(k) for k in keys]
    rows = rows.sort_values("run_id", kind="stable")
    study = [c for c in STUDY_KEYS if c in rows]
    rows = rows.drop_duplicates(study)  # a copied run folder
    return rows.drop_duplicates(["dataset", "family", "protocol_key", "seed"])  # a seed run again


def _confusion_counts(text: Any) -> tuple[float, float]:
    """(correct, total) from a confusion matrix stored as JSON."""
    try:
        matrix = np.asarray(json.loads(text), dtype=float)
        return float(np.trace(matrix)), float(matrix.sum())
    except (TypeError, ValueError):
        return math.nan, math.nan


def test_counts(rows: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Correct and total test predictions per row: from ``test_size``, else the confusion matrix."""
    total = pd.to_numeric(rows["test_size"], errors="coerce") if "test_size" in rows else pd.Series(math.nan, index=rows.index)
    correct = (rows["test_accuracy"] * total).round()
    if "confusion_matrix" in rows:
        counts = [_confusion_counts(t) for t in rows["confusion_matrix"]]
        correct = correct.fillna(pd.Series([c for c, _ in counts], index=rows.index))
        total = total.fillna(pd.Series([t for _, t in counts], index=rows.index))
    return correct, total


def _numeric(rows: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_numeric(rows[column], errors="coerce") if column in rows else pd.Series(math.nan, index=rows.index)


def _selected(values: pd.Series) -> str | None:
    """ "tuned", "default", or "tuned 2/3" across seeds."""
    values = values.dropna().astype(str)
    if values.empty:
        return None
    return values.iloc[0] if values.nunique() == 1 else f"tuned {int((values == 'tuned').sum())}/{len(values)}"


def _texts(values: pd.Series) -> str | None:
    unique = [str(v) for v in dict.fromkeys(values.dropna()) if str(v)]
    return "; ".join(unique) or None


def _summary(group: pd.DataFrame) -> dict[str, Any]:
    """One board row from the pooled final rows of one (dataset, protocol, family)."""
    group = group.sort_values("seed", kind="stable")
    accuracy = group["test_accuracy"].astype(float)
    correct, total = test_counts(group)
    low, high = (
        wilson_interval(int(correct.sum()), int(total.sum()))
        if correct.notna().all() and total.notna().all()
        else (math.nan, math.nan)
    )
    default = _numeric(group, "default_test_accuracy")
    gain = _numeric(group, "tuning_gain").fillna(accuracy - default)
    p_values = _numeric(group, "tuning_p_value")
    first_p = p_values.dropna()
    std = float(accuracy.std()) if len(group) > 1 else math.nan
    return {
        "test_accuracy": float(accuracy.mean()),
        "test_accuracy_std": std,
        "test_accuracy_ci95": ci_halfwidth(std, len(group)),
        "test_correct": float(correct.sum()) if correct.notna().all() else math.nan,
        "test_total": float(total.sum()) if total.notna().all() else math.nan,
        "test_wilson_low": low,
        "test_wilson_high": high,
        "default_test_accuracy": float(default.mean()) if default.notna().all() else math.nan,
        "tuning_gain": float(gain.mean()) if gain.notna().all() else math.nan,
        "tuning_p_value": float(first_p.iloc[0]) if not first_p.empty else math.nan,
        "tuning_p_seed": group.loc[first_p.index[0], "seed"] if not first_p.empty else None,
        "selected": _selected(group["selected"]) if "selected" in group else None,
        **{c: float(_numeric(group, c).mean()) for c in _MEAN},
        "search_seconds": float(_numeric(group, "search_seconds").sum(min_count=1)),
        **{c: float(_numeric(group, c).sum(min_count=1)) for c in _SUMMED},
        "n": len(group),
        "seeds": int(group["seed"].nunique()),
        "refit_note": _texts(group["refit_note"]) if "refit_note" in group else None,
        "preprocessing": _texts(group["preprocessing"]) if "preprocessing" in group else None,
        **{k: _plain(group[k].iloc[0]) if k in group else None for k in PROTOCOL_KEYS},
    }


def leaderboard(final: pd.DataFrame, predictions: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (dataset, protocol, family), best mean test accuracy first within each.

    ``predictions`` (``predictions.parquet``) turns on the tie marks; without it ``tie`` is None.
    """
    done = pooled_finals(final)
    if done.empty:
        return pd.DataFrame(columns=BOARD_COLUMNS)
    rows = []
    for (dataset, key, family), group in done.groupby(["dataset", "protocol_key", "family"], sort=False):
        rows.append(
            {
                "dataset": dataset,
                "family": family,
                "protocol_key": key,
                "protocol": group["protocol"].iloc[0],
                **_summary(group),
                **published_columns(group, final),
            }
        )
    board = pd.DataFrame(rows)
    board = board.sort_values(
        ["dataset", "protocol", "test_accuracy", "family"], ascending=[True, True, False, True], ignore_index=True
    )
    for column in (*BASELINE_TEXT, "published_baseline_id", "selected", "refit_note", "preprocessing"):
        board[column] = board[column].astype(object).where(board[column].notna(), None)  # never "nan" as text
    board = board.assign(tie=None, tie_p_value=math.nan, tie_seed=None)
    if predictions is not None and not predictions.empty:
        mark_ties(board, done, predictions)
    return board[BOARD_COLUMNS]


# ------------------------------------------------------------------ published numbers


def published_columns(group: pd.DataFrame, final: pd.DataFrame) -> dict[str, Any]:
    """The published number beside one board row, compared only under the same protocol."""
    empty = {
        "published_accuracy": math.nan,
        "published_difference": math.nan,
        "published_comparable": False,
        "published_baseline_id": None,
        "reproduced_accuracy": math.nan,
        **dict.fromkeys(BASELINE_TEXT),
    }
    try:
        from bench.baselines import comparable_published
        from bench.baselines.protocol import run_protocol
    except ImportError:
        return empty
    family = str(group["family"].iloc[0])
    protocols = {run_protocol(row) for _, row in group.iterrows()}
    first = run_protocol(group.sort_values("seed", kind="stable").iloc[0])
    best = comparable_published(first, family)
    if best is None:
        return empty
    note = best["note"]
    comparable = bool(best["comparable"]) and len(protocols) == 1
    if len(protocols) > 1:
        kinds = sorted({"+".join(sorted(p.pixels)) or "raw" for p in protocols} | {p.scaling or "?" for p in protocols})
        note = "; ".join(filter(None, [f"seeds differ in preprocessing or scaling ({', '.join(kinds)})", note]))
    mean = group["test_accuracy"].astype(float).mean()
    return {
        "published_accuracy": best["accuracy"],
        "published_difference": mean - best["accuracy"] if comparable else math.nan,
        "published_comparable": comparable,
        "published_baseline_id": best["baseline_id"],
        "published_source": best["source"],
        "published_classifier": best["classifier"],
        "published_citation": best["citation"],
        "published_protocol": best["protocol"],
        "published_note": note,
        "reproduced_accuracy": reproduced(final, str(group["dataset"].iloc[0]), best["baseline_id"], best["source"]),
    }


def reproduced(final: pd.DataFrame, dataset: str, baseline_id: str, source: str) -> float:
    """Mean test accuracy ``bench reproduce`` measured for one published row (NaN if never run)."""
    if final.empty or not {"verdict", "baseline_id", "test_accuracy"} <= set(final.columns):
        return math.nan
    rows = final[final["verdict"].notna() & (final["baseline_id"] == baseline_id) & (final.get("dataset") == dataset)]
    if "source" in rows:
        rows = rows[rows["source"] == source]
    return float(rows["test_accuracy"].mean()) if not rows.empty else math.nan


# ------------------------------------------------------------------ tie marks


def _paired(predictions: pd.DataFrame, rows: pd.DataFrame, seed: Any) -> pd.DataFrame:
    """One family's test predictions for ``seed`` (from the run whose row counted)."""
    row = rows[rows["seed"] == seed].iloc[0]
    mask = (predictions["family"] == row["family"]) & (predictions["seed"] == seed)
    if "run_id" in predictions and row["run_id"]:
        mask &= predictions["run_id"] == row["run_id"]
    for key in ("dataset", "sampler", "scheduler"):  # a run comparing methods holds one study per method
        if key in predictions and key in row.index and isinstance(row[key], str):
            mask &= predictions[key] == row[key]
    return predictions.loc[mask, ["test_index", "y_true", "y_pred"]]


def _pair_test(predictions: pd.DataFrame, winner: pd.DataFrame, other: pd.DataFrame) -> tuple[float, Any, float] | None:
    """(McNemar p, seed, other's accuracy minus the winner's on it) on the first seed both have."""
    for seed in sorted(set(winner["seed"]) & set(other["seed"])):
        a, b = _paired(predictions, winner, seed), _paired(predictions, other, seed)
        pairs = a.merge(b, on="test_index", suffixes=("_a", "_b"))
        pairs = pairs[pairs["y_true_a"] == pairs["y_true_b"]]
        if pairs.empty:
            continue
        truth = pairs["y_true_a"]
        p = mcnemar_exact(truth, pairs["y_pred_a"], pairs["y_pred_b"])
        return p, seed, float((pairs["y_pred_b"] == truth).mean() - (pairs["y_pred_a"] == truth).mean())
    return None


def mark_ties(board: pd.DataFrame, done: pd.DataFrame, predictions: pd.DataFrame) -> None:
    """Fill ``tie``, ``tie_p_value`` (Holm-adjusted) and ``tie_seed`` in place, per dataset and protocol."""
    if not {"family", "seed", "test_index", "y_true", "y_pred"} <= set(predictions.columns):
        return
    keys = [k for k in (*STUDY_KEYS, "test_index") if k in predictions]
    predictions = predictions.drop_duplicates(keys)  # a copied run folder
    for _, group in board.groupby(["dataset", "protocol_key"], sort=False):
        winner = group.index[0]  # the board is sorted by mean test accuracy within the group
        board.at[winner, "tie"] = "winner"
        rows = {
            i: done[
                (done["dataset"] == board.at[i, "dataset"])
                & (done["protocol_key"] == board.at[i, "protocol_key"])
                & (done["family"] == board.at[i, "family"])
            ]
            for i in group.index
        }
        tests = {i: _pair_test(predictions, rows[winner], rows[i]) for i in group.index[1:]}
        found = {i: t for i, t in tests.items() if t is not None}
        for i, adjusted in zip(found, holm([t[0] for t in found.values()]), strict=True):
            _, seed, ahead = found[i]
            board.at[i, "tie_p_value"] = adjusted
            board.at[i, "tie_seed"] = seed
            board.at[i, "tie"] = "tied" if adjusted >= TIE_ALPHA else ("worse" if ahead < 0 else "better")


# ------------------------------------------------------------------ formatting


def fmt(column: str, value: Any) -> str:
    """One cell as text; the terminal and the HTML both use this."""
    if isinstance(value, tuple):
        return "-" if any(pd.isna(v) for v in value) else "–".join(f"{v:.4f}" for v in value)
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "-"
    if column in _ACCURACY:
        return f"{value:.4f}"
    if column in _SIGNED:
        return f"{value:+.4f}"
    if column in _P_VALUES:
        return "<0.001" if value < 0.001 else f"{value:.3f}"
    if column.endswith("seconds"):
        return f"{value:.2f}" if value < 10 else f"{value:.1f}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_fmt = fmt  # the name the first report used


def formatted(board: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """The board as display strings (unescaped): the single source of both renderings."""
    columns = columns or ["dataset", *COLUMNS]

    def cells(column: str) -> list[str]:
        if column in INTERVALS:
            low, high = INTERVALS[column]
            return [fmt(column, (a, b)) for a, b in zip(board[low], board[high], strict=True)]
        values = board[column] if column in board else [None] * len(board)
        return [fmt(column, v) for v in values]

    return pd.DataFrame({c: cells(c) for c in columns}, index=board.index)


def notes(board: pd.DataFrame) -> list[str]:
    """What the columns mean, for under the table (both sinks)."""
    out = ["95% Wilson: test-set sampling noise at the test set's size (correct/total pooled over seeds)."]
    if (board["n"] > 1).any():
        out.append(
            "± std, 95% CI ±: spread over seeds and its Student-t interval; search noise only, "
            "since every seed is scored on the same test images."
        )
    if board["default_test_accuracy"].notna().any():
        out.append(
            "default: the library default's refit; gain: test acc minus it; p: exact McNemar between the two (first seed)."
        )
    if board["tie"].notna().any():
        out.append(
            f"tie: exact McNemar against the winner's test predictions on the first seed both have, "
            f"Holm-corrected across families; tied where the adjusted p >= {TIE_ALPHA}."
        )
    if board["published_accuracy"].notna().any():
        out.append(
            "Δ pub.: only against a number published under the same protocol (split, training size, "
            "scaling, preprocessing); '-' where the protocols differ."
        )
        other = board[board["published_accuracy"].notna() & ~board["published_comparable"].astype(bool)]
        for note, rows in other.groupby("published_note", sort=False):
            out.append(f"Published for {', '.join(dict.fromkeys(rows['family']))} ({rows['published_source'].iloc[0]}): {note}.")
    return out


def protocol_differences(board: pd.DataFrame) -> tuple[str, pd.Series]:
    """A narrow column telling the board's protocols apart, and its header: the method
    ("tpe/asha") when only sampler and scheduler differ (a comparison of methods), else each
    protocol line (:func:`protocol_text`) without the parts every line shares."""
    keys = [k for k in PROTOCOL_KEYS if k in board]
    differing = {k for k in keys if board[k].astype(str).nunique() > 1}
    if differing <= {"sampler", "scheduler"} and {"sampler", "scheduler"} <= set(board):
        return "method", board["sampler"].astype(str) + "/" + board["scheduler"].astype(str)
    parts = [str(text).split(" · ") for text in board["protocol"]]
    if len({len(p) for p in parts}) != 1:
        return "protocol", board["protocol"].astype(str)
    shown = [i for i in range(len(parts[0])) if len({p[i] for p in parts}) > 1]
    return "protocol", pd.Series([" · ".join(p[i] for i in shown) for p in parts], index=board.index)


def rich_table(board: pd.DataFrame, title: str) -> Table:
    """The leaderboard for the terminal: :data:`COLUMNS` (the HTML adds :data:`HTML_EXTRA`), and
    what differs between protocols when the board holds several (a comparison of methods)."""
    table = Table(title=title, caption=Text("\n".join(notes(board))) if not board.empty else None, caption_justify="left")
    columns = dict(COLUMNS)
    cells = formatted(board, list(COLUMNS))
    if not board.empty and board["protocol"].nunique() > 1:
        header, values = protocol_differences(board)
        columns = {"family": "family", "protocol": header, **columns}
        cells.insert(1, "protocol", values.to_numpy())
        table.collapse_padding = True  # one column more in the same 140
    for column, header in columns.items():
        text = column in ("family", "protocol", "tie")
        widest = max((len(str(v)) for v in cells[column]), default=0)  # numbers are never cut: text columns wrap
        table.add_column(header, justify="left" if text else "right", min_width=None if text else widest)
    for _, row in cells.iterrows():
        table.add_row(*(Text(one_line(cell)) for cell in row))  # Text: no rich markup; one_line: no control characters
    return table
