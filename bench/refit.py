"""After a search: pick the configuration to keep, refit it and the library default on all training
data, and score both once on the test set.

Selection: the best-scoring challenger replaces the default only when a one-sided test at 5%
says it is better. Under k-fold cross-validation that is the corrected resampled paired t-test of
Nadeau and Bengio (2003) on the per-fold differences: the folds' training sets overlap, so the
variance of the mean difference is (1/k + 1/(k-1)) times the folds' variance, not 1/k of it. On
a holdout it is a z-test on the two binomial standard errors. The best of many noisy scores is
optimistic (on digits a tree chosen by a plain one-standard-error margin lost 2 test points to
the default), so the burden of proof is on the challenger.

A search in which no trial finished its plan still ends with a result. The default, refit at its
full plan, stays unless a challenger beat the default's own score at equal or more training;
such a challenger is refit at the fidelity it was scored at. A default the budget cut before its
first score stays too: nothing was shown better than it (on MNIST, a LightGBM challenger scored
at 50 of 500 rounds and refit there lost 0.75 test points to the default at its full plan). Only
a default that failed leaves the best partial trial. The row says which.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.families import create_family
from bench.stats import mcnemar_exact


@dataclass(frozen=True)
class Selection:
    """The trial row to refit, the parameters to refit it with, and why."""

    row: dict[str, Any]
    params: dict[str, Any]
    selected: str  # "default" or "tuned"
    note: str | None = None


def _params(row: dict[str, Any]) -> dict[str, Any]:
    return {k.removeprefix("params_"): v for k, v in row.items() if k.startswith("params_") and not _missing(v)}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _scored(row: dict[str, Any]) -> bool:
    value = row.get("val_accuracy")
    return value is not None and not _missing(value)


def _best(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return max(rows, key=lambda r: (r["val_accuracy"], -r["trial_number"]))


#: One-sided level at which a challenger must beat the default.
ALPHA = 0.05


def challenger_p_value(challenger: dict[str, Any], default: dict[str, Any]) -> float:
    """One-sided p of "the challenger scores no better than the default" (see the module docstring)."""
    from scipy import stats

    a, b = challenger.get("val_fold_accuracies"), default.get("val_fold_accuracies")
    if a is not None and b is not None and len(a) == len(b) > 1:
        differences = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
        k, mean, var = len(differences), float(differences.mean()), float(differences.var(ddof=1))
        if var == 0:
            return 0.0 if mean > 0 else 1.0
        t = mean / math.sqrt((1 / k + 1 / (k - 1)) * var)
        return float(stats.t.sf(t, df=k - 1))
    se: list[Any] = [r.get("val_accuracy_se") for r in (challenger, default)]  # table cells: a number, None or NaN
    if any(_missing(v) for v in se) or not any(se):
        return 0.0 if challenger["val_accuracy"] > default["val_accuracy"] else 1.0
    z = (challenger["val_accuracy"] - default["val_accuracy"]) / math.sqrt(se[0] ** 2 + se[1] ** 2)
    return float(stats.norm.sf(z))


def select(rows: list[dict[str, Any]], family: str) -> Selection | None:
    """The configuration a search keeps (see the module docstring), or None if nothing scored."""
    completed = [r for r in rows if r["status"] == "completed" and _scored(r)]
    if completed:
        best = _best(completed)
        default = next((r for r in completed if r.get("is_default")), None)
        if default is None or best is default:
            return Selection(best, _params(best), "default" if best is default else "tuned")
        p = challenger_p_value(best, default)
        if p < ALPHA:
            return Selection(best, _params(best), "tuned")
        return Selection(
            default,
            _params(default),
            "default",
            f"best challenger ({best['val_accuracy']:.4f} against {default['val_accuracy']:.4f}) "
            f"not better beyond noise (one-sided p = {p:.3f})",
        )
    partial = [r for r in rows if r["status"] in ("pruned", "cut") and _scored(r)]
    if not partial:
        return None
    best = _best(partial)
    default = next((r for r in rows if r.get("is_default") and r["status"] != "failed"), None)
    if default is not None:
        best_at = f"{best['val_accuracy']:.4f} at {_fidelity(best):g}"
        kept = "no trial finished its plan"
        if not _scored(default):
            kept += (
                f" and the budget cut the default before its first score; the default is refit at its full plan: "
                f"no challenger was shown better (the best, {best_at}, had nothing to be compared with)"
            )
        elif default is best:
            kept += f"; the default, the best scored ({best_at}), is refit at its full plan"
        elif not _proven_at_partial_fidelity(best, default):
            kept += (
                f"; the default is refit at its full plan: the best challenger ({best_at}) did not beat the "
                f"default's score ({default['val_accuracy']:.4f} at {_fidelity(default):g}) beyond noise at "
                f"equal or less training"
            )
        else:
            kept = ""
        if kept:
            return Selection(default, _params(default), "default", kept)
    model_family = create_family(family)
    planned = model_family.max_fidelity(_params(best))
    fidelity = _fidelity(best)
    params = model_family.at_fidelity(_params(best), fidelity)
    unit = model_family.fidelity_unit
    how = "on all training rows" if unit not in ("rounds", "trees", "epochs") else f"with {max(1, int(fidelity))} {unit}"
    note = f"no trial finished its plan; refit {how}, where it was scored ({fidelity:g} of {planned} {unit})"
    return Selection(best, params, "tuned", note)


def _fidelity(row: dict[str, Any]) -> float:
    return float(row.get("fidelity") or 0)


def _proven_at_partial_fidelity(challenger: dict[str, Any], default: dict[str, Any]) -> bool:
    """Whether a half-trained challenger may replace the default, which is refit at its full plan
    either way: only by beating the default's score at equal or more training, by the same test
    as finished trials. A default scored with less training than the challenger gives no fair
    comparison, and the library's own choice stands."""
    return _fidelity(default) >= _fidelity(challenger) and challenger_p_value(challenger, default) < ALPHA


def preprocessing(params: dict[str, Any]) -> str:
    """What the model does to pixels before it sees them, for like-with-like comparisons."""
    parts = []
    if params.get("deskew"):
        parts.append("deskew")
    if params.get("scaler") not in (None, "none"):
        parts.append("scale")
    if params.get("pca_variance"):
        parts.append("pca")
    if params.get("shift"):
        parts.append("shift")
    return "+".join(parts) or "raw"


def compare_with_default(y_true: np.ndarray, tuned: np.ndarray, default: np.ndarray) -> dict[str, float]:
    """What tuning bought on the test set: the gain and an exact McNemar p on the paired predictions."""
    gain = float(np.mean(tuned == y_true) - np.mean(default == y_true))
    return {"tuning_gain": gain, "tuning_p_value": float(mcnemar_exact(y_true, tuned, default))}


def final_row(
    base: dict[str, Any],
    selection: Selection,
    tuned: dict[str, Any],
    default: dict[str, Any],
    default_row: dict[str, Any] | None,
    default_params: dict[str, Any],
    y_test: np.ndarray,
) -> dict[str, Any]:
    """The ``final`` table's row for one family and seed (predictions excluded)."""
    compared = compare_with_default(y_test, tuned["predicted"], default["predicted"])
    left_out = ("confusion_matrix", "per_class", "predicted", "max_threads", "saved_model")  # saved_model: see bench.models
    scores = {k: v for k, v in tuned.items() if k not in left_out}
    best = selection.row
    return {
        **base,
        "status": "completed",
        "selected": selection.selected,
        "refit_note": selection.note,
        "best_trial_id": best["trial_id"],
        "params": json.dumps(selection.params, sort_keys=True, default=str),
        **{f"params_{k}": v for k, v in selection.params.items()},
        "preprocessing": preprocessing(selection.params),
        "val_accuracy": best["val_accuracy"],
        "val_accuracy_se": best.get("val_accuracy_se"),
        "val_f1_macro": best.get("val_f1_macro"),
        "val_log_loss": best.get("val_log_loss"),
        "fit_seconds": best.get("fit_seconds"),
        **scores,
        # the threads the refit's libraries could use (its node's cores): LightGBM's and torch's
        # results can depend on it, and it differs from the trials' --cpus-per-trial
        "refit_threads": tuned["max_threads"],
        "default_params": json.dumps(default_params, sort_keys=True, default=str),
        "default_val_accuracy": None if default_row is None else default_row.get("val_accuracy"),
        "default_val_accuracy_se": None if default_row is None else default_row.get("val_accuracy_se"),
        "default_test_accuracy": default["test_accuracy"],
        **compared,
        "confusion_matrix": json.dumps(tuned["confusion_matrix"]),
        "per_class": json.dumps(tuned["per_class"]),
    }
