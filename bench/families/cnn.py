"""Convolutional network in PyTorch: conv blocks (conv, batch norm, ReLU, max-pool), then a linear head."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from bench.families.base import Hyperparameter, register_family
from bench.families.torch_estimator import TorchClassifier, TorchFamily, input_shape, training_hyperparameters


@dataclass(frozen=True)
class CnnSpec:
    """``blocks`` blocks of ``convs`` 3x3 convolutions; the width doubles and the image halves
    after each block (while it is at least 2 pixels), so 28x28 goes 14, 7, 3 and 8x8 goes 4, 2, 1.
    The input's channels and size come from the data (``image_shape``), the classes from the labels.
    """

    width: int = 32
    blocks: int = 3
    convs: int = 1
    batch_norm: bool = True
    dropout: float = 0.25
    #: "CxHxW"; empty: square images of 1 or 3 channels, read from the row width.
    image_shape: str = ""

    def build(self, n_features: int, n_classes: int) -> Any:
        from torch import nn

        channels, height, width = input_shape(n_features, self.image_shape)
        layers: list[Any] = [nn.Unflatten(1, (channels, height, width))]
        for block in range(self.blocks):
            out = self.width * 2**block
            for _ in range(self.convs):
                layers.append(nn.Conv2d(channels, out, kernel_size=3, padding=1, bias=not self.batch_norm))
                if self.batch_norm:
                    layers.append(nn.BatchNorm2d(out))
                layers.append(nn.ReLU())
                channels = out
            if min(height, width) >= 2:
                layers.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
        layers.append(nn.Flatten())
        if self.dropout > 0:
            layers.append(nn.Dropout(self.dropout))
        layers.append(nn.Linear(channels * height * width, n_classes))
        return nn.Sequential(*layers)


@register_family
class Cnn(TorchFamily):
    name = "cnn"
    description = "PyTorch CNN (3x3 conv blocks with batch norm, max-pool, dropout; optional pixel shifts)"
    max_epochs = 20
    ceilings: ClassVar[dict[str, int]] = {"width": 512, "blocks": 5, "convs": 4, "batch_size": 8192}
    #: No library default exists: the plain net is two blocks of one 3x3 convolution (32, then 64
    #: channels) with ReLU and max-pool, and a linear head.
    hyperparameters: ClassVar[tuple[Hyperparameter, ...]] = (
        Hyperparameter("width", int, 32, "32 channels in the first block, doubling per block"),
        Hyperparameter("blocks", int, 2, "two conv blocks"),
        Hyperparameter("convs", int, 1, "one convolution per block"),
        Hyperparameter("batch_norm", bool, False, "no batch norm"),
        Hyperparameter("dropout", float, 0.0, "no dropout"),
        *training_hyperparameters(epochs=5),
    )

    def build(self, params: dict[str, Any], *, seed: int, n_jobs: int, device: str = "cpu") -> TorchClassifier:
        spec = CnnSpec(
            width=int(params.get("width", 32)),
            blocks=int(params.get("blocks", 3)),
            convs=int(params.get("convs", 1)),
            batch_norm=bool(params.get("batch_norm", True)),
            dropout=float(params.get("dropout", 0.25)),
            image_shape=str(params.get("image_shape") or ""),
        )
        return TorchClassifier(spec, **self.training(params, seed=seed, n_jobs=n_jobs, device=device))
