"""Multi-layer perceptron in PyTorch: fully connected layers on the flattened pixels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from bench.families.base import Hyperparameter, register_family
from bench.families.torch_estimator import TorchClassifier, TorchFamily, training_hyperparameters


@dataclass(frozen=True)
class MlpSpec:
    """``layers`` hidden layers of ``hidden_units``: Linear, optional BatchNorm, ReLU, Dropout."""

    hidden_units: int = 512
    layers: int = 2
    dropout: float = 0.0
    batch_norm: bool = False

    def build(self, n_features: int, n_classes: int) -> Any:
        from torch import nn

        blocks: list[Any] = []
        width = n_features
        for _ in range(self.layers):
            blocks.append(nn.Linear(width, self.hidden_units, bias=not self.batch_norm))
            if self.batch_norm:
                blocks.append(nn.BatchNorm1d(self.hidden_units))
            blocks.append(nn.ReLU())
            if self.dropout > 0:
                blocks.append(nn.Dropout(self.dropout))
            width = self.hidden_units
        blocks.append(nn.Linear(width, n_classes))
        return nn.Sequential(*blocks)


@register_family
class Mlp(TorchFamily):
    name = "mlp"
    description = "PyTorch MLP (ReLU, optional batch norm and dropout; AdamW or SGD, one report per epoch)"
    max_epochs = 40
    ceilings: ClassVar[dict[str, int]] = {"hidden_units": 8192, "layers": 8, "batch_size": 8192}
    #: No library default exists: the plain net is scikit-learn MLPClassifier()'s shape (one
    #: hidden layer of ReLU units, here 128), with neither dropout nor batch norm.
    hyperparameters: ClassVar[tuple[Hyperparameter, ...]] = (
        Hyperparameter("hidden_units", int, 128, "one hidden layer of 128 units (MLPClassifier()'s shape, 100 there)"),
        Hyperparameter("layers", int, 1, "one hidden layer, as MLPClassifier()"),
        Hyperparameter("dropout", float, 0.0, "no dropout"),
        Hyperparameter("batch_norm", bool, False, "no batch norm"),
        *training_hyperparameters(epochs=20),
    )

    def build(self, params: dict[str, Any], *, seed: int, n_jobs: int, device: str = "cpu") -> TorchClassifier:
        spec = MlpSpec(
            hidden_units=int(params.get("hidden_units", 512)),
            layers=int(params.get("layers", 2)),
            dropout=float(params.get("dropout", 0.0)),
            batch_norm=bool(params.get("batch_norm", False)),
        )
        return TorchClassifier(spec, **self.training(params, seed=seed, n_jobs=n_jobs, device=device))
