"""A run: for each seed and family, a Ray Tune search driven by Optuna, then refit and test.

The driver validates every input before starting Ray, puts the arrays into the object store
once, and writes the run's tables after each family so an interruption loses nothing finished.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # no per-trial CSV/JSON/TB files
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")  # Ctrl-C reaches bench, which saves and says how to resume
# Tune's experiment snapshot ("auto" rewrites it every few seconds): the journal, not the snapshot,
# is what --resume reads, so the snapshot can stay off the per-trial path.
os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "60")

import warnings

import optuna
import numpy as np
import pandas as pd
from ray.tune.stopper import Stopper
from rich.console import Console

from bench import interrupt
from bench.cluster import check_address, ray_session
from bench.datasets import LoadedDataset, get_dataset
from bench.datasets.splits import subsample, validation_split
from bench.errors import BenchInputError
from bench.families import create_family, list_families
from bench.journal import Journal
from bench.manifest import build_manifest
from bench.progress import RunProgress
from bench.recorder import TrialRecorder
from bench.results import check_writable, write_json, write_table
from bench.samplers import create_sampler
from bench.space import SearchSpace, load_space
from bench.trial import DataHandle, FinalData, SearchData, refit_entry, trial_entry

DEFAULT_TRIALS = 20

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


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


SCHEDULERS = ("auto", "asha", "none")


class StopOnInterrupt(Stopper):
    """A Tune stopper that ends the experiment once Ctrl-C or SIGTERM arrived (see bench.interrupt)."""

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return interrupt.requested.is_set()

    def stop_all(self) -> bool:
        return interrupt.requested.is_set()


def make_scheduler(name: str, family: Any) -> Any:
    """ASHA for families that report intermediate scores (unless ``none``), else FIFO."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if name not in SCHEDULERS:
        raise BenchInputError(f"unknown scheduler {name!r}; valid schedulers: {', '.join(SCHEDULERS)}")
    if name == "none" or not family.has_fidelity or family.max_steps() < 2:
        return FIFOScheduler()
    if family.schedule_bound:  # rungs at 1/27, 1/9 and 1/3 of each trial's own plan
        return ASHAScheduler(time_attr="progress", metric="val_accuracy", mode="max",
                             max_t=1.0, grace_period=1 / 27, reduction_factor=3)
    return ASHAScheduler(
        time_attr="training_iteration", metric="val_accuracy", mode="max",
        max_t=family.max_steps(), grace_period=1, reduction_factor=3,
    )


def trial_dirname(trial: Any) -> str:
    """Short trial folder names (Tune's default spells out every parameter)."""
    return f"trial_{trial.trial_id}"


def make_run_id(name: str | None, dataset: str, families: list[str]) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    label = name or (families[0] if len(families) == 1 else "multi")
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", label)[:40].strip("._") or "run"
    return f"{stamp}-{dataset}-{label}-{secrets.token_hex(2)}"


def prepare_data(loaded: LoadedDataset, train_size: int | None, val_fraction: float) -> tuple[SearchData, FinalData]:
    """Subsample the training data, split validation from it; the test set stays apart."""
    if train_size is not None and train_size < 20:
        raise BenchInputError(f"--train-size {train_size} is too small; use at least 20")
    X_train, y_train = subsample(loaded.X_train, loaded.y_train, train_size)
    X_fit, X_val, y_fit, y_val = validation_split(X_train, y_train, val_fraction)
    search = SearchData(X_fit=X_fit, y_fit=y_fit, X_val=X_val, y_val=y_val)
    final = FinalData(X_train=X_train, y_train=y_train, X_test=loaded.X_test, y_test=loaded.y_test, class_names=loaded.class_names)
    return search, final


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
        for family, space in self.spaces.items():
            create_sampler(options.sampler, 0, space)
            make_scheduler(options.scheduler, create_family(family))
        if options.gpus_per_trial < 0:
            raise BenchInputError(f"--gpus-per-trial {options.gpus_per_trial} must be 0 or more")
        if options.max_failures < 0:
            raise BenchInputError(f"--max-failures {options.max_failures} must be 0 or more")
        self.dataset = get_dataset(options.dataset)
        check_writable(Path(options.results_dir))
        check_address(options.address)
        self.loaded = self.dataset.load(options.data_dir)
        self.search_data, self.final_data = prepare_data(self.loaded, options.train_size, self.dataset.val_fraction)
        if resume_dir is None:
            self.run_id = make_run_id(options.name, options.dataset, self.families)
            self.run_dir = check_writable(Path(options.results_dir) / self.run_id).resolve()
            self.started = datetime.now(timezone.utc).isoformat()
        else:
            self.run_dir = check_writable(Path(resume_dir)).resolve()
            previous = json.loads((self.run_dir / "manifest.json").read_text())
            self.run_id, self.started = previous["run_id"], previous["started_at"]
        self.journal = Journal(self.run_dir / "journal.jsonl")
        self.optuna_storage_path = self.run_dir / "optuna-journal.log"
        self.cluster: dict[str, Any] = {}
        self.status = "running"
        self.gpus_available = 0.0

    @classmethod
    def resume(cls, run_dir: Path, console: Console | None = None, address: str | None = None,
               progress: bool = True) -> "Run":
        """Reopen an interrupted run with the options it was started with."""
        manifest_path = Path(run_dir) / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text())
            saved = manifest["options"]
        except (OSError, ValueError, KeyError):
            raise BenchInputError(f"--resume {run_dir}: not a run folder (no readable manifest.json)") from None
        if manifest.get("status") == "finished":
            raise BenchInputError(f"--resume {run_dir}: that run already finished; nothing to resume")
        known = {f.name for f in fields(RunOptions)}
        values = {k: v for k, v in saved.items() if k in known}
        for key in ("data_dir", "results_dir", "space_dir"):
            if values.get(key) is not None:
                values[key] = Path(values[key])
        values.update(progress=progress, command=shlex.join(["python", "-m", "bench", *sys.argv[1:]]))
        if address is not None:
            values["address"] = address
        return cls(RunOptions(**values), console, resume_dir=Path(run_dir))

    # ----------------------------------------------------------------- writing
    def manifest(self) -> dict[str, Any]:
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
                "sizes": {"fit": len(self.search_data.y_fit), "validation": len(self.search_data.y_val),
                          "train": len(self.final_data.y_train), "test": len(self.final_data.y_test)},
                "validation_fraction": self.dataset.val_fraction,
            },
            search_spaces={f: s.source for f, s in self.spaces.items()},
            cluster=self.cluster,
        )

    def write(self) -> None:
        """Rebuild the tables from the journal and write them and the manifest, atomically."""
        rows = self.journal.rows()
        write_table(pd.DataFrame(rows["trial"]), self.run_dir / "trials.parquet")
        write_table(pd.DataFrame(rows["history"]), self.run_dir / "history.parquet")
        write_table(pd.DataFrame(rows["final"]), self.run_dir / "final.parquet")
        if not (self.run_dir / "predictions.parquet").exists():
            write_table(pd.DataFrame(), self.run_dir / "predictions.parquet")
        write_json(self.manifest(), self.run_dir / "manifest.json")

    def resume_command(self) -> str:
        return shlex.join(["python", "-m", "bench", "run", "--resume", str(self.run_dir)])

    # ----------------------------------------------------------------- running
    def execute(self) -> Path:
        o = self.options
        self.write()
        with ray_session(o.address, num_cpus=None, families=self.families) as resources:
            import ray

            self.cluster = {"resources": resources, "nodes": len([n for n in ray.nodes() if n.get("Alive")])}
            self.gpus_available = float(resources.get("GPU", 0.0))
            if self.cluster["nodes"] > 1 and not o.storage:
                self.console.print("note: multi-node cluster without --storage: trials run without checkpoints "
                                   "and Ray Tune's state stays on this driver")
            search_ref = DataHandle(ray.put(self.search_data))
            final_ref = ray.put(self.final_data)
            try:
                with RunProgress(self.console, enabled=o.progress) as progress:
                    done = {(r["family"], r["seed"]) for r in self.journal.rows()["final"]}
                    for seed in o.seeds:
                        for family in self.families:
                            if (family, seed) in done:
                                continue
                            self._search_and_refit(family, seed, search_ref, final_ref, progress)
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

    def _finished_trials(self, family: str, seed: int) -> list[dict[str, Any]]:
        return [r for r in self.journal.rows()["trial"] if r["family"] == family and r["seed"] == seed]

    def _searcher(self, family: str, seed: int, restarted: int) -> Any:
        """Optuna behind Ray Tune, its study kept in a file so a resume continues it."""
        from ray.tune.search.optuna import OptunaSearch

        space = self.spaces[family]
        study_name = f"{self.run_id}/{family}/seed{seed}"
        storage = optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(self.optuna_storage_path))
        )
        for summary in optuna.get_all_study_summaries(storage):
            if summary.study_name == study_name:  # trials in flight when the driver died
                study = optuna.load_study(study_name=study_name, storage=storage)
                for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
                    storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
        # a resumed search draws fresh randomness rather than replaying the first proposals
        sampler_seed = seed if not restarted else int(np.random.SeedSequence([seed, restarted]).generate_state(1)[0])
        return OptunaSearch(
            space=space, metric="val_accuracy", mode="max", study_name=study_name, storage=storage,
            sampler=create_sampler(self.options.sampler, sampler_seed, space),
            points_to_evaluate=None if restarted else [dict(c) for c in space.start] or None,  # tried first
        )

    def _search_and_refit(self, family: str, seed: int, search_ref: DataHandle, final_ref: Any, progress: RunProgress) -> None:
        from ray import tune

        o = self.options
        model_family = create_family(family)
        previous = self._finished_trials(family, seed)
        spent = _span_seconds(previous)
        trials = o.trials if o.trials is not None else (-1 if o.time_budget_s else DEFAULT_TRIALS)
        remaining = trials - len(previous) if trials > 0 else -1
        budget = max(o.time_budget_s - spent, 1.0) if o.time_budget_s else None
        gpus = self.gpus_for(model_family)
        task = progress.add(f"{family} seed {seed}" if len(o.seeds) > 1 else family, trials if trials > 0 else None)
        scored = [r["val_accuracy"] for r in previous if r.get("val_accuracy") is not None]
        recorder = TrialRecorder(
            base={"run_id": self.run_id, "dataset": o.dataset, "family": family, "seed": seed,
                  "sampler": o.sampler, "cpus": o.cpus_per_trial, "gpus": gpus},
            max_fidelity=model_family.max_fidelity, journal=self.journal, first_number=len(previous),
            best=max(scored) if scored else math.nan,
            on_change=lambda done, best: progress.update(task, done, best),
        )
        progress.update(task, len(previous), recorder.best)
        search_seconds = 0.0
        if remaining != 0:
            trainable = tune.with_resources(
                tune.with_parameters(trial_entry, data=search_ref, family=family, seed=seed, cpus=o.cpus_per_trial,
                                     gpus=gpus, checkpoint_every=self.checkpoint_every()),
                {"cpu": o.cpus_per_trial, "gpu": gpus},
            )
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(
                    search_alg=self._searcher(family, seed, restarted=len(previous)),
                    scheduler=make_scheduler(o.scheduler, model_family), num_samples=remaining,
                    time_budget_s=budget, max_concurrent_trials=o.max_concurrent, reuse_actors=True,
                    trial_name_creator=trial_dirname, trial_dirname_creator=trial_dirname,
                ),
                run_config=tune.RunConfig(
                    name=f"{family}-seed{seed}" + (f"-resumed{len(previous)}" if previous else ""),
                    stop=StopOnInterrupt(),
                    storage_path=o.storage or str(self.run_dir / "tune"), verbose=0, callbacks=[recorder],
                    failure_config=tune.FailureConfig(max_failures=o.max_failures),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=2),  # 1 would force a Tune snapshot per checkpoint
                ),
            )
            started = time.monotonic()
            with interrupt.deferred():  # the stopper ends the search on Ctrl-C
                tuner.fit()
            interrupt.check()
            search_seconds = time.monotonic() - started
        rows = self._finished_trials(family, seed)
        progress.finish(task, len(rows))
        self._refit(family, seed, gpus, rows, spent + search_seconds, final_ref)

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

    def _refit(self, family: str, seed: int, gpus: float, rows: list[dict[str, Any]], search_seconds: float, final_ref: Any) -> None:
        import ray

        o = self.options
        counts = {s: sum(r["status"] == s for r in rows) for s in ("completed", "pruned", "failed")}
        base = {"run_id": self.run_id, "dataset": o.dataset, "family": family, "seed": seed, "sampler": o.sampler,
                "trials": len(rows), **{f"trials_{k}": v for k, v in counts.items()}, "search_seconds": search_seconds}
        completed = [r for r in rows if r["status"] == "completed" and r.get("val_accuracy") is not None]
        if not completed:
            self.journal.append("final", {**base, "status": "failed", "error": "no trial completed; see trials.parquet"})
            return
        best = max(completed, key=lambda r: (r["val_accuracy"], -r["trial_number"]))
        params = {k.removeprefix("params_"): v for k, v in best.items() if k.startswith("params_") and not _missing(v)}
        refit = ray.remote(num_cpus=o.cpus_per_trial, num_gpus=gpus, max_retries=o.max_failures)(refit_entry)
        try:
            out = ray.get(refit.remote(family, params, seed, o.cpus_per_trial, gpus, final_ref))
        except Exception as exc:  # a refit that raises is a finding, not a crash of the run
            self.journal.append("final", {**base, "status": "failed", "params": json.dumps(params),
                                          "error": str(exc).strip().splitlines()[-1][:2000]})
            return
        predicted = out.pop("predicted")
        predictions = pd.DataFrame({
            "run_id": self.run_id, "dataset": o.dataset, "family": family, "seed": seed,
            "test_index": np.arange(len(predicted)), "y_true": self.final_data.y_test, "y_pred": predicted,
        })
        path = self.run_dir / "predictions.parquet"
        if path.exists():
            earlier = pd.read_parquet(path)
            if not earlier.empty:
                earlier = earlier[(earlier["family"] != family) | (earlier["seed"] != seed)]
                predictions = pd.concat([earlier, predictions], ignore_index=True)
        write_table(predictions, path)
        self.journal.append("final", {
            **base,
            "status": "completed",
            "best_trial_id": best["trial_id"],
            "params": json.dumps(params, sort_keys=True),
            **{f"params_{k}": v for k, v in params.items()},
            "val_accuracy": best["val_accuracy"],
            "val_f1_macro": best["val_f1_macro"],
            "val_log_loss": best["val_log_loss"],
            "fit_seconds": best["fit_seconds"],
            **{k: v for k, v in out.items() if k not in ("confusion_matrix", "per_class")},
            "confusion_matrix": json.dumps(out["confusion_matrix"]),
            "per_class": json.dumps(out["per_class"]),
            "train_size": len(self.final_data.y_train),
            "test_size": len(self.final_data.y_test),
        })


def _span_seconds(rows: list[dict[str, Any]]) -> float:
    """Wall time a search already spent, from its finished trials' timestamps."""
    stamps = [(r["started_at"], r["finished_at"]) for r in rows if r.get("started_at") and r.get("finished_at")]
    if not stamps:
        return 0.0
    first = min(datetime.fromisoformat(a) for a, _ in stamps)
    last = max(datetime.fromisoformat(b) for _, b in stamps)
    return (last - first).total_seconds()


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
