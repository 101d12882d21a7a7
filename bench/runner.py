"""A run: for each seed and family, a Ray Tune search driven by Optuna, then refit and test.

The driver validates every input (its data included) before starting Ray, imports the search's
own modules (Ray Tune: seconds) while Ray starts its processes, puts the arrays into the object
store once, and writes the run's tables after each family so an interruption loses nothing
finished.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shlex
import sys
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # no per-trial CSV/JSON/TB files
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")  # Ctrl-C reaches bench, which saves and says how to resume
# Tune's experiment snapshot ("auto" rewrites it every few seconds): the journal, not the snapshot,
# is what --resume reads, so the snapshot can stay off the per-trial path.
os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "60")

import warnings

import numpy as np
import optuna
import pandas as pd
from rich.console import Console
from rich.text import Text

from bench.cli import SCHEDULERS
from bench.cluster import check_address, ray_session
from bench.datasets import get_dataset
from bench.datasets.duplicates import with_duplicates
from bench.errors import BenchInputError
from bench.families import create_family, list_families
from bench.families.base import Family, check_ceilings
from bench.families.preprocess import adapt_spaces
from bench.journal import Journal
from bench.manifest import build_manifest
from bench.progress import RunProgress
from bench.results import check_writable, prediction_part, write_json, write_table
from bench.samplers import SAMPLERS, create_sampler, sampler_notes
from bench.space import SearchSpace, load_space

if TYPE_CHECKING:
    from bench.search import SearchSettings
    from bench.trial import DataHandle

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

#: What a search and its refit import beyond the validation's modules (Ray Tune above all),
#: loaded while Ray starts (:meth:`Run.prepare`); names the runner re-exports come from them.
SEARCH_MODULES = ("bench.scheduling", "bench.search", "bench.searchdata", "bench.trial", "bench.refit")
_REEXPORTED = {
    "StopOnInterrupt": "bench.scheduling",
    "make_scheduler": "bench.scheduling",
    "same_config": "bench.scheduling",
    "prepare_data": "bench.searchdata",
}


def __getattr__(name: str) -> Any:
    """The re-exported names (``bench.runner.make_scheduler``...), imported on first use."""
    if name in _REEXPORTED:
        import importlib

        return getattr(importlib.import_module(_REEXPORTED[name]), name)
    raise AttributeError(f"module 'bench.runner' has no attribute {name!r}")


@dataclass
class RunOptions:
    """Everything ``bench run`` needs; the CLI fills it, tests may build it directly."""

    families: list[str]
    dataset: str = "digits"
    trials: int | None = None
    time_budget_s: float | None = None
    seeds: list[int] = field(default_factory=lambda: [0])
    sampler: str = "tpe"
    cpus_per_trial: int = 1
    gpus_per_trial: float = 0.0
    scheduler: str = "auto"
    max_concurrent: int | None = None
    max_failures: int = 2
    address: str | None = None
    storage: str | None = None
    checkpoint_interval_s: float = 30.0
    data_dir: Path | None = None
    train_size: int | None = None
    results_dir: Path = Path("results")
    name: str | None = None
    space_dir: Path | None = None
    progress: bool = True
    command: str = ""
    reproducible: bool = False
    #: In a comparison of several methods, start each study from the default and start configurations.
    with_start: bool = False
    #: "name@version" of the problem suite this run belongs to, if any.
    suite: str | None = None
    drop_test_duplicates: bool = False
    #: "HxW" every image of an image folder is resized to (None: the most common size).
    image_size: str | None = None

    def sampler_names(self) -> list[str]:
        return [name.strip() for name in self.sampler.split(",") if name.strip()]

    def scheduler_names(self) -> list[str]:
        return [name.strip() for name in self.scheduler.split(",") if name.strip()]

    def methods(self, family: str) -> list[Method]:
        """The (sampler, scheduler) pairs searched for ``family``, ``auto`` resolved, each once."""
        pairs = (Method(s, scheduler_ran(c, family), c) for s in self.sampler_names() for c in self.scheduler_names())
        return list(dict.fromkeys(pairs))  # the first asked name of each (sampler, scheduler)

    @property
    def comparison(self) -> bool:
        """Several samplers or schedulers: each a study of its own, started without the default
        and start configurations unless ``with_start``."""
        return len(self.sampler_names()) > 1 or len(self.scheduler_names()) > 1

    def family_names(self) -> list[str]:
        names: list[str] = []
        for entry in self.families:
            for name in entry.split(","):
                name = name.strip()
                expanded = list_families() if name == "all" else [create_family(name).name]
                names.extend(n for n in expanded if n not in names)
        if not names:
            raise BenchInputError(f"--family is required (or --resume RUN); valid families: {', '.join(list_families())}, all")
        return names


@dataclass(frozen=True)
class Method:
    """A search method: the Optuna sampler and the Tune scheduler ("asha" or "none") of a study;
    ``option`` is the scheduler as asked (``auto`` included), the method's name across families."""

    sampler: str
    scheduler: str
    option: str = field(default="", compare=False)

    @property
    def label(self) -> str:
        return f"{self.sampler}/{self.scheduler}"


def study_of(row: dict[str, Any], method: Method) -> Method:
    """The method of a journal row (rows of older runs name no scheduler: theirs was the run's one)."""
    return Method(str(row.get("sampler") or method.sampler), str(row.get("scheduler") or method.scheduler))


#: A refit beside the warm refit worker runs on a new process, which spends seconds importing
#: first: a single-core family's refits run side by side only when its trials' fits took longer.
SIDE_BY_SIDE_REFIT_SECONDS = 10.0


def side_by_side(family: Family, configs: int, fit_seconds: float) -> bool:
    """Whether ``configs`` refits run at once, each on its share of the cores: only for a family
    whose fit uses one core (one after the other, each with every core, would leave the others
    idle), and only when its trials' fits took long enough to pay for a new worker's imports."""
    return configs > 1 and not family.parallel_fit and fit_seconds >= SIDE_BY_SIDE_REFIT_SECONDS


def scheduler_ran(name: str, family: str) -> str:
    """ "asha" or "none": what ``--scheduler`` (``auto`` included) meant for this family."""
    from bench.scheduling import scheduler_kind

    return scheduler_kind(name, create_family(family))


def make_run_id(name: str | None, dataset: str, families: list[str]) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    label = name or (families[0] if len(families) == 1 else "multi")
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", label)[:40].strip("._") or "run"
    return f"{stamp}-{dataset}-{label}-{secrets.token_hex(2)}"


class Run:
    """One run folder: a new ``bench run`` or a ``--resume`` of an interrupted one.

    Rows go to ``journal.jsonl`` as they happen and the Parquet tables are rebuilt from it, so a
    Ctrl-C or a killed driver loses only the trials that were in flight. The Optuna study lives
    in an Optuna journal file beside it, so a resumed search continues from what it learnt.
    """

    def __init__(self, options: RunOptions, console: Console | None = None, resume_dir: Path | None = None) -> None:
        self.options = options
        self.console = console or Console(stderr=True)
        # Validate everything a user can get wrong before any compute is spent.
        self.families = options.family_names()
        self.spaces: dict[str, SearchSpace] = {f: load_space(f, options.space_dir) for f in self.families}
        if not options.sampler_names():
            raise BenchInputError(f"--sampler names no sampler; valid samplers: {', '.join(SAMPLERS)}")
        for family, space in self.spaces.items():
            check_ceilings(create_family(family), space)
            for sampler in options.sampler_names():
                create_sampler(sampler, 0, space)
        for name in options.scheduler_names() or [""]:  # the name alone: the schedulers themselves need Ray Tune
            if name not in SCHEDULERS:
                raise BenchInputError(f"unknown scheduler {name!r}; valid schedulers: {', '.join(SCHEDULERS)}")
        if options.gpus_per_trial < 0:
            raise BenchInputError(f"--gpus-per-trial {options.gpus_per_trial} must be 0 or more")
        if options.max_failures < 0:
            raise BenchInputError(f"--max-failures {options.max_failures} must be 0 or more")
        self.dataset = get_dataset(options.dataset)
        if options.image_size is not None:
            from bench.datasets.custom import CustomDataset

            if not isinstance(self.dataset, CustomDataset):
                raise BenchInputError(
                    f"--image-size resizes a dataset given as a path (an image folder); {options.dataset} has images of one size"
                )
            self.dataset.image_size = options.image_size
        check_writable(Path(options.results_dir))
        check_address(options.address)
        from bench.searchdata import prepare_data

        self.loaded = with_duplicates(self.dataset.load(options.data_dir), options.drop_test_duplicates)
        self.spaces, self.space_notes = adapt_spaces(self.spaces, self.loaded.image_shape, self.loaded.channels)
        for space in self.spaces.values():
            for sampler in options.sampler_names():
                for note in sampler_notes(sampler, space):
                    self.space_notes.append(note)
                    self.console.print(Text(f"note: {note}"))
        self.search_data, self.final_data = prepare_data(self.loaded, options.train_size, self.dataset.val_fraction)
        if resume_dir is None:
            self.run_id = make_run_id(options.name, self.loaded.name, self.families)
            self.run_dir = check_writable(Path(options.results_dir) / self.run_id).resolve()
            self.started = datetime.now(timezone.utc).isoformat()
        else:
            self.run_dir = check_writable(Path(resume_dir)).resolve()
            from bench.manifest import read_manifest

            previous = read_manifest(self.run_dir)  # bounded, a JSON object with a safe run_id
            self.run_id, self.started = previous["run_id"], str(previous.get("started_at") or "")
            from bench.safe_io import one_line

            dataset = previous.get("dataset")
            searched = dataset.get("name") if isinstance(dataset, dict) else None
            if isinstance(searched, str) and searched != self.loaded.name:  # a user's dataset: name-<content checksum>
                raise BenchInputError(
                    f"--resume {self.run_dir}: the run searched {one_line(searched)[:100]}; the data given now is "
                    f"{self.loaded.name} (its content differs): resume with the same data"
                )
        self.journal = Journal(self.run_dir / "journal.jsonl")
        if resume_dir is None:  # exists from the start, so a run stopped before any trial ended can resume
            from bench.journal import open_for_append

            os.close(open_for_append(self.journal.path))
        self.optuna_storage_path = self.run_dir / "optuna-journal.log"
        self.cluster: dict[str, Any] = {}
        self.status = "running"
        self.gpus_available = 0.0
        #: Refit outcomes by (family, seed, configuration): the methods of a comparison often
        #: keep the same configuration, and every study refits the same default.
        self._refitted: dict[tuple[str, int, str], dict[str, Any]] = {}

    @classmethod
    def resume(
        cls,
        run_dir: Path,
        console: Console | None = None,
        address: str | None = None,
        progress: bool = True,
        storage: str | None = None,
        data_dir: Path | None = None,
        space_dir: Path | None = None,
    ) -> Run:
        """Reopen an interrupted run with the options it was started with, checked again.

        A run folder is data, possibly someone else's: its saved options pass the command
        line's checks; ``address`` and ``storage`` come from the caller (the user's flags) or
        are the local defaults, never from the folder; paths it names are used only inside it
        or when given again. A folder whose journal is missing, unreadable or short of what
        its tables hold is refused here, before anything is written."""
        from bench.journal import check_resumable
        from bench.manifest import read_manifest, saved_options
        from bench.safe_io import one_line

        run_dir = Path(run_dir)
        manifest = read_manifest(run_dir)
        if manifest.get("status") == "finished":
            raise BenchInputError(f"--resume {run_dir}: that run already finished; nothing to resume")
        if str(manifest.get("kind") or "search") != "search":
            raise BenchInputError(
                f"--resume {run_dir}: a {one_line(manifest.get('kind'))[:40]} run, not a search; only searches resume"
            )
        values, notes = saved_options(manifest, run_dir, address=address, storage=storage, data_dir=data_dir, space_dir=space_dir)
        torn = check_resumable(run_dir)
        values.update(progress=progress, command=shlex.join(["python", "-m", "bench", *sys.argv[1:]]))
        known = {f.name for f in fields(RunOptions)}
        run = cls(RunOptions(**{k: v for k, v in values.items() if k in known}), console, resume_dir=run_dir)
        if torn:
            notes.append(
                f"journal.jsonl ends in a torn line ({torn} bytes, cut by a crash); it is cut away before the next record"
            )
        for note in notes:
            run.console.print(Text(f"note: {one_line(note)}"))
        return run

    # ----------------------------------------------------------------- writing
    def manifest(self) -> dict[str, Any]:
        from bench.models.store import index as models_index

        o = self.options
        return build_manifest(
            run_id=self.run_id,
            kind="search",
            name=o.name,
            command=o.command or shlex.join(["python", "-m", "bench", *sys.argv[1:]]),
            status=self.status,
            started_at=self.started,
            finished_at=datetime.now(timezone.utc).isoformat() if self.status != "running" else None,
            options={k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(o).items()},
            families=self.families,
            seeds=o.seeds,
            dataset={
                "name": self.loaded.name,
                "source": self.loaded.source,
                "checksums_sha256": self.loaded.checksums,
                "image_shape": list(self.loaded.image_shape),
                "class_names": list(self.loaded.class_names),
                "sizes": {
                    "fit": len(self.search_data.folds[0].y_fit),
                    "validation": len(self.search_data.folds[0].y_val),
                    "train": len(self.final_data.y_train),
                    "test": len(self.final_data.y_test),
                },
                "validation": self.search_data.validation,
                "validation_fraction": self.dataset.val_fraction if len(self.search_data.folds) == 1 else None,
                **self.loaded.details,
                "search_space_notes": self.space_notes,
            },
            search_spaces={f: s.source for f, s in self.spaces.items()},
            cluster=self.cluster,
            models=models_index(self.run_dir),  # bench.models: each saved model's file, card and SHA-256
        )

    def write(self) -> None:
        """Rebuild the tables from the journal and write them and the manifest, atomically."""
        rows = self.journal.rows()
        write_table(pd.DataFrame(rows["trial"]), self.run_dir / "trials.parquet")
        write_table(pd.DataFrame(rows["history"]), self.run_dir / "history.parquet")
        write_table(pd.DataFrame(rows["final"]), self.run_dir / "final.parquet")
        write_json(self.manifest(), self.run_dir / "manifest.json")

    def resume_command(self) -> str:
        """The command that goes on: a resume takes no address, storage or outside path from the folder."""
        o = self.options
        extra = [
            *(["--address", o.address] if o.address else []),
            *(["--storage", o.storage] if o.storage else []),
            *(["--space-dir", str(o.space_dir)] if o.space_dir else []),
            *(["--data-dir", str(o.data_dir)] if o.data_dir else []),
        ]
        return shlex.join(["python", "-m", "bench", "run", "--resume", str(self.run_dir), *extra])

    # ----------------------------------------------------------------- running
    def prepare(self) -> None:
        """Import what the searches and refits need beyond what the checks loaded: called by
        ``ray_session`` once ``ray.init`` has returned, while Ray's workers import theirs."""
        import importlib

        for module in SEARCH_MODULES:
            importlib.import_module(module)

    def execute(self) -> Path:
        o = self.options
        self.write()
        with ray_session(o.address, num_cpus=None, families=self.families, on_start=self.prepare) as resources:
            import ray

            from bench.trial import DataHandle

            self.cluster = {"resources": resources, "nodes": len([n for n in ray.nodes() if n.get("Alive")])}
            self.gpus_available = float(resources.get("GPU", 0.0))
            if self.cluster["nodes"] > 1 and not o.storage:
                self.console.print(
                    "note: multi-node cluster without --storage: trials run without checkpoints "
                    "and Ray Tune's state stays on this driver"
                )
            search_ref = DataHandle(ray.put(self.search_data))
            final_ref = ray.put(self.final_data)
            try:
                with RunProgress(self.console, enabled=o.progress) as progress:
                    done = {(r["family"], r["seed"], study_of(r, Method("", ""))) for r in self.journal.rows()["final"]}
                    for seed in o.seeds:
                        for family in self.families:
                            for method in o.methods(family):
                                if (family, seed, method) in done:
                                    continue
                                self._search_and_refit(family, seed, method, search_ref, final_ref, progress)
                                self.write()
                self.status = "finished"
            except KeyboardInterrupt:
                self.status = "interrupted"
                raise
            finally:
                if self.status == "running":
                    self.status = "failed"
                self.write()
        return self.run_dir

    def _finished_trials(self, family: str, seed: int, method: Method) -> list[dict[str, Any]]:
        return [
            r
            for r in self.journal.rows()["trial"]
            if r["family"] == family and r["seed"] == seed and study_of(r, method) == method
        ]

    def _settings(self, method: Method) -> SearchSettings:
        from bench.search import SearchSettings

        o = self.options
        return SearchSettings(
            run_id=self.run_id,
            dataset=self.loaded.name,
            sampler=method.sampler,
            scheduler=method.scheduler,
            study_tag=method.label.replace("/", "-") if o.comparison else "",
            with_start=o.with_start or not o.comparison,
            trials=o.trials,
            time_budget_s=o.time_budget_s,
            cpus_per_trial=o.cpus_per_trial,
            max_concurrent=o.max_concurrent,
            max_failures=o.max_failures,
            storage_path=o.storage or str(self.run_dir / "tune"),
            optuna_journal=self.optuna_storage_path,
            journal=self.journal,
            checkpoint_every=self.checkpoint_every(),
            reproducible=o.reproducible,
            concurrency=self.concurrency(),
        )

    def concurrency(self) -> int:
        """How many trials can run at once: ``--max-concurrent``, else the CPUs Ray has per trial's share."""
        cpus = int(self.cluster.get("resources", {}).get("CPU", 1))
        fits = max(1, cpus // max(1, self.options.cpus_per_trial))
        return min(fits, self.options.max_concurrent) if self.options.max_concurrent else fits

    def _search_and_refit(
        self, family: str, seed: int, method: Method, search_ref: DataHandle, final_ref: Any, progress: RunProgress
    ) -> None:
        from bench.search import FamilySearch, span_seconds

        o = self.options
        model_family = create_family(family)
        previous = self._finished_trials(family, seed, method)
        gpus = self.gpus_for(model_family)
        search = FamilySearch(self._settings(method), self.spaces[family], family, seed, gpus, previous)
        planned = search.planned_trials
        label = " ".join([family, *([method.label] if o.comparison else []), *([f"seed {seed}"] if len(o.seeds) > 1 else [])])
        task = progress.add(label, planned if planned > 0 else None)
        scored = [r["val_accuracy"] for r in previous if r.get("val_accuracy") is not None]
        progress.update(task, len(previous), max(scored) if scored else math.nan)
        seconds = search.run(search_ref, on_change=lambda done, best: progress.update(task, done, best))
        rows = self._finished_trials(family, seed, method)
        progress.finish(task, len(rows))
        self._refit(family, seed, method, gpus, rows, span_seconds(previous) + seconds, final_ref)

    def checkpoint_every(self) -> float | None:
        """Seconds between trial checkpoints, or None: none without a storage every node reaches."""
        if self.cluster.get("nodes", 1) > 1 and not self.options.storage:
            return None
        return self.options.checkpoint_interval_s

    def gpus_for(self, model_family: Any) -> float:
        """The GPU share a trial of this family asks for: only GPU families, only if Ray has GPUs."""
        if not model_family.uses_gpu or self.gpus_available <= 0:
            return 0.0
        return self.options.gpus_per_trial

    def _refit(
        self,
        family: str,
        seed: int,
        method: Method,
        gpus: float,
        rows: list[dict[str, Any]],
        search_seconds: float,
        final_ref: Any,
    ) -> None:
        """Refit the kept configuration and the library default with every core of a node (the
        search is over; see :meth:`_refits`), and score both on test."""
        from bench.refit import final_row, select
        from bench.scheduling import same_config
        from bench.search import DEFAULT_TRIALS, default_config

        o = self.options
        counts = {s: sum(r["status"] == s for r in rows) for s in ("completed", "pruned", "cut", "failed")}
        base = {
            "run_id": self.run_id,
            "dataset": self.loaded.name,
            "family": family,
            "seed": seed,
            "sampler": method.sampler,
            "scheduler": method.scheduler,
            "scheduler_option": method.option or method.scheduler,
            "trials_requested": o.trials if o.trials is not None else (None if o.time_budget_s else DEFAULT_TRIALS),
            "time_budget_s": o.time_budget_s,
            "mode": "reproducible" if o.reproducible else "default",
            "validation": self.search_data.validation,
            "train_size": len(self.final_data.y_train),
            "test_size": len(self.final_data.y_test),
            "trials": len(rows),
            **{f"trials_{k}": v for k, v in counts.items()},
            "search_seconds": search_seconds,
        }
        selection = select(rows, family)
        if selection is None:
            self.journal.append("final", {**base, "status": "failed", "error": "no trial reported a score; see trials.parquet"})
            return
        default_params = default_config(self.spaces[family])
        configs = [selection.params]
        if not same_config(selection.params, default_params):
            configs.append(default_params)
        default_row = next((r for r in rows if r.get("is_default") and r["status"] == "completed"), None)
        fit_seconds = max(float(r.get("fit_seconds") or 0.0) for r in (selection.row, default_row or {}))
        try:
            outs = self._cached_refits(family, configs, seed, gpus, final_ref, fit_seconds)
        except Exception as exc:  # noqa: BLE001 - a refit that raises is a finding, not a crash of the run
            self.journal.append(
                "final",
                {
                    **base,
                    "status": "failed",
                    "params": json.dumps(selection.params, default=str),
                    "error": str(exc).strip().splitlines()[-1][:2000],
                },
            )
            return
        tuned, default = outs[0], outs[-1]
        self._write_predictions(family, seed, method, tuned["predicted"], default["predicted"])
        self._save_model(family, seed, method, selection.params, tuned)  # before the final row: a resume redoes both
        self.journal.append(
            "final", final_row(base, selection, tuned, default, default_row, default_params, self.final_data.y_test)
        )

    def refit_cpus(self, gpus: float) -> int:
        """The cores a refit uses: every core of its node, as it runs alone once the search is
        over (on a cluster, the largest node's, among those with the GPU share a GPU refit needs)."""
        import ray

        sizes = [
            int(node["Resources"].get("CPU", 0))
            for node in ray.nodes()
            if node.get("Alive") and node["Resources"].get("GPU", 0.0) >= gpus
        ]
        return max([self.options.cpus_per_trial, *sizes])

    def _cached_refits(
        self, family: str, configs: list[dict[str, Any]], seed: int, gpus: float, final_ref: Any, fit_seconds: float
    ) -> list[dict[str, Any]]:
        """:meth:`_refits` of the configurations this run has not refit yet for ``family`` and ``seed``."""
        keys = [(family, seed, json.dumps(params, sort_keys=True, default=str)) for params in configs]
        todo = [params for key, params in zip(keys, configs, strict=True) if key not in self._refitted]
        if todo:
            outs = self._refits(family, todo, seed, gpus, final_ref, fit_seconds)
            todo_keys = [key for key in keys if key not in self._refitted]
            self._refitted.update(zip(todo_keys, outs, strict=True))
        return [self._refitted[key] for key in keys]

    def _refits(
        self, family: str, configs: list[dict[str, Any]], seed: int, gpus: float, final_ref: Any, fit_seconds: float = 0.0
    ) -> list[dict[str, Any]]:
        """``refit_and_test`` of each configuration with :meth:`refit_cpus` threads, one after the
        other; or, for a family whose fit uses one core (:func:`side_by_side`), at once, each with
        its share. On a local run's warm refit worker (see bench.warm), the refits beside it on new
        workers; else (a cluster, a GPU refit, or a refit worker that died) as Ray tasks on new
        workers, retried as trials are."""
        import ray

        from bench import warm
        from bench.trial import refit_entry

        threads = self.refit_cpus(gpus)
        together = side_by_side(create_family(family), len(configs), fit_seconds)
        if together:
            threads = max(1, threads // len(configs))
        task = ray.remote(num_cpus=threads, num_gpus=gpus, max_retries=self.options.max_failures)(refit_entry)
        worker = warm.refit_worker() if gpus <= 0 else None
        if worker is not None:
            try:
                if together:
                    beside = [task.remote(family, params, seed, threads, gpus, final_ref) for params in configs[1:]]
                    return ray.get([worker.refit.remote(family, configs[0], seed, threads, final_ref), *beside])
                return ray.get([worker.refit.remote(family, params, seed, threads, final_ref) for params in configs])
            except ray.exceptions.RayActorError:
                pass  # its process died (out of memory?): the refits run again on new workers
        return ray.get([task.remote(family, params, seed, threads, gpus, final_ref) for params in configs])

    def _write_predictions(self, family: str, seed: int, method: Method, predicted: np.ndarray, default: np.ndarray) -> None:
        o = self.options
        predictions = pd.DataFrame(
            {
                "run_id": self.run_id,
                "dataset": self.loaded.name,
                "family": family,
                "seed": seed,
                "sampler": method.sampler,
                "scheduler": method.scheduler,
                "test_index": np.arange(len(predicted)),
                "y_true": self.final_data.y_test,
                "y_pred": predicted,
                "y_pred_default": default,
            }
        )
        part = prediction_part(self.run_dir, family, seed, method.label if o.comparison else None)
        write_table(predictions, part)  # this study's alone

    # ----------------------------------------------------------------- saved models (bench.models)
    def _save_model(self, family: str, seed: int, method: Method, params: dict[str, Any], tuned: dict[str, Any]) -> None:
        """Keep the refit model in ``models/`` with its card; a model that could not be saved is a note."""
        from bench.models.store import save_refit

        note = save_refit(
            self.run_dir,
            self.loaded,
            run_id=self.run_id,
            family=family,
            seed=seed,
            sampler=method.sampler,
            scheduler=method.scheduler,
            method=method.label if self.options.comparison else None,
            params=params,
            tuned=tuned,
        )
        if note:
            self.console.print(Text(f"note: {note}"))
