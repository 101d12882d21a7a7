"""Multi-layer perceptron in PyTorch: fully connected layers on the flattened pixels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.families.base import Family, register_family
from bench.families.torch_estimator import TorchClassifier, TorchFamily


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
class Mlp(TorchFamily, Family):
    name = "mlp"
    description = "PyTorch MLP (ReLU, optional batch norm and dropout; AdamW or SGD, one report per epoch)"
    max_epochs = 40
    ceilings = {"hidden_units": 8192, "layers": 8, "batch_size": 8192}

    def build(self, params: dict[str, Any], *, seed: int, n_jobs: int, device: str = "cpu") -> TorchClassifier:
        spec = MlpSpec(
            hidden_units=int(params.get("hidden_units", 512)),
            layers=int(params.get("layers", 2)),
            dropout=float(params.get("dropout", 0.0)),
            batch_norm=bool(params.get("batch_norm", False)),
        )
        return TorchClassifier(spec, **self.training(params, seed=seed, n_jobs=n_jobs, device=device))
