"""What runs inside a Ray worker: one trial of the search, and the refit of the winner.

The arrays arrive through the Ray object store (``tune.with_parameters`` and ``ray.put``), so
every trial on a node reads the same shared memory instead of a copy in its closure.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from bench.families import Family, create_family
from bench.families.base import PROGRESS_RUNGS, Checkpointable, checkpoint_hooks
from bench.metrics import confusion, evaluate, per_class_report
from bench.models.formats import export as export_model
from bench.searchdata import FinalData, SearchData, binomial_se


@dataclass(frozen=True)
class DataHandle:
    """A reference into the Ray object store, small enough to ride in every trial's arguments."""

    ref: Any

    def get(self) -> Any:
        import ray

        return ray.get(self.ref)


def trial_entry(
    config: dict[str, Any],
    *,
    data: DataHandle,
    family: str,
    seed: int,
    cpus: int,
    gpus: float,
    checkpoint_every: float | None = None,
) -> None:
    """The Tune trainable. It lives here, not in the runner, so a worker imports only what a
    trial needs (the runner pulls in Optuna, pandas and rich: a second of start-up per worker)."""
    run_trial(config, data=data.get(), family=family, seed=seed, cpus=cpus, gpus=gpus, checkpoint_every=checkpoint_every)


def refit_entry(family: str, params: dict[str, Any], seed: int, cpus: int, gpus: float, data: FinalData) -> dict[str, Any]:
    """The Ray task that refits the chosen configuration (see :func:`refit_and_test`)."""
    return refit_and_test(family, params, seed, cpus, data, gpus=gpus)


class RefitWorker:
    """The Ray actor a local run keeps for its refits (see :mod:`bench.warm`): a process that
    imported the trial code with the node, so a refit does not wait for a new one to do so."""

    def refit(self, family: str, params: dict[str, Any], seed: int, cpus: int, data: FinalData) -> dict[str, Any]:
        return refit_and_test(family, params, seed, cpus, data)


def _placement() -> dict[str, Any]:
    import ray

    return {"node_ip": ray.util.get_node_ip_address(), "node_id": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}


def pick_device(gpus: float) -> str:
    """ "cuda" when Ray granted this task a GPU share and torch can see a GPU, else "cpu"."""
    if gpus <= 0:
        return "cpu"
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def _limit_torch_threads(cpus: int) -> None:
    if "torch" in sys.modules:  # only families that use torch have imported it
        sys.modules["torch"].set_num_threads(cpus)


def allowed_threads() -> int:
    """The most threads any thread pool of this process may use now: BLAS and OpenMP (as
    threadpoolctl sees them) and torch's intra-op pool. Reported with every result, so the
    tables show that a trial kept to its ``cpus``."""
    counts = [int(pool["num_threads"]) for pool in threadpool_info()]
    if "torch" in sys.modules:
        counts.append(int(sys.modules["torch"].get_num_threads()))
    return max(counts, default=1)


class TrialCheckpoints:
    """Saves a checkpointable family's training state through Tune at most every ``interval``
    seconds (0: every stage), and hands a retried trial the latest one.

    Tune stores the checkpoint under the run's storage (``--storage`` on a cluster), and restarts
    a trial whose worker or node died from it rather than from the first epoch.
    """

    STATE = "state.pt"
    META = "trial.json"

    def __init__(self, model_family: Checkpointable, interval: float) -> None:
        self.family = model_family
        self.interval = interval
        self.last = time.monotonic()

    def restore(self) -> tuple[dict[str, Any] | None, float]:
        """The state to resume from and the fit seconds spent before it, or (None, 0)."""
        from ray import tune

        checkpoint = tune.get_checkpoint()
        if checkpoint is None:
            return None, 0.0
        with checkpoint.as_directory() as folder:
            state = self.family.load_state(Path(folder) / self.STATE)
            meta = json.loads((Path(folder) / self.META).read_text())
        return state, float(meta["fit_seconds"])

    def report(self, model: Any, scores: dict[str, Any], final: bool) -> None:
        """``tune.report`` the scores, with a checkpoint when one is due (never after the last stage)."""
        from ray import tune

        if final or time.monotonic() - self.last < self.interval:
            tune.report(scores)
            return
        with tempfile.TemporaryDirectory(prefix="bench-checkpoint-") as folder:
            self.family.save_state(model, Path(folder) / self.STATE)
            (Path(folder) / self.META).write_text(
                json.dumps({"fit_seconds": scores["fit_seconds"], "fidelity": scores["fidelity"]})
            )
            tune.report(scores, checkpoint=tune.Checkpoint.from_directory(folder))  # copied to storage here
        self.last = time.monotonic()


def run_trial(
    config: dict[str, Any],
    *,
    data: SearchData,
    family: str,
    seed: int,
    cpus: int,
    gpus: float = 0.0,
    checkpoint_every: float | None = None,
) -> None:
    """Ray Tune function trainable: fit in stages, report validation scores after each.

    An exception of the model (bad parameter combination, divergence, NaN) is reported as the
    trial's ``error`` rather than raised, so Tune does not retry it: retries are kept for
    workers and nodes that die. With ``checkpoint_every`` (seconds), families that can save
    their training state do (on a holdout; cross-validated trials are small and start over), so
    such a retry goes on from the last checkpoint.
    """
    from ray import tune

    placement = {**_placement(), "device": pick_device(gpus)}
    model_family = create_family(family)
    hooks = checkpoint_hooks(model_family)
    on_holdout = len(data.folds) == 1
    checkpoints = (
        TrialCheckpoints(hooks, checkpoint_every) if hooks is not None and checkpoint_every is not None and on_holdout else None
    )
    resume, fit_seconds = checkpoints.restore() if checkpoints else (None, 0.0)
    fidelity: float = int(resume["epoch"]) if resume else 0
    try:
        for fidelity, scores, model in _fit_and_score(
            config, data, model_family, seed, cpus, placement["device"], resume, fit_seconds
        ):
            if checkpoints and float(fidelity).is_integer():  # a mid-epoch state would not resume exactly
                checkpoints.report(model, {**scores, **placement}, final=scores["progress"] >= 1)
            else:
                tune.report({**scores, **placement})
    except Exception as exc:  # noqa: BLE001 - any model failure is a result to record
        tune.report({"val_accuracy": math.nan, "fidelity": fidelity, "error": f"{type(exc).__name__}: {exc}"[:2000], **placement})


def _combine(per_fold: list[dict[str, float]], n_val: int) -> dict[str, float]:
    """Mean of each validation score over the folds, and the accuracy's standard error: across
    folds for cross-validation, binomial on a single holdout."""
    scores: dict[str, Any] = {key: float(np.mean([fold[key] for fold in per_fold])) for key in per_fold[0]}
    accuracies = [fold["val_accuracy"] for fold in per_fold]
    scores["val_fold_accuracies"] = [float(a) for a in accuracies]  # for paired comparisons of configurations
    if len(accuracies) > 1:
        scores["val_accuracy_se"] = float(np.std(accuracies, ddof=1) / math.sqrt(len(accuracies)))
    else:
        scores["val_accuracy_se"] = binomial_se(accuracies[0], n_val)
    return scores


def plan_progress(fidelity: float, planned: float) -> float:
    """The fraction of its plan a fit has done; a float a hair below a rung fraction (5/9 epochs of
    5 against 1/9) is that rung, so the scheduler files it where it belongs."""
    progress = float(fidelity) / planned
    for rung in PROGRESS_RUNGS:
        if rung - 1e-9 < progress < rung:
            return rung
    return progress


def _as_fidelity(value: float) -> float:
    """Whole fidelities as ints (rounds, trees, epochs); a mid-epoch report keeps its fraction."""
    return int(value) if float(value).is_integer() else float(value)


def _fit_and_score(
    config: dict[str, Any],
    data: SearchData,
    model_family: Family,
    seed: int,
    cpus: int,
    device: str,
    resume: dict[str, Any] | None = None,
    fit_seconds: float = 0.0,
) -> Iterator[tuple[float, dict[str, Any], Any]]:
    """Yield (fidelity, validation scores, model of the first fold) after each stage of the fit.

    Every fold's model advances one stage, then all are scored, so a report is the
    cross-validated score at that fidelity. ``resume`` (a checkpointed training state, holdout
    only) continues a fit where it stopped.
    """
    params = dict(config)
    hooks = checkpoint_hooks(model_family) if resume is not None else None
    if resume is not None and hooks is None:
        raise TypeError(f"{model_family.name} cannot resume a fit: it is not checkpointable")
    # Build first: it loads the family's libraries (torch, LightGBM) and their OpenMP runtimes,
    # which threadpoolctl can only limit once they are loaded.
    models = [model_family.build(params, seed=seed, n_jobs=cpus, device=device) for _ in data.folds]
    with threadpool_limits(limits=cpus), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning and friends: the score says enough
        _limit_torch_threads(cpus)
        threads = allowed_threads()  # the limits hold for the whole trial: read them once
        planned = model_family.max_fidelity(params)  # the fidelity a full fit reaches
        stages = [
            iter(
                hooks.fit_stages(model, fold.X_fit, fold.y_fit, resume=resume)
                if hooks is not None
                else model_family.fit_stages(model, fold.X_fit, fold.y_fit)
            )
            for model, fold in zip(models, data.folds, strict=True)
        ]
        stage_seconds = [0.0] * len(stages)
        spent = fit_seconds
        while True:
            reached = []
            for i, stage in enumerate(stages):
                started = time.perf_counter()
                try:
                    reached.append(next(stage))
                except StopIteration:
                    return
                elapsed = time.perf_counter() - started
                spent += elapsed
                stage_seconds[i] = elapsed if model_family.stages_refit else stage_seconds[i] + elapsed
            per_fold = [
                evaluate(model, fold.X_val, fold.y_val, prefix="val_")[0] for model, fold in zip(models, data.folds, strict=True)
            ]
            if not all(math.isfinite(s["val_accuracy"]) for s in per_fold):
                raise FloatingPointError(f"validation accuracy is not finite at {reached[0]}")
            fidelity = _as_fidelity(min(reached))
            scores = _combine(per_fold, len(data.folds[0].y_val))
            yield (
                fidelity,
                {
                    **scores,
                    "fit_seconds": spent,
                    "stage_fit_seconds": float(np.mean(stage_seconds)),
                    "fidelity": fidelity,
                    "progress": plan_progress(fidelity, planned),
                    "max_threads": threads,
                },
                models[0],
            )


def refit_and_test(
    family: str, params: dict[str, Any], seed: int, cpus: int, data: FinalData, gpus: float = 0.0
) -> dict[str, Any]:
    """Fit the chosen configuration on all training data and score it once on the test set."""
    model_family = create_family(family)
    device = pick_device(gpus)
    model = model_family.build(dict(params), seed=seed, n_jobs=cpus, device=device)  # loads libraries first
    with threadpool_limits(limits=cpus), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _limit_torch_threads(cpus)
        started = time.perf_counter()
        fidelity = model_family.fit(model, data.X_train, data.y_train)
        fit_seconds = time.perf_counter() - started
        scores, predicted = evaluate(model, data.X_test, data.y_test, prefix="test_")
        threads = allowed_threads()
    return {
        **scores,
        "refit_seconds": fit_seconds,
        "fidelity": int(fidelity),
        "max_threads": threads,
        "model_bytes": _model_bytes(model),
        # the model itself, as the bytes of a format whose loading runs no code (bench.models): the
        # driver keeps it in the run folder, which may be on another machine than this worker
        "saved_model": export_model(family, model, data.X_train.shape[1]),
        "confusion_matrix": confusion(data.y_test, predicted, len(data.class_names)),
        "per_class": per_class_report(data.y_test, predicted, data.class_names),
        "predicted": predicted.astype(np.int64),
        "device": device,
        **_placement(),
    }


def _model_bytes(model: Any) -> int:
    """Serialized size of the fitted model: what it would cost to ship or store it."""
    import io

    import joblib

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.tell()
