"""What the report shows, in order: one function per section, each reading the run tables.

The figure helpers are reused per family and per dataset; nothing here draws or escapes.
"""

from __future__ import annotations

import re
from typing import SupportsInt

import numpy as np
import pandas as pd

from bench.leaderboard import leaderboard
from bench.report import data, rungs
from bench.report.figures.accuracy import accuracy_figure
from bench.report.figures.common import esc, family_colors, report_template
from bench.report.figures.confusion import confusion_figure
from bench.report.figures.cost import cost_figure
from bench.report.figures.images import image_grid
from bench.report.figures.importance import importance_figure
from bench.report.figures.parcoords import parcoords_figure
from bench.report.figures.progress import best_so_far_figure
from bench.report.figures.tuning import default_vs_tuned_figure
from bench.report.images import Images, load_images, sample_per_class
from bench.report.methods import methods_section
from bench.report.page import Figure, Html, Note, Section
from bench.report.rungs import FLAG_BELOW, rank_correlations
from bench.report.study import MIN_BRANCH_TRIALS, branch_importances, space_for
from bench.report.tables import html_table, leaderboard_table, manifest_html, reproduction_table
from bench.report.tuning import default_vs_tuned
from bench.results import Results


def slug(*parts: object) -> str:
    """A file- and id-safe name for a figure."""
    return re.sub(r"[^A-Za-z0-9]+", "-", "-".join(map(str, parts))).strip("-").lower() or "figure"


def _class(images: Images, label: SupportsInt | str) -> str:
    """A label's class name (Fashion-MNIST's 'Bag' rather than 8)."""
    index = int(label)
    return images.class_names[index] if 0 <= index < len(images.class_names) else str(index)


class ReportBuilder:
    """Builds the sections of one report over any number of runs."""

    def __init__(self, results: Results, board: pd.DataFrame | None = None) -> None:
        self.results = results
        # predictions: the tie marks; ``board``: the caller's, when it already built it from these results
        self.board = leaderboard(results.final, results.predictions) if board is None else board
        searches = [r for r, m in results.manifests.items() if data.run_kind(m) == data.SEARCH]
        trials = results.trials
        if not trials.empty and "run_id" in trials:  # reproduction repeats are not search trials
            trials = trials[trials["run_id"].isin(searches)]
        self.trials = trials if not trials.empty and "family" in trials else pd.DataFrame(columns=["family", "dataset", "status"])
        history = results.history
        if not history.empty and "run_id" in history:
            history = history[history["run_id"].isin(searches)]
        self.history = history
        families = [*self.board["family"], *self.trials.get("family", pd.Series(dtype=str)).dropna()]
        self.colors = family_colors(families)
        self.manifests = list(results.manifests.values())
        self.datasets = data.datasets_in(results)
        self.several_datasets = len(self.datasets) > 1
        self._images: dict[str, Images | str] = {}

    def images(self, dataset: str) -> Images | str:
        if dataset not in self._images:
            self._images[dataset] = load_images(self.manifests, dataset)
        return self._images[dataset]

    def label(self, dataset: object, family: object) -> str:
        return f"{family} on {dataset}" if self.several_datasets else str(family)

    # ------------------------------------------------------------------ sections
    def sections(self) -> list[Section]:
        built = [
            self.samples(),
            self.leaderboard(),
            self.reproductions(),
            self.cost(),
            self.progress(),
            self.search_methods(),
            self.early_stopping(),
            *self.families(),
            self.final_models(),
            self.manifest(),
        ]
        return [s for s in built if s is not None and s.blocks]

    def samples(self) -> Section:
        section = Section("Dataset", intro="The first training images of each class, as the models see them.")
        for dataset in self.datasets:
            images = self.images(dataset)
            if isinstance(images, str):
                section.blocks.append(Note(images))
                continue
            pixels, labels = sample_per_class(images, per_class=2)
            captions = [images.class_names[label] if label < len(images.class_names) else str(label) for label in labels]
            title = f"{esc(dataset)}: {len(images.train)} training and {len(images.test)} test images"
            section.blocks.append(Figure(slug("samples", dataset), image_grid(pixels, captions, title), wide=True))
        return section

    def leaderboard(self) -> Section:
        section = Section(
            "Leaderboard",
            intro=(
                "Each family's selected configuration (the library default, unless a tuned one beat it by more than its noise), "
                "refit on all training data and scored once on the test set, beside the default's own refit. "
                "With several seeds or runs: the mean, the standard deviation and a 95% Student-t interval; "
                "validation accuracy is the search's best, shown beside test, never mixed."
            ),
        )
        if self.board.empty:
            section.blocks.append(Note("No family finished a search in these runs."))
            return section
        section.blocks.append(Html(leaderboard_table(self.board)))
        section.blocks.append(
            Figure("leaderboard", accuracy_figure(self.board, self.colors, "Test accuracy by family"), wide=True)
        )
        tuning = default_vs_tuned(self.board)
        if not tuning.empty:
            section.blocks.append(
                Figure(
                    "default-vs-tuned",
                    default_vs_tuned_figure(
                        tuning, self.colors, "What tuning bought: library default → selected configuration, test accuracy"
                    ),
                    wide=True,
                )
            )
        return section

    def reproductions(self) -> Section | None:
        rows = data.reproductions(self.results)
        if rows.empty:
            return None
        section = Section(
            "Published vs reproduced",
            [Html(reproduction_table(rows))],
            intro="Rows written by bench reproduce: the published number, ours, and the verdict.",
        )
        for run_id, samples in data.reproduction_samples(self.results).items():
            pixels = np.stack(
                [
                    np.asarray(p, dtype=float).reshape(h, w)
                    for p, h, w in zip(samples["pixels"], samples["height"], samples["width"], strict=True)
                ]
            )
            captions = [
                f"label {label} (train #{index})" for label, index in zip(samples["label"], samples["index"], strict=True)
            ]
            title = f"{esc(run_id)}: the first training digits, as the reproduced protocol reads them"
            section.blocks.append(
                Figure(slug("reproduce-samples", run_id), image_grid(pixels / max(pixels.max(), 1.0), captions, title), wide=True)
            )
        return section

    def cost(self) -> Section:
        scored = data.scored_trials(self.trials)
        section = Section(
            "Accuracy against cost",
            intro=(
                "Every scored trial: validation accuracy against what its configuration costs as it would run: "
                "the fit of its last stage (staged families refit on growing subsets; earlier stages are not counted) "
                "plus predicting the validation set (k-NN's real cost), log scale. "
                "The dotted line is the Pareto front: no trial is both faster and more accurate."
            ),
        )
        if scored.empty:
            section.blocks.append(Note("No scored trials."))
        else:
            section.blocks.append(
                Figure("cost", cost_figure(scored, self.colors, "Validation accuracy against cost, every trial"), wide=True)
            )
        return section

    def progress(self) -> Section:
        by_trial = data.best_so_far(self.trials, data.BY_TRIAL)
        section = Section(
            "Search progress",
            intro=(
                "Best validation accuracy found so far, one line per search (run and seed), counting completed trials "
                "(a pruned or cut trial's score is half-trained; a search with no completed trial counts every score). "
                "Against wall time, trials are taken in the order they finished, each at its finish, so no score shows before it was found."
            ),
        )
        if by_trial.empty:
            section.blocks.append(Note("No trials to plot."))
            return section
        section.blocks.append(
            Figure(
                "best-by-trial",
                best_so_far_figure(by_trial, "trial_number", "trial number", self.colors, "Best so far against trial number"),
            )
        )
        by_finish = data.best_so_far(self.trials, data.BY_FINISH)
        if by_finish.empty:
            section.blocks.append(Note("No finish times recorded: no wall-time curve."))
        else:
            section.blocks.append(
                Figure(
                    "best-by-time",
                    best_so_far_figure(
                        by_finish,
                        "elapsed_seconds",
                        "seconds since the search's first trial started (at each trial's finish)",
                        self.colors,
                        "Best so far against wall time",
                    ),
                )
            )
        return section

    def search_methods(self) -> Section | None:
        """Samplers and schedulers compared (bench.report.methods); only when the search runs hold several."""
        return methods_section(self.results, self.trials)

    def early_stopping(self) -> Section | None:
        rows = rank_correlations(self.history)
        if rows.empty:
            return None
        section = Section(
            "Early stopping",
            intro=(
                "Did the first early-stopping rung rank trials as full training does? Per family, Spearman's rank correlation "
                "between each trial's validation score at the first rung and at full fidelity, over the trials that reached both. "
                f"Below {FLAG_BELOW} (marked ⚠) the trials pruned at that rung may have been judged unfairly."
            ),
        )
        headers = {k: v for k, v in rungs.HEADERS.items() if k != "dataset" or self.several_datasets}
        section.blocks.append(Html(html_table(rungs.display(rows), headers, css="grid rungs")))
        for _, row in rows[rows["flagged"]].iterrows():
            section.blocks.append(
                Note(
                    f"⚠ {self.label(row['dataset'], row['family'])}: first-rung and full-fidelity rankings agree "
                    f"only to ρ = {row['spearman_rho']:.2f} over {row['trials']} trials (below {FLAG_BELOW})."
                )
            )
        return section

    def families(self) -> list[Section]:
        sections: list[Section] = []
        if self.trials.empty or "family" not in self.trials or "val_accuracy" not in self.trials:
            return sections  # reproductions only: fixed configurations, no search to show
        for (dataset, family), trials in self.trials.groupby(["dataset", "family"], sort=False):
            if trials["val_accuracy"].isna().all():
                continue
            section = Section(
                f"Hyperparameters: {self.label(dataset, family)}",
                intro=(
                    "Each line a trial, coloured by validation accuracy (log-scale parameters on a log10 axis). "
                    "Importances from Optuna's fANOVA evaluator (seeded) on studies rebuilt from the completed trials: "
                    "over all of them for the parameters they share, and within each branch of the space's conditions "
                    f"(such as kernel = rbf) for the parameters that exist only there, where a branch has {MIN_BRANCH_TRIALS} "
                    "or more trials. Each bar's legend entry names the trials it covers; importances add up to 1 within each."
                ),
            )
            params = data.param_columns(trials)
            scored = trials[trials["status"] != "failed"].dropna(subset=["val_accuracy"])
            name = esc(self.label(dataset, family))
            if params and len(scored) >= 1:
                section.blocks.append(
                    Figure(
                        slug("params", dataset, family),
                        parcoords_figure(
                            scored, params, "val_accuracy", f"{name}: hyperparameters of {len(scored)} scored trials"
                        ),
                    )
                )
            else:
                section.blocks.append(Note(f"{self.label(dataset, family)}: no scored trials with parameters."))
            try:
                found, skipped = branch_importances(trials, space_for(str(family), self.manifests))
                section.blocks.append(
                    Figure(
                        slug("importance", dataset, family),
                        importance_figure(found, f"{name}: hyperparameter importance, per set of trials"),
                    )
                )
                if skipped:
                    section.blocks.append(Note(f"{self.label(dataset, family)}: no importances for " + "; ".join(skipped) + "."))
            except ValueError as exc:
                section.blocks.append(Note(f"{self.label(dataset, family)}: no importances ({exc})."))
            sections.append(section)
        return sections

    def final_models(self) -> Section:
        section = Section(
            "Final models",
            intro=(
                "Test-set confusion matrices of each family's refit model (summed over seeds and runs), "
                "and the winner's misclassified test images."
            ),
        )
        for item in data.confusions(self.results):
            models = f", summed over {item.models} models" if item.models > 1 else ""
            title = f"{esc(self.label(item.dataset, item.family))}: confusion matrix (test{models})"
            section.blocks.append(
                Figure(slug("confusion", item.dataset, item.family), confusion_figure(item.matrix, item.class_names, title))
            )
        for _, winner in data.winners(self.results, self.board).iterrows():
            self._gallery(section, winner)
        return section

    def _gallery(self, section: Section, winner: pd.Series) -> None:
        images = self.images(winner["dataset"])
        wrong = data.misclassified(self.results, winner)
        who = self.label(winner["dataset"], winner["family"])
        if isinstance(images, str):
            section.blocks.append(Note(images))
        elif wrong.empty:
            section.blocks.append(Note(f"{who}: no misclassified test images."))
        else:
            captions = [
                f"true {_class(images, t)} → pred {_class(images, p)}"
                for t, p in zip(wrong["y_true"], wrong["y_pred"], strict=True)
            ]
            seed = f", seed {winner['seed']}" if "seed" in winner.index else ""
            title = f"Winner {esc(who)}{esc(seed)}: {len(wrong)} misclassified test images shown"
            section.blocks.append(
                Figure(
                    slug("misclassified", winner["dataset"], winner["family"]),
                    image_grid(images.test[wrong["test_index"].to_numpy()], captions, title, columns=6, cell=120),
                    wide=True,
                )
            )

    def manifest(self) -> Section:
        return Section(
            "Runs",
            [Html("".join(manifest_html(m) for m in self.manifests))],
            intro="What each run needs to be reproduced: command, versions, hardware, seeds, dataset checksums.",
        )


def build_sections(results: Results, board: pd.DataFrame | None = None) -> list[Section]:
    """The report's sections for ``results`` (one run or many); ``board``, when given, is
    ``leaderboard(results.final, results.predictions)``, already computed by the caller."""
    with report_template():
        return ReportBuilder(results, board).sections()
