"""What the PyTorch families share: a scikit-learn-style classifier around a training loop.

``TorchClassifier`` takes a *network spec* (a small picklable object whose ``build(n_features,
n_classes)`` returns an ``nn.Module``) and the training settings the search space chooses:
epochs, batch size, optimizer, learning rate and schedule, label smoothing, random pixel shifts.
``fit_epochs`` trains with mini-batches and yields after every epoch so the scheduler can stop a
poor trial; ``predict_proba`` evaluates in ``eval()`` mode under ``no_grad``.

Torch is optional: it is imported only when a model is built or fitted, and its absence is a
:class:`~bench.errors.BenchInputError` that says how to install it.

The data goes to the device once per fit (not per batch); mixed precision (bfloat16, or float16
with loss scaling where the GPU has no bfloat16) is used on CUDA only. Seeding makes a CPU fit
repeatable; cuDNN is left in its fast, not bitwise-reproducible, mode on GPUs.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from bench.errors import BenchInputError
from bench.families.base import PROGRESS_RUNGS, Family, Hyperparameter, check_ceiling

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("onecycle", "cosine", "constant")
#: Rows per forward pass when predicting (memory, not accuracy).
PREDICT_BATCH = 2048


def require_torch() -> Any:
    """Import torch, or fail with the command that installs it."""
    try:
        import torch
    except ImportError:
        raise BenchInputError(
            "the PyTorch families (mlp, cnn) need torch: pip install torch "
            "(or pip install 'bench[torch]'); other families work without it"
        ) from None
    return torch


def image_side(n_features: int) -> int:
    """The side of the square image a row of ``n_features`` pixels holds (8 for digits, 28 for MNIST)."""
    side = math.isqrt(n_features)
    if side * side != n_features:
        raise BenchInputError(f"rows of {n_features} features are not square images; valid: a square number of pixels")
    return side


def input_shape(n_features: int, given: str | tuple[int, int, int] | None = None) -> tuple[int, int, int]:
    """(channels, height, width) of a row: ``given`` (the ``image_shape`` parameter, "3x32x24",
    which a run sets from its dataset when the images are not square and grey), else a square of
    one channel or, failing that, of three (a square number is never three times another)."""
    if given:
        shape = parse_image_shape(given) if isinstance(given, str) else tuple(int(v) for v in given)
        if len(shape) != 3 or shape[0] * shape[1] * shape[2] != n_features:
            raise BenchInputError(f"image_shape {given!r} does not hold rows of {n_features} features")
        return shape[0], shape[1], shape[2]
    side = math.isqrt(n_features)
    if side * side == n_features:
        return 1, side, side
    colour = math.isqrt(n_features // 3)
    if n_features % 3 == 0 and 3 * colour * colour == n_features:
        return 3, colour, colour
    raise BenchInputError(
        f"rows of {n_features} features are not square images of 1 or 3 channels; valid: such rows, "
        f"or the image_shape parameter (channels x height x width)"
    )


def parse_image_shape(text: str) -> tuple[int, int, int]:
    """(channels, height, width) from "CxHxW", e.g. "3x32x32"."""
    parts = text.lower().split("x")
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise BenchInputError(f"image_shape {text!r} is not channels x height x width, e.g. 3x32x32")
    return int(parts[0]), int(parts[1]), int(parts[2])


def shape_text(channels: int, height: int, width: int) -> str:
    """The ``image_shape`` parameter's value for images of this shape."""
    return f"{channels}x{height}x{width}"


class NetworkSpec(Protocol):
    """Builds the network for a given input width and class count (see mlp.py, cnn.py)."""

    def build(self, n_features: int, n_classes: int) -> Any: ...


def _choice(name: str, value: str, valid: tuple[str, ...]) -> str:
    if value not in valid:
        raise BenchInputError(f"unknown {name} {value!r}; valid: {', '.join(valid)}")
    return value


def random_shift(images: Any, shape: int | tuple[int, int, int], max_shift: int, generator: Any) -> Any:
    """Shift each flattened image (``shape``: a square's side, or channels, height, width) by up
    to ``max_shift`` pixels each way, every channel alike (independently per image, zero fill):
    the classic light augmentation for digits."""
    import torch
    import torch.nn.functional as F

    channels, height, width = (1, shape, shape) if isinstance(shape, int) else shape
    n = images.shape[0]
    padded = F.pad(images.reshape(n, channels, height, width), (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (2, n, 1), generator=generator, device=images.device)
    rows = (offsets[0] + torch.arange(height, device=images.device))[:, None, :, None]  # (n, 1, h, 1)
    cols = (offsets[1] + torch.arange(width, device=images.device))[:, None, None, :]  # (n, 1, 1, w)
    batch = torch.arange(n, device=images.device)[:, None, None, None]
    planes = torch.arange(channels, device=images.device)[None, :, None, None]
    return padded[batch, planes, rows, cols].reshape(n, channels * height * width)


class TorchClassifier(ClassifierMixin, BaseEstimator):
    """Mini-batch training of ``network`` with the optimizer and schedule given.

    >>> from bench.families.mlp import MlpSpec
    >>> model = TorchClassifier(MlpSpec(hidden_units=128, layers=1), epochs=3, seed=0)
    >>> # model.fit(X, y).predict(X), or: for epoch in model.fit_epochs(X, y): ...
    """

    #: (optimizer, schedule, gradient scaler or None, generator) while fit_epochs is paused at a yield.
    _live: tuple[Any, Any, Any, Any] | None

    def __init__(
        self,
        network: NetworkSpec,
        *,
        epochs: int = 5,
        batch_size: int = 128,
        optimizer: str = "adamw",
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        momentum: float = 0.9,
        schedule: str = "onecycle",
        label_smoothing: float = 0.0,
        shift: int = 0,
        image_shape: str = "",
        seed: int = 0,
        n_jobs: int = 1,
        device: str = "cpu",
    ) -> None:
        self.network = network
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.schedule = schedule
        self.label_smoothing = label_smoothing
        self.shift = shift
        self.image_shape = image_shape
        self.seed = seed
        self.n_jobs = n_jobs
        self.device = device

    # ------------------------------------------------------------------ pieces
    def _make_optimizer(self, parameters: Any) -> Any:
        import torch

        if _choice("optimizer", self.optimizer, OPTIMIZERS) == "sgd":
            return torch.optim.SGD(
                parameters, lr=self.lr, momentum=self.momentum, nesterov=self.momentum > 0, weight_decay=self.weight_decay
            )
        return torch.optim.AdamW(parameters, lr=self.lr, weight_decay=self.weight_decay)

    def _make_schedule(self, optimizer: Any, total_steps: int) -> Any:
        from torch.optim import lr_scheduler

        kind = _choice("schedule", self.schedule, SCHEDULES)
        if kind == "onecycle":
            return lr_scheduler.OneCycleLR(optimizer, max_lr=self.lr, total_steps=total_steps)
        if kind == "cosine":
            return lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
        return lr_scheduler.LambdaLR(optimizer, _constant)

    def _amp_dtype(self) -> Any:
        """Mixed precision on CUDA only (bfloat16 where the GPU has it); None on CPU."""
        import torch

        if not str(self.device).startswith("cuda"):
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    # ------------------------------------------------------------------ fitting
    def fit_epochs(
        self, X: np.ndarray, y: np.ndarray, resume: dict[str, Any] | None = None, report_at: tuple[float, ...] = ()
    ) -> Iterator[float]:
        """Train for ``epochs`` epochs, yielding the number of epochs done after each, and the
        (fractional) epochs done at the first step past each fraction of the plan in ``report_at``.

        ``resume`` is a :meth:`training_state` taken at an earlier yield of a fit with the same
        settings and data, at the end of an epoch: training goes on from the epoch after it, as
        if never interrupted.
        """
        torch = require_torch()
        shape = input_shape(X.shape[1], self.image_shape) if int(self.shift) > 0 else (0, 0, 0)
        torch.set_num_threads(max(1, int(self.n_jobs)))
        torch.manual_seed(self.seed)  # weight init and dropout masks
        self.classes_, codes = np.unique(y, return_inverse=True)
        device = torch.device(self.device)
        self.network_ = self.network.build(X.shape[1], len(self.classes_)).to(device)
        inputs = torch.as_tensor(np.asarray(X, dtype=np.float32), device=device)  # once per fit
        targets = torch.as_tensor(codes, dtype=torch.long, device=device)
        generator = torch.Generator(device=device).manual_seed(self.seed)  # order and shifts
        n, batch = len(targets), int(self.batch_size)
        starts = [s for s in range(0, n, batch) if min(batch, n - s) > 1]  # batch norm needs 2 rows
        optimizer = self._make_optimizer(self.network_.parameters())
        schedule = self._make_schedule(optimizer, max(1, len(starts) * int(self.epochs)))
        amp = self._amp_dtype()
        scaler = torch.amp.GradScaler("cuda") if amp == torch.float16 else None  # bfloat16 needs no scaling
        loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=float(self.label_smoothing))
        first = 1
        if resume is not None:
            self.network_.load_state_dict(resume["network"])
            optimizer.load_state_dict(resume["optimizer"])
            schedule.load_state_dict(resume["schedule"])
            generator.set_state(resume["generator"])
            torch.set_rng_state(resume["torch_rng"])  # dropout masks
            if scaler is not None and "scaler" in resume:
                scaler.load_state_dict(resume["scaler"])
            first = int(resume["epoch"]) + 1
        self._live = (optimizer, schedule, scaler, generator)  # what training_state() saves
        per_epoch = len(starts)
        mid_epoch = mid_epoch_steps(per_epoch, int(self.epochs), report_at)
        step = (first - 1) * per_epoch
        try:
            for epoch in range(first, int(self.epochs) + 1):
                self.network_.train()
                order = torch.randperm(n, generator=generator, device=device)
                for start in starts:
                    rows = order[start : start + batch]
                    xb = inputs[rows]
                    if int(self.shift) > 0:
                        xb = random_shift(xb, shape, int(self.shift), generator)
                    with _autocast(amp):
                        loss = loss_fn(self.network_(xb), targets[rows])
                    optimizer.zero_grad(set_to_none=True)
                    if scaler is None:
                        loss.backward()
                        optimizer.step()
                    else:
                        scaler.scale(loss).backward()
                        scaler.step(optimizer)
                        scaler.update()
                    schedule.step()
                    step += 1
                    if step in mid_epoch:
                        yield step / per_epoch
                        self.network_.train()  # scoring switched it to eval mode
                self.epoch_ = epoch
                yield epoch
        finally:
            self._live = None

    def training_state(self) -> dict[str, Any]:
        """Everything needed to go on training from the last epoch :meth:`fit_epochs` yielded:
        tensors, numbers and strings only, so ``torch.load(weights_only=True)`` reads it back."""
        import torch

        live = getattr(self, "_live", None)
        if live is None:
            raise RuntimeError("training_state() is only available while fit_epochs() is paused at an epoch")
        optimizer, schedule, scaler, generator = live
        state = {
            "epoch": self.epoch_,
            "network": self.network_.state_dict(),
            "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(),
            "generator": generator.get_state(),
            "torch_rng": torch.get_rng_state(),
        }
        if scaler is not None:
            state["scaler"] = scaler.state_dict()
        return state

    def fit(self, X: np.ndarray, y: np.ndarray) -> TorchClassifier:
        for _ in self.fit_epochs(X, y):
            pass
        return self

    # ------------------------------------------------------------------ predicting
    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "network_")
        torch = require_torch()
        torch.set_num_threads(max(1, int(self.n_jobs)))
        device = next(self.network_.parameters()).device
        inputs = torch.as_tensor(np.asarray(X, dtype=np.float32), device=device)
        self.network_.eval()
        with torch.no_grad(), _autocast(self._amp_dtype()):
            parts = [
                torch.softmax(self.network_(inputs[i : i + PREDICT_BATCH]).float(), dim=1)
                for i in range(0, len(inputs), PREDICT_BATCH)
            ]
        proba = torch.cat(parts).cpu().numpy().astype(np.float64)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def mid_epoch_steps(per_epoch: int, epochs: int, fractions: tuple[float, ...]) -> set[int]:
    """Optimizer steps after which a fit reports besides its epoch ends: the first step at or past
    each fraction of the plan's ``per_epoch * epochs`` steps."""
    ends = {per_epoch * e for e in range(epochs + 1)}
    return {math.ceil(f * per_epoch * epochs - 1e-9) for f in fractions} - ends


def _autocast(dtype: Any) -> Any:
    """``torch.autocast`` on CUDA with ``dtype``, or a no-op context when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    import torch

    return torch.autocast("cuda", dtype=dtype)


def _constant(step: int) -> float:
    """LambdaLR factor for a constant learning rate (a module function, so it pickles)."""
    return 1.0


def training_hyperparameters(*, epochs: int) -> tuple[Hyperparameter, ...]:
    """What :meth:`TorchFamily.training` reads, shared by the torch families. Torch has no default
    model, so each default is the plainest setting (the spaces' default point): AdamW at torch's
    lr 1e-3, a constant rate, no smoothing or shifts; ``epochs`` is the family's own."""
    return (
        Hyperparameter("epochs", int, epochs, "the family's plain training length (one report per epoch)"),
        Hyperparameter("batch_size", int, 64, "batches of 64 (the plain net's)"),
        Hyperparameter("optimizer", str, "adamw", "torch.optim.AdamW"),
        Hyperparameter("adamw_lr", float, 1e-3, "AdamW(lr=1e-3), torch's default"),
        Hyperparameter("sgd_lr", float, 1e-3, "SGD(lr=1e-3), torch's default"),
        Hyperparameter("lr", float, 1e-3, "the rate of an optimizer whose own (adamw_lr, sgd_lr) is unset"),
        Hyperparameter("momentum", float, 0.9, "SGD(momentum=0.9, nesterov=True) (SGD's own is 0)"),
        Hyperparameter("weight_decay", float, 1e-4, "weight decay 1e-4 (AdamW's own is 1e-2)"),
        Hyperparameter("schedule", str, "constant", "a constant learning rate"),
        Hyperparameter("label_smoothing", float, 0.0, "CrossEntropyLoss(label_smoothing=0.0)"),
        Hyperparameter("shift", int, 0, "no random pixel shifts"),
        Hyperparameter(
            "image_shape",
            str,
            "",
            "square grey (or colour) images, the side read from the row width; a run sets it from its dataset",
        ),
    )


class TorchFamily(Family):
    """Base of the PyTorch families: fidelity in epochs, one report per epoch, GPU-capable,
    checkpointable (the hooks of :class:`~bench.families.base.Checkpointable`)."""

    fidelity_unit = "epochs"
    uses_gpu = True
    checkpointable = True  # trials save their training state; a retried trial goes on from it
    schedule_bound = True  # one-cycle and cosine schedules span the planned epochs
    libraries = ("torch",)
    #: Most epochs a configuration may ask for: the early-stopping horizon.
    max_epochs: ClassVar[int] = 30

    def max_steps(self) -> int:
        return self.max_epochs

    def max_fidelity(self, params: dict[str, Any]) -> int:
        return check_ceiling(self.name, "epochs", int(params.get("epochs", 5)), self.max_epochs)

    def fit_stages(
        self, model: TorchClassifier, X: np.ndarray, y: np.ndarray, resume: dict[str, Any] | None = None
    ) -> Iterator[float]:
        yield from model.fit_epochs(X, y, resume=resume, report_at=PROGRESS_RUNGS)

    def save_state(self, model: TorchClassifier, path: Path) -> None:
        """Write the training state at the current epoch (a trial checkpoint)."""
        import torch

        torch.save(model.training_state(), path)

    def load_state(self, path: Path) -> dict[str, Any]:
        """Read a state written by :meth:`save_state`; tensors and plain values only, no code."""
        import torch

        return torch.load(path, map_location="cpu", weights_only=True)

    def training(self, params: dict[str, Any], *, seed: int, n_jobs: int, device: str) -> dict[str, Any]:
        """The ``TorchClassifier`` settings shared by every torch space (optimizer, schedule...)."""
        require_torch()  # fail at build time, before any data moves
        optimizer = _choice("optimizer", params.get("optimizer", "adamw"), OPTIMIZERS)
        return {
            "epochs": self.max_fidelity(params),
            "batch_size": int(params.get("batch_size", 128)),
            "optimizer": optimizer,
            "lr": float(params.get(f"{optimizer}_lr", params.get("lr", 1e-3))),
            "weight_decay": float(params.get("weight_decay", 1e-4)),
            "momentum": float(params.get("momentum", 0.9)),
            "schedule": _choice("schedule", params.get("schedule", "onecycle"), SCHEDULES),
            "label_smoothing": float(params.get("label_smoothing", 0.0)),
            "shift": int(params.get("shift", 0)),
            "image_shape": str(params.get("image_shape") or ""),
            "seed": seed,
            "n_jobs": n_jobs,
            "device": device,
        }
