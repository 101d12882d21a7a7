"""Saved refit models (issue 21, item 1): every family's refit is kept in a format whose loading
runs no code, with a card, and ``bench.load_model`` gives back exactly the refit's test labels.
A corrupt file and a crafted one with an untrusted type are refused (exit 2, no traceback); a
model saved under another major version of its library loads with a warning."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import REPO, run_cli

import bench
from bench.errors import BenchInputError
from bench.families import list_families
from bench.models import SavedModelWarning
from bench.models.formats import FORMATS, TRUSTED

#: Small configurations, each family's preprocessing and estimator variants among them, so the
#: whole registry refits in seconds. A family missing here refits with its declared defaults.
QUICK: dict[str, dict[str, Any]] = {
    "logreg": {"deskew": True, "scaler": "standard", "pca_variance": 0.9, "C": 0.5},
    "svm": {"kernel": "rbf", "C": 3.0, "gamma_factor": 1.5, "scaler": "minmax"},
    "knn": {"n_neighbors": 3, "weights": "distance", "deskew": True},
    "tree": {"max_depth": 8, "limit_depth": True},
    "forest": {"kind": "extra_trees", "n_estimators": 30, "max_features_factor": 1.5},
    "lightgbm": {"n_rounds": 20, "num_leaves": 8, "deskew": True},
    "mlp": {"hidden_units": 32, "layers": 1, "epochs": 4, "batch_size": 32, "batch_norm": True, "dropout": 0.1},
    "cnn": {"width": 8, "blocks": 2, "epochs": 4, "batch_size": 32, "batch_norm": True},
}


def make_saved_run(results_dir: Path, families: list[str], params: dict[str, dict[str, Any]] | None = None) -> Any:
    """A digits run folder with saved models, made in this process the way ``Run._refit`` makes
    them (refit, predictions, model, manifest) without starting Ray."""
    from unittest import mock

    from bench.runner import Method, Run, RunOptions
    from bench.trial import refit_and_test

    run = Run(RunOptions(families=families, results_dir=results_dir, progress=False))
    for family in families:
        config = (params or QUICK).get(family, {})
        with mock.patch("bench.trial._placement", dict):  # where a Ray task would run: no Ray here
            out = refit_and_test(family, config, 0, 1, run.final_data)
        method = Method("tpe", "none")
        run._write_predictions(family, 0, method, out["predicted"], out["predicted"])
        run._save_model(family, 0, method, config, out)
        run.outs = {**getattr(run, "outs", {}), family: out}
    run.write()
    return run


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_saved_run(tmp_path_factory.mktemp("saved"), list_families())


@pytest.mark.parametrize("family", list_families())
def test_every_family_s_saved_model_gives_the_refit_s_labels(saved_run: Any, family: str) -> None:
    """Walks the registry: a new family is checked without anyone remembering to."""
    model = bench.load_model(saved_run.run_dir, family)
    X_test, predicted = saved_run.final_data.X_test, saved_run.outs[family]["predicted"]
    assert len(np.unique(predicted)) == 10  # a model that answers, so equal labels say something
    assert np.array_equal(model.predict(X_test), predicted)
    proba = model.predict_proba(X_test)
    assert proba.shape == (len(X_test), 10) and np.allclose(proba.sum(axis=1), 1.0) and (proba >= 0).all()


@pytest.mark.parametrize("family", list_families())
def test_every_family_s_card_describes_its_model(saved_run: Any, family: str) -> None:
    run_dir = saved_run.run_dir
    manifest = json.loads((run_dir / "manifest.json").read_text())
    entry = manifest["models"][f"{family}-seed0"]
    card = json.loads((run_dir / entry["card"]).read_text())
    model_file = run_dir / entry["file"]
    assert hashlib.sha256(model_file.read_bytes()).hexdigest() == entry["sha256"] == card["model"]["sha256"]
    assert model_file.name.endswith(FORMATS[card["model"]["format"]][0])
    assert card["family"] == family and card["run_id"] == saved_run.run_id and card["params"] == QUICK[family]
    assert card["class_names"] == [str(i) for i in range(10)] and card["input"]["shape"] == [1, 8, 8]
    assert card["input"]["preparation"] == "digits" and card["input"]["background"] == "dark"
    assert card["test_accuracy"] == saved_run.outs[family]["test_accuracy"]
    assert card["git_revision"] == manifest["git_revision"]
    library = FORMATS[card["model"]["format"]][1]
    assert card["versions"][library] and card["versions"]["python"]
    deskewed = bool(QUICK[family].get("deskew"))
    assert ("deskew" in card["preprocessing"]["steps"]) == deskewed
    if family in ("mlp", "cnn"):
        assert card["network"]["n_features"] == 64 and card["network"]["fields"]


def test_three_formats_and_no_pickles(saved_run: Any) -> None:
    files = sorted(p.name for p in (saved_run.run_dir / "models").iterdir())
    formats = {
        json.loads((saved_run.run_dir / "models" / f).read_text())["model"]["format"] for f in files if f.endswith(".json")
    }
    assert formats == set(FORMATS)
    for name in files:
        head = (saved_run.run_dir / "models" / name).read_bytes()[:2]
        assert head not in (b"\x80\x04", b"\x80\x05", b"\x80\x02"), f"{name} is a pickle"


def test_an_svm_without_platt_scaling_gives_scores_and_keeps_its_labels(saved_run: Any) -> None:
    model = bench.load_model(saved_run.run_dir, "svm")
    assert model.probabilities is False and "softmax" in model.card["scores"]
    X = saved_run.final_data.X_test
    scores = model.predict_proba(X)
    assert np.array_equal(model.predict(X), model.estimator.predict(X))  # predict is the SVM's own
    assert np.mean(model.classes_[scores.argmax(axis=1)] == model.predict(X)) > 0.95  # the scores rank its label first


def _rewrite_model(run_dir: Path, family: str, payload: bytes) -> None:
    """Replace a saved model and record its new checksum in its card and the manifest, as a
    crafter would: only the trusted-type check stands between such a file and its loading."""
    manifest_path = run_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    entry = manifest["models"][f"{family}-seed0"]
    (run_dir / entry["file"]).write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    card_path = run_dir / entry["card"]
    card = json.loads(card_path.read_text())
    card["model"]["sha256"] = entry["sha256"] = digest
    card_path.write_text(json.dumps(card))
    manifest_path.write_text(json.dumps(manifest))


@pytest.fixture
def small_run(tmp_path: Path) -> Any:
    return make_saved_run(tmp_path, ["svm", "knn"])


def test_a_corrupt_model_is_refused(small_run: Any) -> None:
    path = small_run.run_dir / "models" / "svm-seed0.skops"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BenchInputError, match="corrupt: its SHA-256"):
        bench.load_model(small_run.run_dir, "svm")
    bench.load_model(small_run.run_dir, "knn")  # the others still load


def test_a_crafted_model_with_an_untrusted_type_is_refused_before_it_is_built(small_run: Any, tmp_path: Path) -> None:
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    marker = tmp_path / "ran"
    crafted = sio.dumps(FunctionTransformer(func=os.system, kw_args={"command": f"touch {marker}"}))
    assert "posix.system" in sio.get_untrusted_types(data=crafted) or "nt.system" in sio.get_untrusted_types(data=crafted)
    _rewrite_model(small_run.run_dir, "svm", crafted)
    with pytest.raises(BenchInputError, match=r"unsafe: it holds types bench does not trust \((posix|nt)\.system\)"):
        bench.load_model(small_run.run_dir, "svm")
    assert not marker.exists()


def test_the_trusted_list_is_explicit_and_names_bench_s_and_scikit_learn_s_own_types() -> None:
    import importlib

    assert isinstance(TRUSTED, tuple) and TRUSTED and True not in TRUSTED
    for name in TRUSTED:
        module, _, attribute = name.rpartition(".")
        assert module.startswith(("bench.", "sklearn.")) and hasattr(importlib.import_module(module), attribute), name


def test_a_plug_in_family_extends_the_trusted_list_in_its_code(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.families.knn import Knn
    from bench.models.formats import trusted

    assert trusted("knn") == TRUSTED
    monkeypatch.setattr(Knn, "trusted_types", ("my_plugin.MyEstimator",), raising=False)
    assert trusted("knn") == (*TRUSTED, "my_plugin.MyEstimator") and trusted("svm") == TRUSTED


def test_a_network_description_beyond_the_family_s_ceilings_is_refused(tmp_path: Path) -> None:
    """A crafted safetensors header could ask for a network that fills the memory: refused first."""
    from safetensors.torch import load, save

    from bench.models.formats import NETWORK_KEY

    run = make_saved_run(tmp_path, ["mlp"])
    path = run.run_dir / "models" / "mlp-seed0.safetensors"
    card = json.loads((run.run_dir / "models" / "mlp-seed0.json").read_text())
    network = {**card["network"], "fields": {**card["network"]["fields"], "hidden_units": 10**7}}
    _rewrite_model(run.run_dir, "mlp", save(load(path.read_bytes()), metadata={NETWORK_KEY: json.dumps(network)}))
    with pytest.raises(BenchInputError, match="hidden_units=10000000 is above its ceiling 8192"):
        bench.load_model(run.run_dir, "mlp")


def test_another_major_version_of_the_library_gives_a_warning(small_run: Any) -> None:
    card_path = small_run.run_dir / "models" / "knn-seed0.json"
    card = json.loads(card_path.read_text())
    card["versions"]["scikit-learn"] = "0.24.2"
    card_path.write_text(json.dumps(card))
    with pytest.warns(SavedModelWarning, match=r"saved with scikit-learn 0\.24\.2"):
        model = bench.load_model(small_run.run_dir, "knn")
    assert np.array_equal(model.predict(small_run.final_data.X_test), small_run.outs["knn"]["predicted"])


def test_a_missing_model_names_the_saved_ones(small_run: Any) -> None:
    with pytest.raises(BenchInputError, match="no saved model for tree seed 0; saved: knn seed 0, svm seed 0"):
        bench.load_model(small_run.run_dir, "tree")
    with pytest.raises(BenchInputError, match="no saved model for svm seed 3"):
        bench.load_model(small_run.run_dir, "svm", seed=3)


def test_a_model_entry_pointing_outside_the_models_folder_is_refused(small_run: Any) -> None:
    manifest_path = small_run.run_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["models"]["svm-seed0"]["file"] = "models/../../../etc/passwd"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(BenchInputError, match="not one bench writes"):
        bench.load_model(small_run.run_dir, "svm")


@pytest.mark.parametrize("damage", ["corrupt", "untrusted"])
def test_bench_predict_refuses_a_bad_model_with_exit_2_and_no_traceback(small_run: Any, tmp_path: Path, damage: str) -> None:
    from PIL import Image

    if damage == "corrupt":
        path = small_run.run_dir / "models" / "svm-seed0.skops"
        path.write_bytes(path.read_bytes()[:-10])
    else:
        import skops.io as sio
        from sklearn.preprocessing import FunctionTransformer

        _rewrite_model(small_run.run_dir, "svm", sio.dumps(FunctionTransformer(func=os.system)))
    image = tmp_path / "digit.png"
    Image.fromarray((small_run.final_data.X_test[0].reshape(8, 8) * 255).astype(np.uint8)).save(image)
    result = run_cli("predict", str(small_run.run_dir), str(image), "--family", "svm")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert ("corrupt" if damage == "corrupt" else "unsafe") in result.stderr


def test_the_cli_still_imports_no_model_library_for_help() -> None:
    code = (
        "import sys\nfrom bench.cli import main\ntry:\n    main(['predict', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'skops', 'safetensors', 'torch', 'lightgbm', 'PIL', 'sklearn'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_a_run_comparing_methods_keeps_one_model_per_method(tmp_path: Path) -> None:
    from unittest import mock

    from bench.runner import Method, Run, RunOptions
    from bench.trial import refit_and_test

    run = Run(RunOptions(families=["knn"], sampler="tpe,random", scheduler="asha,none", results_dir=tmp_path, progress=False))
    with mock.patch("bench.trial._placement", dict):
        outs = {k: refit_and_test("knn", {"n_neighbors": k}, 0, 1, run.final_data) for k in (1, 7)}
    run._save_model("knn", 0, Method("tpe", "asha"), {"n_neighbors": 1}, outs[1])
    run._save_model("knn", 0, Method("random", "asha"), {"n_neighbors": 7}, outs[7])
    run._save_model("knn", 0, Method("random", "none"), {"n_neighbors": 7}, outs[7])
    run.write()
    assert sorted(json.loads((run.run_dir / "manifest.json").read_text())["models"]) == [
        "knn-random-asha-seed0",
        "knn-random-none-seed0",
        "knn-tpe-asha-seed0",
    ]
    with pytest.raises(BenchInputError, match="several knn models for seed 0; name one of: random/asha, random/none, tpe/asha"):
        bench.load_model(run.run_dir, "knn")
    with pytest.raises(BenchInputError, match="name one of: random/asha, random/none"):
        bench.load_model(run.run_dir, "knn", sampler="random")
    for sampler, k in (("tpe", 1), ("random/none", 7)):
        model = bench.load_model(run.run_dir, "knn", sampler=sampler)
        assert model.card["params"] == {"n_neighbors": k}
        assert np.array_equal(model.predict(run.final_data.X_test), outs[k]["predicted"])
