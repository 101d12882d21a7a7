"""The PyTorch families (mlp, cnn): training loop, evaluation mode, seeding, threads, optional torch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from bench.datasets import get_dataset
from bench.errors import BenchInputError
from bench.families import create_family
from conftest import REPO

torch = pytest.importorskip("torch")

from bench.families.torch_estimator import image_side, random_shift  # noqa: E402

SMALL = {
    "mlp": {"hidden_units": 64, "layers": 2, "dropout": 0.3, "batch_norm": True, "epochs": 8, "batch_size": 32,
            "optimizer": "adamw", "adamw_lr": 3e-3, "shift": 1},
    "cnn": {"width": 8, "blocks": 2, "convs": 1, "batch_norm": True, "dropout": 0.3, "epochs": 6, "batch_size": 32,
            "optimizer": "sgd", "sgd_lr": 0.05, "momentum": 0.9, "shift": 1},
}


@pytest.fixture(scope="module")
def digits():
    data = get_dataset("digits").load()
    return data.X_train[:400], data.y_train[:400], data.X_test[:200], data.y_test[:200]


def _fit(family: str, params: dict, X, y, seed: int = 0):
    model_family = create_family(family)
    model = model_family.build(params, seed=seed, n_jobs=1)
    stages = list(model_family.fit_stages(model, X, y))
    return model, stages


@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_one_report_per_epoch_and_learning(family: str, digits) -> None:
    X, y, X_val, y_val = digits
    model, stages = _fit(family, SMALL[family], X, y)
    # every epoch, plus the reports at 1/27, 1/9 and 1/3 of the plan that fall inside an epoch
    assert [s for s in stages if float(s).is_integer()] == list(range(1, SMALL[family]["epochs"] + 1))
    assert all(a < b for a, b in zip(stages, stages[1:]))
    assert create_family(family).max_fidelity(SMALL[family]) == stages[-1]
    assert (model.predict(X_val) == y_val).mean() > 0.6


@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_seeded_fits_repeat_and_seeds_differ(family: str, digits) -> None:
    X, y, X_val, _ = digits
    first, _ = _fit(family, SMALL[family], X, y, seed=3)
    again, _ = _fit(family, SMALL[family], X, y, seed=3)
    other, _ = _fit(family, SMALL[family], X, y, seed=4)
    assert np.array_equal(first.predict_proba(X_val), again.predict_proba(X_val))
    assert not np.allclose(first.predict_proba(X_val), other.predict_proba(X_val))


def test_prediction_is_in_eval_mode_without_gradients(digits) -> None:
    X, y, X_val, _ = digits
    model, _ = _fit("mlp", SMALL["mlp"], X, y)
    # dropout and batch norm: in training mode two passes would differ; in eval mode they agree
    proba = model.predict_proba(X_val)
    assert np.array_equal(proba, model.predict_proba(X_val))
    assert not model.network_.training
    assert np.allclose(proba.sum(axis=1), 1.0) and proba.dtype == np.float64
    assert list(model.classes_) == list(range(10))


def test_fit_keeps_to_its_threads(digits) -> None:
    X, y, _, _ = digits
    torch.set_num_threads(2)
    model_family = create_family("mlp")
    model = model_family.build(SMALL["mlp"], seed=0, n_jobs=1)
    for _ in model_family.fit_stages(model, X, y):
        assert torch.get_num_threads() == 1


def test_random_shift_moves_whole_images_by_at_most_the_shift() -> None:
    side, shift = 8, 2
    images = torch.zeros(500, side, side)
    images[:, 3, 4] = 1.0  # one lit pixel, far enough from the border to survive any shift
    out = random_shift(images.reshape(500, -1), side, shift, torch.Generator().manual_seed(0)).reshape(500, side, side)
    lit = out.nonzero()
    assert len(lit) == 500 and out.sum() == 500  # each image keeps exactly its one pixel
    dy, dx = lit[:, 1] - 3, lit[:, 2] - 4
    assert dy.abs().max() == shift and dx.abs().max() == shift  # every offset up to the shift is used
    assert len({(a, b) for a, b in zip(dy.tolist(), dx.tolist())}) == (2 * shift + 1) ** 2


def test_cnn_halves_the_image_only_while_it_can() -> None:
    from bench.families.cnn import CnnSpec

    for features, blocks in ((64, 3), (784, 3), (784, 2)):
        net = CnnSpec(width=4, blocks=blocks).build(features, 10)
        assert net(torch.zeros(2, features)).shape == (2, 10)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"epochs": 500}, "epochs=500 is out of range; valid: 1 to"),
        ({"epochs": 3, "optimizer": "adam"}, "unknown optimizer 'adam'; valid: adamw, sgd"),
        ({"epochs": 3, "schedule": "step"}, "unknown schedule 'step'; valid: onecycle, cosine, constant"),
    ],
)
def test_bad_training_settings_name_the_valid_ones(params: dict, message: str) -> None:
    with pytest.raises(BenchInputError, match=message):
        create_family("mlp").build(params, seed=0, n_jobs=1)


def test_shift_needs_square_images() -> None:
    with pytest.raises(BenchInputError, match="rows of 50 features are not square"):
        image_side(50)


def test_families_import_without_torch_and_fail_clearly_when_used() -> None:
    """With torch unimportable, the registry still loads; building mlp or cnn says how to install it."""
    code = (
        "import sys\n"
        "class NoTorch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ModuleNotFoundError(\"No module named 'torch'\")\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "from bench.errors import BenchInputError\n"
        "from bench.families import create_family, list_families\n"
        "assert {'mlp', 'cnn', 'svm'} <= set(list_families())\n"
        "create_family('svm').build({'kernel': 'rbf', 'C': 1.0}, seed=0, n_jobs=1)\n"
        "for name in ('mlp', 'cnn'):\n"
        "    try:\n"
        "        create_family(name).build({'epochs': 2}, seed=0, n_jobs=1)\n"
        "    except BenchInputError as exc:\n"
        "        print(name, exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all("pip install torch" in line for line in lines), lines


def test_import_does_not_load_torch_or_lightgbm() -> None:
    code = "import sys, bench.families; print(sorted(m for m in ('torch', 'lightgbm') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_training_resumes_from_a_saved_state_as_if_never_stopped(family: str, digits, tmp_path) -> None:
    """A retried trial goes on from its checkpoint: same weights as an uninterrupted fit."""
    X, y, X_val, _ = digits
    model_family = create_family(family)
    params = {**SMALL[family], "epochs": 4, "dropout": 0.3, "schedule": "onecycle"}
    whole, _ = _fit(family, params, X, y, seed=1)

    first = model_family.build(params, seed=1, n_jobs=1)
    stages = (s for s in model_family.fit_stages(first, X, y) if float(s).is_integer())  # checkpoints: epoch ends
    assert [next(stages), next(stages)] == [1, 2]
    model_family.save_state(first, tmp_path / "state.pt")
    stages.close()  # the worker dies here
    with pytest.raises(RuntimeError, match="only available while"):
        first.training_state()

    state = model_family.load_state(tmp_path / "state.pt")
    assert state["epoch"] == 2
    resumed = model_family.build(params, seed=1, n_jobs=1)
    assert [s for s in model_family.fit_stages(resumed, X, y, resume=state) if float(s).is_integer()] == [3, 4]
    assert np.array_equal(resumed.predict_proba(X_val), whole.predict_proba(X_val))
