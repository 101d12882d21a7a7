"""Search methods compared: samplers and schedulers side by side, over seeds and over problems.

Every number here comes from a run's ``trials`` and ``final`` tables (:func:`bench.load`). Terms:

- A *method* is a (sampler, scheduler) pair, labelled ``tpe/asha``.
- A *problem* is a (dataset, family, train_size, budget); the budget is ``20 trials`` (from
  ``trials_requested``) or ``60 s`` (from ``time_budget_s``).
- A *study* is one (problem, method, seed, run): one row of ``final``. A study with no final row
  (interrupted) does not count.
- *Best so far* of a study after n trials: the best validation accuracy among its *completed*
  trials with ``trial_number < n`` (a pruned or cut trial's score is half-trained: not a result
  found); NaN until its first completed trial.
- N: per problem, the fewest trials any of its studies ran (a study with no trial rows left out).
  A method's *best* is the mean over seeds of its studies' best so far at N.
- Normalized score (bayesmark): ``100 * (m - r) / (b - r)``, m the method's best, r the random
  search's best (sampler ``random`` with the same scheduler, else ``random/none``, else any
  ``random``), b the best validation score any study of the problem found within N trials. No
  number where b == r ("no headroom") or without a random search ("no random search").
- Average rank at 25%, 50% and 100% of the budget: per seed, the methods ranked by best so far
  after ceil(p * N) trials (1 = best, ties averaged, no completed trial yet = last), averaged
  over the seeds every method of the problem ran.
- Compute seconds of a study: its trials' ``wall_seconds`` plus its ``sampler_seconds`` (the
  sampler's own time; 0 where a table does not record it, and said so).
- Across problems: the methods ranked per problem by best (1 = best) and the ranks averaged;
  two methods: Wilcoxon's signed-rank test over problems; three or more: Friedman's test and
  Nemenyi's critical difference (Demsar 2006).

>>> round(nemenyi_cd(3, 10), 3)
1.048
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from bench.results import STUDY_KEYS
from bench.stats import CONFIDENCE, t_halfwidth

if TYPE_CHECKING:
    from rich.table import Table

RANDOM = "random"
NO_SCHEDULER = "none"
UNKNOWN = "unknown"
ALPHA = 0.05
#: The table's rank columns and the share of N each is taken at.
FRACTIONS = {"rank_25": 0.25, "rank_50": 0.5, "rank_100": 1.0}
NO_HEADROOM = "no headroom"
NO_RANDOM = "no random search"
NO_SCORE = "no completed trial"
PROBLEM_KEYS = ["dataset", "family", "train_size", "budget"]
#: :func:`best_so_far_curves`' x axes: trials proposed so far, or seconds since the first start.
BY_TRIALS, BY_SECONDS = "trials", "seconds"

TABLE_COLUMNS = [
    "problem",
    "dataset",
    "family",
    "train_size",
    "budget",
    "sampler",
    "scheduler",
    "method",
    "seeds",
    "trials_at",
    "best_val_mean",
    "best_val_ci",
    "best_found",
    "test_accuracy_mean",
    "normalized_score",
    "normalized_note",
    "rank_25",
    "rank_50",
    "rank_100",
    "compute_seconds_mean",
    "search_seconds_mean",
    "sampler_seconds_mean",
    "pruned_share",
    "sampler_seconds_recorded",
]


# ------------------------------------------------------------------ labels


def method_label(sampler: object, scheduler: object) -> str:
    """``tpe/asha``."""
    return f"{sampler}/{scheduler}"


def _missing(value: Any) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def budget_label(trials_requested: Any, time_budget_s: Any) -> str:
    """``20 trials``, ``60 s``, ``20 trials or 60 s`` (whichever ends the study first)."""
    parts = []
    if not _missing(trials_requested):
        parts.append(f"{int(float(trials_requested))} trials")
    if not _missing(time_budget_s):
        parts.append(f"{float(time_budget_s):g} s")
    return " or ".join(parts) or "no budget"


def problem_label(dataset: Any, family: Any, train_size: Any, budget: Any) -> str:
    """``svm on digits · 1,437 train · 20 trials``."""
    size = "" if _missing(train_size) else f" · {int(train_size):,} train"
    return f"{family} on {dataset}{size} · {budget}"


# ------------------------------------------------------------------ studies and their trials


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame else pd.Series(None, index=frame.index, dtype=object)


def _text(values: pd.Series, missing: str | None = None) -> pd.Series:
    """Cells as text, ``missing`` where empty."""
    return pd.Series([missing if _missing(v) else str(v) for v in values], index=values.index, dtype=object)


def _seeds(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").fillna(0).astype("int64")


def search_studies(final: pd.DataFrame) -> pd.DataFrame:
    """One row per study of ``final`` (searched families; reproduction rows left out; the last
    row written where a study repeats), with its problem, budget and method labels."""
    columns = [*STUDY_KEYS, "train_size", "budget", "problem", "method", "status", "test_accuracy", "search_seconds"]
    if final.empty or "family" not in final or "dataset" not in final:
        return pd.DataFrame(columns=columns)
    rows = final[final["verdict"].isna()] if "verdict" in final else final
    rows = rows[rows["family"].notna()]
    out = pd.DataFrame(
        {
            "run_id": _text(_column(rows, "run_id"), ""),
            "dataset": _text(rows["dataset"], "?"),
            "family": _text(rows["family"]),
            "seed": _seeds(_column(rows, "seed")),
            "sampler": _text(_column(rows, "sampler"), UNKNOWN),
            "scheduler": _text(_column(rows, "scheduler"), UNKNOWN),
            "train_size": pd.to_numeric(_column(rows, "train_size"), errors="coerce").round().astype("Int64"),
            "budget": [
                budget_label(t, s) for t, s in zip(_column(rows, "trials_requested"), _column(rows, "time_budget_s"), strict=True)
            ],
            "status": _text(_column(rows, "status"), "completed"),
            "test_accuracy": pd.to_numeric(_column(rows, "test_accuracy"), errors="coerce"),
            "search_seconds": pd.to_numeric(_column(rows, "search_seconds"), errors="coerce"),
        },
        index=rows.index,
    )
    # the scheduler as asked (auto: ASHA where a family reports along the way), so one method is
    # one column across problems whose families resolve it differently
    asked = _text(_column(rows, "scheduler_option"))
    out["method"] = [
        method_label(s, c if _missing(a) else a) for s, c, a in zip(out["sampler"], out["scheduler"], asked, strict=True)
    ]
    out["problem"] = [problem_label(*keys) for keys in zip(*(out[k] for k in PROBLEM_KEYS), strict=True)]
    return out.drop_duplicates(list(STUDY_KEYS), keep="last").reset_index(drop=True)[columns]


def _times(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    return pd.to_datetime(frame[column], utc=True, format="ISO8601", errors="coerce")


TRIAL_COLUMNS = [
    "study",
    "trial_number",
    "status",
    "val_accuracy",
    "score",
    "wall_seconds",
    "sampler_seconds",
    "sampler_recorded",
    "finished_seconds",
]


def study_trials(trials: pd.DataFrame, studies: pd.DataFrame) -> pd.DataFrame:
    """The trials of ``studies`` (:func:`search_studies`), each with its study's index in
    ``study``; ``score`` is the validation accuracy of a completed trial (NaN otherwise) and
    ``finished_seconds`` its finish, in seconds since the study's first trial started."""
    needed = {"dataset", "family"}
    if trials.empty or studies.empty or not needed <= set(trials.columns):
        return pd.DataFrame({c: pd.Series(dtype=float) for c in TRIAL_COLUMNS})
    trials = trials.reset_index(drop=True)
    keys = pd.DataFrame(
        {
            "run_id": _text(_column(trials, "run_id"), ""),
            "dataset": _text(trials["dataset"], "?"),
            "family": _text(trials["family"]),
            "seed": _seeds(_column(trials, "seed")),
            "sampler": _text(_column(trials, "sampler")),
            "scheduler": _text(_column(trials, "scheduler")),
        }
    )
    keyed = keys.reset_index(names="row").merge(
        studies[list(STUDY_KEYS)].reset_index(names="study"), on=list(STUDY_KEYS), how="inner"
    )
    source = trials.iloc[keyed["row"].to_numpy()].reset_index(drop=True)
    study = pd.Series(keyed["study"].to_numpy(), index=source.index)
    status = _text(_column(source, "status"), "completed")
    val = pd.to_numeric(_column(source, "val_accuracy"), errors="coerce")
    number = pd.to_numeric(_column(source, "trial_number"), errors="coerce")
    if number.isna().all():  # tables without trial numbers: the order they were written in
        number = source.groupby(study).cumcount().astype(float)
    sampler_seconds = pd.to_numeric(_column(source, "sampler_seconds"), errors="coerce")
    started = _times(source, "started_at")
    elapsed = _times(source, "finished_at") - started.groupby(study).transform("min")
    return pd.DataFrame(
        {
            "study": study,
            "trial_number": number,
            "status": status,
            "val_accuracy": val,
            "score": val.where(status == "completed"),
            "wall_seconds": pd.to_numeric(_column(source, "wall_seconds"), errors="coerce").fillna(0.0),
            "sampler_seconds": sampler_seconds.fillna(0.0),
            "sampler_recorded": sampler_seconds.notna(),
            "finished_seconds": elapsed.dt.total_seconds(),
        }
    )


def _with_counts(studies: pd.DataFrame, trials: pd.DataFrame) -> pd.DataFrame:
    """``studies`` with their trial count, pruned count, wall and sampler seconds."""
    counts = (
        trials.assign(pruned=trials["status"] == "pruned")
        .groupby("study")
        .agg(
            trials_n=("status", "size"),
            pruned_n=("pruned", "sum"),
            wall_seconds=("wall_seconds", "sum"),
            sampler_seconds=("sampler_seconds", "sum"),
            sampler_recorded=("sampler_recorded", "all"),
        )
    )
    out = studies.join(counts)
    defaults = {"trials_n": 0, "pruned_n": 0, "wall_seconds": 0.0, "sampler_seconds": 0.0, "sampler_recorded": True}
    for column, default in defaults.items():
        out[column] = out[column].astype(object).where(out[column].notna(), default).astype(type(default))
    out["compute_seconds"] = out["wall_seconds"] + out["sampler_seconds"]
    return out


def best_after(trial_number: np.ndarray, scores: np.ndarray, n: int) -> np.ndarray:
    """Best so far after 1..n trials (``out[i]``: among ``trial_number <= i``) of one study's
    ``scores`` (NaN for trials that did not complete); NaN before the first completed trial.

    >>> best_after(np.array([0, 1, 2, 3]), np.array([np.nan, 0.8, np.nan, 0.9]), 4).tolist()
    [nan, 0.8, 0.8, 0.9]
    """
    out = np.full(n, np.nan)
    numbers = np.asarray(trial_number, dtype=float)
    values = np.asarray(scores, dtype=float)
    keep = ~np.isnan(values) & ~np.isnan(numbers) & (numbers >= 0) & (numbers < n)
    np.fmax.at(out, numbers[keep].astype(int), values[keep])
    return np.fmax.accumulate(out) if n else out


def _curves(studies: pd.DataFrame, trials: pd.DataFrame, n: int) -> pd.DataFrame:
    """Best so far after 1..n trials, one row per study (index as ``studies``)."""
    out = np.full((len(studies), n), np.nan)
    groups = dict(iter(trials.groupby("study")))
    for i, study in enumerate(studies.index):
        mine = groups.get(study)
        if mine is not None:
            out[i] = best_after(mine["trial_number"].to_numpy(), mine["score"].to_numpy(), n)
    return pd.DataFrame(out, index=studies.index, columns=range(1, n + 1))


def trials_at(studies: pd.DataFrame) -> int:
    """N of a problem: the fewest trials any of its studies with trials ran (0 if none ran any)."""
    ran = studies.loc[studies["trials_n"] > 0, "trials_n"]
    return int(ran.min()) if not ran.empty else 0


# ------------------------------------------------------------------ per problem


def normalized_score(mean: float, random_mean: float, best: float) -> tuple[float, str]:
    """bayesmark's normalized score ``100 * (mean - random_mean) / (best - random_mean)`` and a
    note where there is no number: ``no headroom`` (random search already found the best)."""
    if any(math.isnan(v) for v in (mean, random_mean, best)):
        return math.nan, NO_SCORE
    if best - random_mean <= 1e-12:
        return math.nan, NO_HEADROOM
    return 100.0 * (mean - random_mean) / (best - random_mean), ""


def random_reference(methods: dict[str, tuple[str, str]], scheduler: str) -> str | None:
    """The random search a method is scored against: ``random`` with the same scheduler, else
    ``random/none``, else the first ``random`` method; None without one. ``methods``: label ->
    (sampler, scheduler)."""
    randoms = [m for m, (sampler, _) in methods.items() if sampler == RANDOM]
    for wanted in (scheduler, NO_SCHEDULER):
        same = [m for m in randoms if methods[m][1] == wanted]
        if same:
            return same[0]
    return randoms[0] if randoms else None


def _seed_means(values: pd.Series, studies: pd.DataFrame) -> pd.Series:
    """Per method: the mean over seeds (studies of one seed in several runs averaged first)."""
    per_seed = values.groupby([studies.loc[values.index, "method"], studies.loc[values.index, "seed"]]).mean()
    return per_seed.groupby(level=0).mean()


def _halfwidths(values: pd.Series, studies: pd.DataFrame) -> pd.Series:
    """Per method: the half-width of the 95% Student-t interval of the mean over seeds."""
    per_seed = values.groupby([studies.loc[values.index, "method"], studies.loc[values.index, "seed"]]).mean().dropna()
    grouped = per_seed.groupby(level=0)
    std, count = grouped.std(), grouped.count()
    return pd.Series([t_halfwidth(float(s), int(c)) for s, c in zip(std, count, strict=True)], index=std.index, dtype=float)


def _ranks(curves: pd.DataFrame, studies: pd.DataFrame, at: int, methods: list[str]) -> pd.Series:
    """Per method: its rank by best so far after ``at`` trials (1 = best, ties averaged, NaN =
    no completed trial yet = last), averaged over the seeds every method ran."""
    if at < 1 or at > curves.shape[1] or len(methods) < 1:
        return pd.Series(math.nan, index=methods)
    values = curves[at].groupby([studies["seed"], studies["method"]]).mean().unstack("method")
    ran = studies.groupby("seed")["method"].nunique()
    common = ran[ran == len(methods)].index
    if common.empty:
        return pd.Series(math.nan, index=methods)
    matrix = values.reindex(index=common, columns=methods).to_numpy(dtype=float)
    matrix = np.where(np.isnan(matrix), -np.inf, matrix)
    return pd.Series(stats.rankdata(-matrix, axis=1).mean(axis=0), index=methods)


def _problem_rows(problem: pd.DataFrame, trials: pd.DataFrame) -> list[dict[str, Any]]:
    """The table's rows of one problem's studies."""
    methods = list(dict.fromkeys(problem["method"]))
    kinds = {str(r["method"]): (str(r["sampler"]), str(r["scheduler"])) for _, r in problem.drop_duplicates("method").iterrows()}
    n = trials_at(problem)
    curves = _curves(problem, trials, n)
    best = curves[n] if n else pd.Series(math.nan, index=problem.index)
    means = _seed_means(best, problem)
    halves = _halfwidths(best, problem)
    found = float(best.max()) if best.notna().any() else math.nan
    ranks = {column: _ranks(curves, problem, math.ceil(p * n), methods) for column, p in FRACTIONS.items()}
    done = problem[problem["status"] == "completed"]
    tests = _seed_means(done["test_accuracy"], problem) if not done.empty else pd.Series(dtype=float)
    seconds = {
        c: _seed_means(problem[c].astype(float), problem) for c in ("compute_seconds", "search_seconds", "sampler_seconds")
    }
    totals = problem.groupby("method")[["pruned_n", "trials_n"]].sum()
    first = problem.iloc[0]
    rows = []
    for method in methods:
        sampler, scheduler = kinds[method]
        reference = random_reference(kinds, scheduler)
        mean = float(means.get(method, math.nan))
        if reference is None:
            score, note = math.nan, NO_RANDOM
        else:
            score, note = normalized_score(mean, float(means.get(reference, math.nan)), found)
        mine = problem[problem["method"] == method]
        trials_total, pruned_total = (int(v) for v in totals.loc[method, ["trials_n", "pruned_n"]])
        rows.append(
            {
                "problem": first["problem"],
                **{k: first[k] for k in PROBLEM_KEYS},
                "sampler": sampler,
                "scheduler": scheduler,
                "method": method,
                "seeds": int(mine["seed"].nunique()),
                "trials_at": n,
                "best_val_mean": mean,
                "best_val_ci": float(halves.get(method, math.nan)),
                "best_found": found,
                "test_accuracy_mean": float(tests.get(method, math.nan)),
                "normalized_score": score,
                "normalized_note": note,
                **{column: float(values[method]) for column, values in ranks.items()},
                **{f"{c}_mean": float(v.get(method, math.nan)) for c, v in seconds.items()},
                "pruned_share": pruned_total / trials_total if trials_total else math.nan,
                "sampler_seconds_recorded": bool(mine["sampler_recorded"].all()),
            }
        )
    return rows


def _prepared(trials: pd.DataFrame, final: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    studies = search_studies(final)
    mine = study_trials(trials, studies)
    return _with_counts(studies, mine), mine


def _problems(studies: pd.DataFrame) -> Iterable[pd.DataFrame]:
    if studies.empty:
        return []
    return (group for _, group in studies.groupby(PROBLEM_KEYS, sort=False, dropna=False))


def methods_table(trials: pd.DataFrame, final: pd.DataFrame) -> pd.DataFrame:
    """One row per (problem, method): :data:`TABLE_COLUMNS`.

    ``seeds``: how many seeds the method ran; ``trials_at``: N; ``best_val_mean`` and
    ``best_val_ci``: its best (mean over seeds of best so far at N) and the half-width of its 95%
    Student-t interval over seeds (NaN with one seed); ``best_found``: b, the best any study of the
    problem found within N trials; ``test_accuracy_mean``: over its completed final rows;
    ``normalized_score`` (or why none in ``normalized_note``); ``rank_25``..``rank_100``; the
    mean over seeds of compute, search (wall) and sampler seconds; ``pruned_share``: pruned
    trials over trials; ``sampler_seconds_recorded``: False where a table lacked
    ``sampler_seconds`` (counted as 0). Only studies with a final row count.
    """
    studies, trials_of = _prepared(trials, final)
    rows = [
        row for problem in _problems(studies) for row in _problem_rows(problem, trials_of[trials_of["study"].isin(problem.index)])
    ]
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    table["train_size"] = table["train_size"].astype("Int64")
    return table


def has_several_methods(final: pd.DataFrame) -> bool:
    """Whether ``final`` holds studies of more than one (sampler, scheduler)."""
    return search_studies(final)["method"].nunique() > 1


# ------------------------------------------------------------------ curves


def _band(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per column of a seeds x points matrix whose every seed has a value: mean, low, high (the
    95% Student-t interval of the mean over seeds; NaN with one seed), and which columns."""
    keep = ~np.isnan(matrix).any(axis=0) if matrix.size else np.zeros(matrix.shape[1], dtype=bool)
    values = matrix[:, keep]
    seeds = values.shape[0]
    mean = values.mean(axis=0) if seeds else np.full(values.shape[1], np.nan)
    if seeds >= 2:
        half = stats.t.ppf(0.5 + CONFIDENCE / 2, seeds - 1) * values.std(axis=0, ddof=1) / math.sqrt(seeds)
    else:
        half = np.full(values.shape[1], np.nan)
    return mean, mean - half, mean + half, keep


def _time_matrix(studies: pd.DataFrame, trials: pd.DataFrame, n: int) -> tuple[np.ndarray, pd.DataFrame]:
    """A common time grid and, per seed, the best so far known at each grid time: a score is
    known from its trial's finish; a study's best holds after it ends (its first n trials)."""
    groups = dict(iter(trials.groupby("study")))
    steps = []
    for study in studies.index:
        mine = groups.get(study, trials.iloc[0:0])
        mine = mine[(mine["trial_number"] < n) & mine["finished_seconds"].notna()]
        events = mine.dropna(subset=["score"]).sort_values("finished_seconds", kind="stable")
        end = float(mine["finished_seconds"].max()) if not mine.empty else math.nan
        steps.append((events["finished_seconds"].to_numpy(float), np.fmax.accumulate(events["score"].to_numpy(float)), end))
    times = [t for s in steps for t in (*s[0], s[2]) if not math.isnan(t)]
    grid = np.unique(np.asarray(times, dtype=float))
    values = np.full((len(studies), len(grid)), np.nan)
    for i, (at, best, _) in enumerate(steps):
        if len(at):
            index = np.searchsorted(at, grid, side="right") - 1
            values[i] = np.where(index >= 0, best[np.maximum(index, 0)], np.nan)
    per_seed = pd.DataFrame(values, index=studies.index).groupby(studies["seed"]).mean()
    return grid, per_seed


def best_so_far_curves(trials: pd.DataFrame, final: pd.DataFrame, by: str = BY_TRIALS) -> pd.DataFrame:
    """Per problem and method, the mean over seeds of best so far with its 95% band (the
    Student-t interval of the mean over seeds; none with one seed), in tidy rows: the problem's
    columns, ``method``, ``sampler``, ``scheduler``, the x column (``by``), ``best_mean``,
    ``best_low``, ``best_high``, ``seeds``.

    ``BY_TRIALS``: x is the number of trials proposed so far, 1..N. ``BY_SECONDS``: x is the wall
    time since each study's first trial started; a score counts from its trial's finish, and a
    study's best holds after it ends. A point is drawn once every seed has a completed trial.
    """
    if by not in (BY_TRIALS, BY_SECONDS):
        raise ValueError(f"by must be {BY_TRIALS!r} or {BY_SECONDS!r}, not {by!r}")
    columns = ["problem", *PROBLEM_KEYS, "method", "sampler", "scheduler", by, "best_mean", "best_low", "best_high", "seeds"]
    studies, trials_of = _prepared(trials, final)
    frames = []
    for problem in _problems(studies):
        n = trials_at(problem)
        if n == 0:
            continue
        first = problem.iloc[0]
        for method, mine in problem.groupby("method", sort=False):
            if by == BY_TRIALS:
                x = np.arange(1, n + 1, dtype=float)
                per_seed = _curves(mine, trials_of, n).groupby(mine["seed"]).mean()
            else:
                x, per_seed = _time_matrix(mine, trials_of, n)
            mean, low, high, keep = _band(per_seed.to_numpy(dtype=float))
            frames.append(
                pd.DataFrame(
                    {
                        "problem": first["problem"],
                        **{k: first[k] for k in PROBLEM_KEYS},
                        "method": method,
                        "sampler": mine["sampler"].iloc[0],
                        "scheduler": mine["scheduler"].iloc[0],
                        by: x[keep],
                        "best_mean": mean,
                        "best_low": low,
                        "best_high": high,
                        "seeds": len(per_seed),
                    }
                )
            )
    filled = [f for f in frames if not f.empty]
    return pd.concat(filled, ignore_index=True)[columns] if filled else pd.DataFrame(columns=columns)


# ------------------------------------------------------------------ across problems


def nemenyi_cd(k: int, n: int, alpha: float = ALPHA) -> float:
    """Nemenyi's critical difference of average ranks for ``k`` methods over ``n`` problems
    (Demsar 2006): ``q_alpha * sqrt(k (k + 1) / (6 n))``, q_alpha the studentized range
    quantile over sqrt(2) (2.343 for k = 3 at 0.05)."""
    if k < 2 or n < 1:
        raise ValueError(f"the critical difference needs k >= 2 methods and n >= 1 problems; got k={k}, n={n}")
    q = float(stats.studentized_range.ppf(1 - alpha, k, np.inf)) / math.sqrt(2)
    return q * math.sqrt(k * (k + 1) / (6 * n))


def min_problems(k: int, alpha: float = ALPHA) -> int:
    """The fewest problems at which the test over ``k`` methods can give p < ``alpha`` at all,
    even when one method wins every problem: below it, the test cannot mean anything.

    Two methods, Wilcoxon's exact two-sided test: its smallest p-value is 2 / 2**n (6 problems at
    0.05). Three or more, Friedman's chi-square test: its largest statistic is n (k - 1) (every
    problem ranking the methods alike), whose tail must fall below ``alpha`` (3 problems for
    k = 3 at 0.05).
    """
    for n in range(1, 100_000):
        p = 2.0 ** (1 - n) if k == 2 else float(stats.chi2.sf(n * (k - 1), k - 1))
        if p < alpha:
            return n
    raise ValueError(f"no number of problems reaches p < {alpha}")  # pragma: no cover


def cd_groups(ranks: dict[str, float], cd: float) -> list[list[str]]:
    """The maximal runs of methods (by average rank) whose ranks differ by less than ``cd``:
    the thick lines of a critical-difference diagram (single methods left out)."""
    ordered = sorted(ranks, key=lambda m: ranks[m])
    groups: list[list[str]] = []
    for i, low in enumerate(ordered):
        group = [m for m in ordered[i:] if ranks[m] - ranks[low] < cd]
        if len(group) > 1 and not (groups and set(group) <= set(groups[-1])):
            groups.append(group)
    return groups


@dataclass(frozen=True)
class Comparison:
    """The methods across problems: average ranks (best first) and the test over problems."""

    ranks: dict[str, float]
    problems: int  # problems every method has a best on: the test's N
    test: str | None  # "wilcoxon", "friedman", or None (with ``note`` saying why)
    statistic: float | None
    p_value: float | None
    cd: float | None  # Nemenyi's critical difference, with Friedman's test
    alpha: float
    note: str


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def across_problems(table: pd.DataFrame, alpha: float = ALPHA) -> Comparison:
    """Rank the methods per problem by ``best_val_mean`` (1 = best, ties averaged), average the
    ranks over the problems where every method has one, and test: Wilcoxon's signed-rank test
    over problems for two methods, Friedman's for three or more with Nemenyi's critical
    difference. Below :func:`min_problems` problems no test is run and ``note`` says so."""
    methods = list(dict.fromkeys(table["method"])) if not table.empty else []
    if not methods:
        return Comparison({}, 0, None, None, None, None, alpha, "No study to compare.")
    matrix = table.groupby(["problem", "method"], sort=False)["best_val_mean"].mean().unstack("method")
    complete = matrix.reindex(columns=methods).dropna()
    k, n = len(methods), len(complete)
    if n:
        average = stats.rankdata(-complete.to_numpy(dtype=float), axis=1).mean(axis=0)
        ranks = dict(sorted(zip(methods, map(float, average), strict=True), key=lambda kv: kv[1]))
    else:
        ranks = {m: math.nan for m in methods}
    left_out = len(matrix) - n
    aside = f" ({_plural(left_out, 'problem')} left out: not every method has a best there)" if left_out else ""
    if k < 2:
        return Comparison(ranks, n, None, None, None, None, alpha, "One search method: nothing to compare.")
    name = "Wilcoxon signed-rank test" if k == 2 else "Friedman test"
    need = min_problems(k, alpha)
    if n < need:
        note = (
            f"{_plural(n, 'problem')} for {k} methods{aside}: too few for a {name} (with fewer than {need} problems its "
            f"p-value cannot fall below {alpha:g} even if one method wins every problem); average ranks shown without a test."
        )
        return Comparison(ranks, n, None, None, None, None, alpha, note)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns of ties and small samples; the note says what the p-value is
        try:
            if k == 2:
                result = stats.wilcoxon(complete[methods[0]], complete[methods[1]])
            else:
                result = stats.friedmanchisquare(*(complete[m] for m in methods))
            statistic, p_value = float(result.statistic), float(result.pvalue)
        except ValueError:
            statistic = p_value = math.nan
    if not (math.isfinite(statistic) and math.isfinite(p_value)):
        note = f"{_plural(n, 'problem')}{aside}: every method found the same best on every problem; no {name} to run."
        return Comparison(ranks, n, None, None, None, None, alpha, note)
    verdict = f"significant at alpha = {alpha:g}" if p_value < alpha else f"not significant at alpha = {alpha:g}"
    if k == 2:
        note = (
            f"Wilcoxon signed-rank test over {_plural(n, 'problem')}{aside}, {methods[0]} vs {methods[1]} (two-sided): "
            f"W = {statistic:g}, p = {p_value:.3g}, {verdict}."
        )
        return Comparison(ranks, n, "wilcoxon", statistic, p_value, None, alpha, note)
    cd = nemenyi_cd(k, n, alpha)
    note = (
        f"Friedman test over {_plural(n, 'problem')}{aside}, {k} methods: χ² = {statistic:.3g}, p = {p_value:.3g}, {verdict}"
        + ("" if n > 10 else " (chi-square approximation, rough below 11 problems)")
        + f". Nemenyi critical difference at alpha = {alpha:g}: CD = {cd:.3f}; "
        + (
            "methods whose average ranks differ by less are not significantly different."
            if p_value < alpha
            else "as Friedman's test does not reject equal ranks, no pair of methods differs significantly."
        )
    )
    return Comparison(ranks, n, "friedman", statistic, p_value, cd, alpha, note)


# ------------------------------------------------------------------ display


#: Column -> header, in the order both the terminal and the report show them.
HEADERS = {
    "problem": "problem",
    "method": "method",
    "seeds": "seeds",
    "trials_at": "N",
    "best_val_mean": "best val",
    "best_val_ci": "± 95% t",
    "test_accuracy_mean": "test",
    "normalized_score": "normalized",
    "rank_25": "rank 25%",
    "rank_50": "rank 50%",
    "rank_100": "rank 100%",
    "compute_seconds_mean": "compute s",
    "search_seconds_mean": "wall s",
    "sampler_seconds_mean": "sampler s",
    "pruned_share": "pruned",
}
#: The terminal leaves out wall and sampler seconds (compute s counts both).
TERMINAL = [c for c in HEADERS if c not in ("search_seconds_mean", "sampler_seconds_mean")]

#: What the columns mean, under the table (both sinks).
EXPLAINED = (
    "best val: mean over seeds of each study's best completed validation accuracy within N trials (pruned and cut "
    "scores do not count), ± its 95% Student-t interval over seeds; test: mean test accuracy of the refits; "
    "normalized: 100 (best - random) / (best found - random), bayesmark's score (0 = random search, 100 = the best "
    "any study found within N trials); rank p%: mean over seeds of the rank by best so far after p% of N trials "
    "(1 = best); compute s: the trials' wall seconds plus the sampler's own, mean over seeds; pruned: share of trials pruned."
)


def _number(value: Any, spec: str) -> str:
    return "-" if _missing(value) else format(float(value), spec)


def formatted(table: pd.DataFrame) -> pd.DataFrame:
    """The table as display strings (unescaped), :data:`HEADERS`' columns: one source for the
    terminal and the report."""
    cells = pd.DataFrame(index=table.index)
    cells["problem"] = table["problem"].astype(str)
    cells["method"] = table["method"].astype(str)
    cells["seeds"] = table["seeds"].astype(int).astype(str)
    cells["trials_at"] = table["trials_at"].astype(int).astype(str)
    cells["best_val_mean"] = [_number(v, ".4f") for v in table["best_val_mean"]]
    cells["best_val_ci"] = [_number(v, ".4f") for v in table["best_val_ci"]]
    cells["test_accuracy_mean"] = [_number(v, ".4f") for v in table["test_accuracy_mean"]]
    cells["normalized_score"] = [
        (note or "-") if _missing(v) else f"{v:.1f}"
        for v, note in zip(table["normalized_score"], table["normalized_note"], strict=True)
    ]
    for column in FRACTIONS:
        cells[column] = [_number(v, ".2f") for v in table[column]]
    for column in ("compute_seconds_mean", "search_seconds_mean"):
        cells[column] = [_number(v, ".1f") for v in table[column]]
    cells["sampler_seconds_mean"] = [
        _number(v, ".2f") if recorded else "not recorded"
        for v, recorded in zip(table["sampler_seconds_mean"], table["sampler_seconds_recorded"], strict=True)
    ]
    cells["pruned_share"] = ["-" if _missing(v) else f"{100 * v:.0f}%" for v in table["pruned_share"]]
    return cells[list(HEADERS)]


def notes(table: pd.DataFrame) -> list[str]:
    """What the columns mean, and what a table lacked."""
    out = [EXPLAINED]
    if not table.empty and not table["sampler_seconds_recorded"].all():
        missing = ", ".join(dict.fromkeys(table.loc[~table["sampler_seconds_recorded"], "method"]))
        out.append(f"Sampler seconds were not recorded for {missing} (older runs): counted as 0 in compute s.")
    return out


def terminal_table(table: pd.DataFrame, title: str = "Search methods") -> Table:
    """The per-method table for ``bench run`` (rows of one problem grouped), its notes and the
    comparison across problems as the caption. Cells are :class:`rich.text.Text`: no markup."""
    from rich.table import Table
    from rich.text import Text

    from bench.safe_io import one_line

    caption = [*notes(table), across_problems(table).note] if not table.empty else []
    out = Table(title=title, caption=Text("\n".join(caption)) if caption else None, caption_justify="left")
    for column in TERMINAL:
        out.add_column(HEADERS[column], justify="left" if column in ("problem", "method") else "right")
    cells = formatted(table)
    problems = cells["problem"].tolist()
    for i, (_, row) in enumerate(cells.iterrows()):
        shown = {**row.to_dict(), "problem": row["problem"] if i == 0 or problems[i - 1] != row["problem"] else ""}
        last = i == len(problems) - 1 or problems[i + 1] != row["problem"]
        out.add_row(*(Text(one_line(shown[c])) for c in TERMINAL), end_section=last)
    return out


__all__ = [
    "BY_SECONDS",
    "BY_TRIALS",
    "Comparison",
    "across_problems",
    "best_after",
    "best_so_far_curves",
    "cd_groups",
    "formatted",
    "has_several_methods",
    "methods_table",
    "min_problems",
    "nemenyi_cd",
    "normalized_score",
    "terminal_table",
]
