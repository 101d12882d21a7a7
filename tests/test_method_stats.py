"""The search-method statistics (bench.methods) on hand-made tables: no Ray.

The expected numbers are worked out by hand in the comments from the trials below, never by
calling the module's helpers; the tests across problems check against scipy itself.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from scipy import stats

from bench.methods import (
    BY_SECONDS,
    BY_TRIALS,
    NO_HEADROOM,
    NO_RANDOM,
    across_problems,
    best_so_far_curves,
    cd_groups,
    has_several_methods,
    methods_table,
    min_problems,
    nemenyi_cd,
    terminal_table,
)
from bench.results import _with_method

RUN = "methods-run"
T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
C, P, F = "completed", "pruned", "failed"

#: (sampler, seed) -> (status, validation accuracy) of trials 0..3, all with scheduler "none".
SCORES: dict[tuple[str, int], list[tuple[str, float | None]]] = {
    ("random", 0): [(C, 0.80), (C, 0.85), (P, 0.99), (C, 0.82)],  # a pruned 0.99: half-trained, not found
    ("random", 1): [(C, 0.70), (C, 0.90), (C, 0.75), (F, None)],
    ("tpe", 0): [(C, 0.80), (C, 0.90), (C, 0.95), (C, 0.60)],
    ("tpe", 1): [(P, 0.90), (C, 0.88), (C, 0.92), (C, 0.93)],  # nothing completed after 1 trial
    ("gp", 0): [(C, 0.85), (C, 0.86), (C, 0.87), (C, 0.96)],
    ("gp", 1): [(C, 0.91)] * 4,
}
SAMPLER_SECONDS = {"random": 0.0, "tpe": 0.25, "gp": 1.0}  # per trial; every trial's wall_seconds is 1.0
#: (sampler, seed) -> (final status, test accuracy, search seconds)
FINALS = {
    ("random", 0): (C, 0.90, 10.0),
    ("random", 1): (C, 0.92, 12.0),
    ("tpe", 0): (C, 0.95, 20.0),
    ("tpe", 1): (C, 0.93, 22.0),
    ("gp", 0): (C, 0.96, 30.0),
    ("gp", 1): (F, None, 30.0),  # its refit failed: its search counts, it has no test accuracy
}


def iso(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def study_columns(family: str, sampler: str, seed: int, scheduler: str, run: str) -> dict[str, object]:
    """The columns naming a study, as every table row carries them."""
    return {"run_id": run, "dataset": "digits", "family": family, "seed": seed, "sampler": sampler, "scheduler": scheduler}


def trial_rows(
    scores: dict[tuple[str, int], list[tuple[str, float | None]]],
    family: str = "svm",
    scheduler: str = "none",
    run: str = RUN,
) -> pd.DataFrame:
    """Trial i of every study starts at 10 i s and finishes at 10 i + 5 s."""
    rows = []
    for (sampler, seed), trials in scores.items():
        for i, (status, score) in enumerate(trials):
            rows.append(
                {
                    **study_columns(family, sampler, seed, scheduler, run),
                    "trial_id": f"{family}-{sampler}-{seed}-{i}",
                    "trial_number": i,
                    "status": status,
                    "val_accuracy": score,
                    "started_at": iso(10 * i),
                    "finished_at": iso(10 * i + 5),
                    "wall_seconds": 1.0,
                    "sampler_seconds": SAMPLER_SECONDS.get(sampler, 0.5),
                    "fit_seconds": 0.9,
                    "params_C": 1.0 + i,
                }
            )
    return pd.DataFrame(rows)


def final_rows(
    finals: dict[tuple[str, int], tuple[str, float | None, float]],
    family: str = "svm",
    scheduler: str = "none",
    run: str = RUN,
    trials: int = 4,
) -> pd.DataFrame:
    rows = []
    for (sampler, seed), (status, test, seconds) in finals.items():
        rows.append(
            {
                **study_columns(family, sampler, seed, scheduler, run),
                "status": status,
                "train_size": 1437,
                "test_size": 360,
                "trials_requested": trials,
                "time_budget_s": None,
                "trials": trials,
                "trials_completed": trials,
                "trials_pruned": 0,
                "trials_failed": 0,
                "search_seconds": seconds,
                "test_accuracy": test,
                "val_accuracy": 0.9,
                "refit_seconds": 1.0,
                "fit_seconds": 1.0,
            }
        )
    return pd.DataFrame(rows)


def hand_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The trials and final rows above, plus an interrupted study (tpe, seed 2: no final row)."""
    trials = trial_rows(SCORES)
    interrupted = trial_rows({("tpe", 2): [(C, 0.999)] * 4})
    return pd.concat([trials, interrupted], ignore_index=True), final_rows(FINALS)


def by_method(table: pd.DataFrame) -> pd.DataFrame:
    return table.set_index("method")


# ----------------------------------------------------------------- one problem, by hand


def test_best_normalized_score_and_ranks_by_hand() -> None:
    table = by_method(methods_table(*hand_tables()))
    assert list(table.index) == ["random/none", "tpe/none", "gp/none"]
    assert (table["trials_at"] == 4).all() and (table["seeds"] == 2).all()  # tpe's interrupted seed 2 does not count
    # best within N = 4 completed trials: random .85, .90; tpe .95, .93; gp .96, .91
    assert table["best_val_mean"].to_dict() == pytest.approx({"random/none": 0.875, "tpe/none": 0.94, "gp/none": 0.935})
    assert table["best_found"].tolist() == pytest.approx([0.96] * 3)  # gp seed 0; not random's pruned 0.99 nor tpe seed 2's 0.999
    # normalized: 100 (m - r) / (b - r) with r = .875, b = .96
    assert table.at["tpe/none", "normalized_score"] == pytest.approx(100 * 0.065 / 0.085)
    assert table.at["gp/none", "normalized_score"] == pytest.approx(100 * 0.060 / 0.085)
    assert table.at["random/none", "normalized_score"] == pytest.approx(0.0)
    assert (table["normalized_note"] == "").all()
    # rank after ceil(.25 * 4) = 1 trial: seed 0 gp .85 > random .80 = tpe .80; seed 1 gp .91 > random .70 > tpe (none yet)
    assert table["rank_25"].to_dict() == pytest.approx({"gp/none": 1.0, "random/none": (2.5 + 2) / 2, "tpe/none": (2.5 + 3) / 2})
    # after 2: seed 0 tpe .90 > gp .86 > random .85; seed 1 gp .91 > random .90 > tpe .88 (its pruned .90 does not count)
    assert table["rank_50"].to_dict() == pytest.approx({"tpe/none": 2.0, "gp/none": 1.5, "random/none": 2.5})
    # after 4: seed 0 gp .96 > tpe .95 > random .85; seed 1 tpe .93 > gp .91 > random .90
    assert table["rank_100"].to_dict() == pytest.approx({"tpe/none": 1.5, "gp/none": 1.5, "random/none": 3.0})
    # the 95% t-interval over two seeds: t(.975, 1) * std / sqrt(2)
    assert table.at["tpe/none", "best_val_ci"] == pytest.approx(
        stats.t.ppf(0.975, 1) * np.std([0.95, 0.93], ddof=1) / math.sqrt(2)
    )
    # test accuracy from completed final rows only: gp's seed 1 refit failed
    assert table["test_accuracy_mean"].to_dict() == pytest.approx({"random/none": 0.91, "tpe/none": 0.94, "gp/none": 0.96})
    # compute: 4 trials x 1 s wall + 4 x the sampler's seconds per trial
    assert table["compute_seconds_mean"].to_dict() == pytest.approx({"random/none": 4.0, "tpe/none": 5.0, "gp/none": 8.0})
    assert table["sampler_seconds_mean"].to_dict() == pytest.approx({"random/none": 0.0, "tpe/none": 1.0, "gp/none": 4.0})
    assert table["search_seconds_mean"].to_dict() == pytest.approx({"random/none": 11.0, "tpe/none": 21.0, "gp/none": 30.0})
    assert table["pruned_share"].to_dict() == pytest.approx({"random/none": 1 / 8, "tpe/none": 1 / 8, "gp/none": 0.0})
    assert table["sampler_seconds_recorded"].all()


def test_pruned_scores_do_not_count_as_found() -> None:
    trials, final = hand_tables()
    table = by_method(methods_table(trials, final))
    as_completed = by_method(methods_table(trials.assign(status=trials["status"].replace(P, C)), final))
    assert table.at["random/none", "best_val_mean"] == pytest.approx(0.875)
    assert as_completed.at["random/none", "best_val_mean"] == pytest.approx((0.99 + 0.90) / 2)  # what counting them would say
    assert as_completed["best_found"].iloc[0] == pytest.approx(0.99)
    curve = best_so_far_curves(trials, final, BY_TRIALS)
    tpe = curve[curve["method"] == "tpe/none"]
    assert tpe[BY_TRIALS].tolist() == [2.0, 3.0, 4.0]  # seed 1's first trial was pruned: no mean until both seeds have one


def test_scheduler_and_sampler_seconds_missing_from_older_trials() -> None:
    trials, final = hand_tables()
    table = methods_table(trials, final)
    older = methods_table(_with_method(trials.drop(columns=["scheduler", "sampler_seconds"]), final), final)
    same = ["method", "best_val_mean", "normalized_score", "rank_25", "rank_50", "rank_100", "pruned_share"]
    pd.testing.assert_frame_equal(older[same], table[same])  # bench.load takes the scheduler from each study's final row
    assert not older["sampler_seconds_recorded"].any()
    assert older["compute_seconds_mean"].tolist() == pytest.approx([4.0, 4.0, 4.0])  # wall seconds only: counted as 0
    text = _flat(_rendered(older))
    assert "Sampler seconds were not recorded" in text and "counted as 0" in text


def test_random_search_that_found_the_best_leaves_no_headroom() -> None:
    trials = trial_rows(
        {("random", 0): [(C, 0.95)], ("random", 1): [(C, 0.95)], ("tpe", 0): [(C, 0.95)], ("tpe", 1): [(C, 0.90)]}
    )
    final = final_rows({k: (C, 0.9, 1.0) for k in [("random", 0), ("random", 1), ("tpe", 0), ("tpe", 1)]}, trials=1)
    table = by_method(methods_table(trials, final))
    assert table["normalized_score"].isna().all() and (table["normalized_note"] == NO_HEADROOM).all()
    assert "no headroom" in _flat(_rendered(table.reset_index()))


def test_without_random_search_there_is_no_normalized_score() -> None:
    trials = trial_rows({("tpe", 0): [(C, 0.95)], ("gp", 0): [(C, 0.90)]})
    final = final_rows({("tpe", 0): (C, 0.9, 1.0), ("gp", 0): (C, 0.9, 1.0)}, trials=1)
    table = methods_table(trials, final)
    assert table["normalized_score"].isna().all() and (table["normalized_note"] == NO_RANDOM).all()
    assert math.isnan(table["best_val_ci"].iloc[0])  # one seed: no interval


def test_random_reference_has_the_same_scheduler() -> None:
    # random/asha found .80, random/none .90; tpe/asha .85 sits halfway between random/asha and the best (.90)
    scores = {("random", 0): [(C, 0.80)], ("tpe", 0): [(C, 0.85)]}
    trials = pd.concat([trial_rows(scores, scheduler="asha"), trial_rows({("random", 0): [(C, 0.90)]})], ignore_index=True)
    final = pd.concat(
        [
            final_rows({k: (C, 0.9, 1.0) for k in scores}, scheduler="asha", trials=1),
            final_rows({("random", 0): (C, 0.9, 1.0)}, trials=1),
        ],
        ignore_index=True,
    )
    table = by_method(methods_table(trials, final))
    assert table.at["tpe/asha", "normalized_score"] == pytest.approx(50.0)
    assert table.at["random/asha", "normalized_score"] == pytest.approx(0.0)


def test_wall_time_curve_counts_a_score_from_its_trials_finish() -> None:
    curve = best_so_far_curves(*hand_tables(), BY_SECONDS)
    random = curve[curve["method"] == "random/none"]
    # finishes at 5, 15, 25, 35 s: seed 0 .80, .85, (pruned), .82; seed 1 .70, .90, .75, (failed)
    assert random[BY_SECONDS].tolist() == [5.0, 15.0, 25.0, 35.0]
    assert random["best_mean"].tolist() == pytest.approx([0.75, 0.875, 0.875, 0.875])
    low, high = stats.t.interval(0.95, 1, loc=0.75, scale=stats.sem([0.80, 0.70]))
    assert (random["best_low"].iloc[0], random["best_high"].iloc[0]) == pytest.approx((low, high))


def test_trial_curve_is_the_mean_over_seeds_with_a_t_band() -> None:
    curve = best_so_far_curves(*hand_tables(), BY_TRIALS)
    gp = curve[curve["method"] == "gp/none"].set_index(BY_TRIALS)
    assert gp["best_mean"].tolist() == pytest.approx([0.88, 0.885, 0.89, 0.935])  # seed 0 .85 .86 .87 .96, seed 1 .91
    low, high = stats.t.interval(0.95, 1, loc=0.935, scale=stats.sem([0.96, 0.91]))
    assert (gp.at[4.0, "best_low"], gp.at[4.0, "best_high"]) == pytest.approx((low, high))
    assert (gp["seeds"] == 2).all()


def test_has_several_methods() -> None:
    _, final = hand_tables()
    assert has_several_methods(final)
    assert not has_several_methods(final[final["sampler"] == "tpe"])
    assert not has_several_methods(pd.DataFrame())


def test_table_round_trips_through_parquet(tmp_path: Path) -> None:
    table = methods_table(*hand_tables())
    table.to_parquet(tmp_path / "methods.parquet", index=False)
    back = pd.read_parquet(tmp_path / "methods.parquet")
    assert back["best_val_mean"].tolist() == pytest.approx(table["best_val_mean"].tolist())


# ----------------------------------------------------------------- the terminal


def _flat(text: str) -> str:
    """Rendered text with the wrapping undone (rich wraps the caption to the table's width)."""
    return " ".join(text.replace("│", " ").split())


def _rendered(table: pd.DataFrame) -> str:
    console = Console(record=True, width=260, color_system=None)
    console.print(terminal_table(table))
    return console.export_text()


def test_terminal_table_prints_the_tables_numbers() -> None:
    table = methods_table(*hand_tables())
    text = _rendered(table)
    lines = {
        line.split("│")[2].strip(): [c.strip() for c in line.split("│")[1:-1]]
        for line in text.splitlines()
        if line.count("│") > 3 and "/none" in line
    }
    assert "1 problem for 3 methods: too few for a Friedman test" in _flat(text)  # the comparison's note as caption
    tpe = lines["tpe/none"]
    assert tpe[3:] == ["4", "0.9400", "0.1271", "0.9400", "76.5", "2.75", "2.00", "1.50", "5.0", "12%"]
    assert lines["gp/none"][6:8] == ["0.9600", "70.6"]


def test_terminal_table_shows_run_strings_as_text() -> None:
    trials, final = hand_tables()
    hostile = "[red]x[/red]"
    table = methods_table(trials.replace({"gp": hostile}), final.replace({"gp": hostile}))
    assert f"{hostile}/none" in _rendered(table)


# ----------------------------------------------------------------- across problems


def _matrix_table(values: np.ndarray, methods: list[str]) -> pd.DataFrame:
    """A methods table with only what the comparison reads: problem, method, best_val_mean."""
    return pd.DataFrame(
        [
            {"problem": f"p{i}", "method": m, "best_val_mean": v}
            for i, row in enumerate(values)
            for m, v in zip(methods, row, strict=True)
        ]
    )


def test_friedman_test_and_average_ranks_match_scipy() -> None:
    rng = np.random.default_rng(3)
    values = rng.uniform(0.8, 0.99, size=(12, 3)) + np.array([0.02, 0.0, -0.02])
    methods = ["tpe/none", "random/none", "gp/none"]
    comparison = across_problems(_matrix_table(values, methods))
    expected = stats.friedmanchisquare(*values.T)
    assert comparison.test == "friedman" and comparison.problems == 12
    assert comparison.statistic == pytest.approx(expected.statistic) and comparison.p_value == pytest.approx(expected.pvalue)
    hand_ranks = pd.DataFrame(values, columns=methods).rank(axis=1, ascending=False).mean()
    assert comparison.ranks == pytest.approx(hand_ranks.to_dict())
    assert list(comparison.ranks) == hand_ranks.sort_values().index.tolist()  # best first
    assert comparison.cd == pytest.approx(2.343 * math.sqrt(3 * 4 / (6 * 12)), abs=1e-3)
    assert "Friedman" in comparison.note and f"{expected.pvalue:.3g}" in comparison.note


def test_wilcoxon_test_matches_scipy() -> None:
    values = np.array(
        [[0.91, 0.90], [0.95, 0.93], [0.88, 0.89], [0.97, 0.94], [0.92, 0.905], [0.99, 0.96], [0.85, 0.80], [0.9, 0.87]]
    )
    comparison = across_problems(_matrix_table(values, ["tpe/none", "random/none"]))
    expected = stats.wilcoxon(values[:, 0], values[:, 1])
    assert comparison.test == "wilcoxon" and comparison.cd is None
    assert comparison.statistic == pytest.approx(expected.statistic) and comparison.p_value == pytest.approx(expected.pvalue)
    assert comparison.ranks == pytest.approx({"tpe/none": 1 + 1 / 8, "random/none": 2 - 1 / 8})  # tpe wins 7 of 8


def test_too_few_problems_for_a_test_says_so() -> None:
    tpe_wins = np.array([[0.90 + 0.01 * (i + 1), 0.90] for i in range(6)])  # distinct differences: the exact test
    five = across_problems(_matrix_table(tpe_wins[:5], ["tpe/none", "random/none"]))
    assert five.test is None and five.p_value is None and five.ranks == {"tpe/none": 1.0, "random/none": 2.0}
    assert "too few for a Wilcoxon signed-rank test" in five.note and "fewer than 6 problems" in five.note
    # at six problems the exact two-sided p, 2 / 2**6, can fall below 0.05
    six = across_problems(_matrix_table(tpe_wins, ["tpe/none", "random/none"]))
    assert six.test == "wilcoxon" and six.p_value == pytest.approx(2 / 2**6)
    two = across_problems(_matrix_table(np.array([[0.9, 0.8, 0.7]] * 2), ["a/none", "b/none", "c/none"]))
    assert two.test is None and two.cd is None and "too few for a Friedman test" in two.note and "fewer than 3" in two.note
    assert (min_problems(2), min_problems(3), min_problems(5)) == (6, 3, 3)


def test_problems_some_method_lacks_are_left_out_and_said() -> None:
    table = _matrix_table(np.array([[0.95, 0.90]] * 7), ["tpe/none", "random/none"])
    table.loc[0, "best_val_mean"] = math.nan
    comparison = across_problems(table)
    assert comparison.problems == 6 and comparison.test == "wilcoxon" and "1 problem left out" in comparison.note


def test_nemenyi_critical_difference_by_hand() -> None:
    # Demsar (2006), table 5(a): q_0.05 = 2.343 for k = 3, 2.569 for k = 4
    assert round(nemenyi_cd(3, 10), 3) == round(2.343 * math.sqrt(3 * 4 / (6 * 10)), 3) == 1.048
    assert round(nemenyi_cd(4, 14), 3) == round(2.569 * math.sqrt(4 * 5 / (6 * 14)), 3)
    with pytest.raises(ValueError):
        nemenyi_cd(1, 10)


def test_cd_groups_join_methods_closer_than_the_critical_difference() -> None:
    assert cd_groups({"a": 1.0, "b": 1.5, "c": 2.9}, 1.048) == [["a", "b"]]
    assert cd_groups({"a": 1.0, "b": 1.9, "c": 2.5}, 1.048) == [["a", "b"], ["b", "c"]]
    assert cd_groups({"a": 1.0, "b": 1.5, "c": 1.6}, 1.048) == [["a", "b", "c"]]
