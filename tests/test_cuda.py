"""The PyTorch families on a CUDA GPU: placement, mixed precision, learning, and a Ray Tune run
that shares the GPU between trials. Everything here is skipped without torch or a CUDA device."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import bench
from bench.datasets import get_dataset
from bench.families import create_family, list_families
from bench.families.mlp import MlpSpec
from bench.families.torch_estimator import TorchClassifier
from bench.trial import pick_device
from conftest import run_cli

torch = pytest.importorskip("torch", reason="the CUDA checks need torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible to torch")

GPU_FAMILIES = [name for name in list_families() if create_family(name).uses_gpu]
#: Small, quick configurations; a GPU family not listed trains with its defaults for 8 epochs.
PARAMS: dict[str, dict[str, Any]] = {
    "mlp": {"hidden_units": 128, "layers": 2, "dropout": 0.1, "batch_norm": True, "epochs": 8, "batch_size": 64,
            "optimizer": "adamw", "adamw_lr": 3e-3},
    "cnn": {"width": 16, "blocks": 2, "convs": 1, "batch_norm": True, "dropout": 0.2, "epochs": 8, "batch_size": 64,
            "optimizer": "adamw", "adamw_lr": 3e-3, "shift": 1},
}

Digits = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@pytest.fixture(scope="module")
def digits() -> Digits:
    """1,000 training and all 360 test images of the 8x8 digits."""
    data = get_dataset("digits").load()
    return data.X_train[:1000], data.y_train[:1000], data.X_test, data.y_test


@dataclass
class RecordingSpec:
    """Wraps a network spec and records the dtypes of the network's outputs."""

    inner: Any
    dtypes: set[Any] = field(default_factory=set)

    def build(self, n_features: int, n_classes: int) -> Any:
        network = self.inner.build(n_features, n_classes)
        network.register_forward_hook(lambda module, inputs, output: self.dtypes.add(output.dtype))
        return network


def test_registry_has_gpu_families() -> None:
    """The torch families say they can use a GPU, so the runner gives them a share."""
    assert {"mlp", "cnn"} <= set(GPU_FAMILIES)


@pytest.mark.parametrize("family", GPU_FAMILIES)
def test_family_trains_and_predicts_on_the_gpu(family: str, digits: Digits) -> None:
    """Fit in stages on CUDA: weights stay on the GPU, probabilities are sound, it learns."""
    X, y, X_test, y_test = digits
    params = PARAMS.get(family, {"epochs": 8})
    model_family = create_family(family)
    model = model_family.build(params, seed=0, n_jobs=2, device="cuda")
    stages = list(model_family.fit_stages(model, X, y))
    assert stages == list(range(1, model_family.max_fidelity(params) + 1))
    assert all(p.device.type == "cuda" for p in model.network_.parameters())
    proba = model.predict_proba(X_test)
    assert proba.shape == (len(X_test), 10) and proba.dtype == np.float64
    assert np.isfinite(proba).all() and (proba >= 0).all()
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert (model.predict(X_test) == y_test).mean() > 0.85  # chance is 0.1


def test_mixed_precision_on_cuda_only(digits: Digits) -> None:
    """CUDA fits run under autocast (bfloat16 from Ampere on, e.g. H100/H200); CPU fits in float32."""
    X, y, X_test, _ = digits
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if torch.cuda.get_device_capability() >= (8, 0):
        assert expected == torch.bfloat16
    settings = {"epochs": 2, "batch_size": 128, "seed": 0}
    gpu = TorchClassifier(RecordingSpec(MlpSpec(hidden_units=32, layers=1)), device="cuda", **settings)
    cpu = TorchClassifier(RecordingSpec(MlpSpec(hidden_units=32, layers=1)), device="cpu", **settings)
    assert gpu._amp_dtype() == expected and cpu._amp_dtype() is None
    gpu.fit(X, y).predict_proba(X_test)
    cpu.fit(X, y).predict_proba(X_test)
    assert gpu.network.dtypes == {expected}
    assert cpu.network.dtypes == {torch.float32}


def test_pick_device_uses_the_gpu_when_granted_a_share() -> None:
    """A trial granted part of a GPU trains on "cuda"; one granted none stays on the CPU."""
    assert pick_device(0.5) == "cuda"
    assert pick_device(0.0) == "cpu"


@pytest.mark.slow
def test_cnn_search_shares_the_gpu(tmp_path: Path) -> None:
    """Four CNN trials, two at a time on half a GPU each; the refit and the manifest show the GPU."""
    result = run_cli("run", "--family", "cnn", "--trials", "4", "--gpus-per-trial", "0.5", "--max-concurrent", "2",
                     "--results-dir", str(tmp_path), "--no-progress")
    assert result.returncode == 0, result.stderr
    (run_dir,) = [p for p in tmp_path.iterdir() if (p / "manifest.json").is_file()]
    results = bench.load(run_dir)
    trials = results.trials
    assert len(trials) == 4 and not (trials["status"] == "failed").any(), trials[["status", "error"]]
    assert (trials["device"] == "cuda").all() and (trials["gpus"] == 0.5).all()
    final = results.final.iloc[0]
    assert final["status"] == "completed" and final["device"] == "cuda"
    assert final["test_accuracy"] > 0.8
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["cluster"]["resources"].get("GPU", 0) >= 1
    assert manifest["options"]["gpus_per_trial"] == 0.5 and manifest["versions"]["torch"]
