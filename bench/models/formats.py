"""The three formats a refit model is kept in, chosen so that loading one runs no code from the file.

* ``skops`` for the scikit-learn pipelines (logreg, svm, knn, tree, forest), preprocessing
  included: skops rebuilds only the types it trusts, scikit-learn's own by default plus the
  explicit :data:`TRUSTED` list below (bench's estimator subclasses and the deskew function,
  imported by name from bench), plus what a plug-in family lists in its ``trusted_types``.
  Anything else in a file is refused before it is built.
* LightGBM's own text model for ``lightgbm``: the booster's trees as text, parsed by LightGBM.
* ``safetensors`` for the PyTorch families: tensors only, with the JSON description of the
  network (its spec's class and fields, input width, classes) in the file's header.

:func:`export` runs where the refit ran (a Ray worker) and returns bytes, not files: on a
cluster the worker's disk is not the driver's. :func:`read` is its inverse, given the card.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import BenchInputError

#: Types skops may rebuild beyond its own defaults (scikit-learn's estimators, numpy's arrays):
#: bench's subclasses of scikit-learn estimators, the deskew step's function (re-created on load
#: by importing it from bench, never from the file) and scikit-learn's compiled tree structure.
#: A test saves every family's models and checks that nothing else is needed.
TRUSTED = (
    "bench.families.preprocess.deskew_images",
    "bench.families.svm.ScaledGammaSVC",
    "bench.families.forest.SqrtRandomForestClassifier",
    "bench.families.forest.SqrtExtraTreesClassifier",
    "sklearn.tree._tree.Tree",
)


def trusted(family: str) -> tuple[str, ...]:
    """The types skops may rebuild for ``family``'s models: :data:`TRUSTED`, and those a family
    of a plug-in declares in its ``trusted_types`` class attribute (code, never the file, says)."""
    from bench.families import create_family

    return TRUSTED + tuple(getattr(create_family(family), "trusted_types", ()))


#: Format name -> (file extension, the library whose major version the model depends on).
FORMATS = {
    "skops": (".skops", "scikit-learn"),
    "lightgbm": (".lightgbm.txt", "lightgbm"),
    "safetensors": (".safetensors", "torch"),
}
#: The header key of a safetensors file that holds the network's JSON description.
NETWORK_KEY = "bench_network"
#: Libraries whose versions a card records.
LIBRARIES = ("bench", "scikit-learn", "numpy", "scipy", "skops", "lightgbm", "torch", "safetensors")


def versions() -> dict[str, str]:
    """The versions of Python and of the libraries a saved model depends on, as installed here."""
    found = {"python": ".".join(map(str, sys.version_info[:3]))}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def export(family: str, model: Any, n_features: int) -> dict[str, Any]:
    """A fitted model of ``family`` (fitted on rows of ``n_features``) as the bytes of its saved
    format and what its card needs.

    Never raises: a model that cannot be saved is ``{"error": ...}``, so a saving problem costs
    the saved file, not the refit's result."""
    from bench.families.boosting import StagedLGBMClassifier
    from bench.families.torch_estimator import TorchClassifier

    try:
        if isinstance(model, StagedLGBMClassifier):
            out = _export_lightgbm(model)
        elif isinstance(model, TorchClassifier):
            out = _export_torch(model, n_features)
        else:
            out = _export_skops(model, trusted(family))
    except Exception as exc:  # noqa: BLE001 - reported beside the result instead of failing the refit
        return {"error": f"{type(exc).__name__}: {exc}"[:500]}
    return {**out, "n_features": int(n_features), "classes": [int(c) for c in model.classes_], "versions": versions()}


def _export_skops(model: Any, trusted_types: tuple[str, ...]) -> dict[str, Any]:
    import skops.io as sio

    data = sio.dumps(model, compression=zipfile.ZIP_DEFLATED)
    untrusted = sorted(set(sio.get_untrusted_types(data=data)) - set(trusted_types))
    if untrusted:  # would be refused on load: say so now, when the list can still be extended
        raise TypeError(f"the model holds types bench does not trust: {', '.join(untrusted)} (see bench.models.formats.trusted)")
    steps = [name for name, _ in getattr(model, "steps", [])[:-1]]
    final = model[-1] if hasattr(model, "steps") else model
    return {
        "format": "skops",
        "data": data,
        "steps": steps,
        "probabilities": _has_proba(final),
    }


def _has_proba(estimator: Any) -> bool:
    """Whether ``estimator`` gives probabilities (an SVC without ``probability=True`` does not)."""
    return hasattr(estimator, "predict_proba")


def _export_lightgbm(model: Any) -> dict[str, Any]:
    return {
        "format": "lightgbm",
        "data": model.booster_.model_to_string().encode("utf-8"),
        "steps": ["deskew"] if model.deskew else [],
        "probabilities": True,
    }


def _export_torch(model: Any, n_features: int) -> dict[str, Any]:
    from safetensors.torch import save

    network = describe_network(model, n_features)
    tensors = {name: value.detach().cpu().contiguous() for name, value in model.network_.state_dict().items()}
    return {
        "format": "safetensors",
        "data": save(tensors, metadata={NETWORK_KEY: json.dumps(network, sort_keys=True)}),
        "steps": [],
        "probabilities": True,
        "network": network,
    }


def describe_network(model: Any, n_features: int) -> dict[str, Any]:
    """The JSON description a torch network is rebuilt from: its spec's class and fields (see
    bench.families.mlp, cnn), and the input width and class count it was built for."""
    return {
        "spec": type(model.network).__name__,
        "fields": dataclasses.asdict(model.network),
        "n_features": int(n_features),
        "n_classes": len(model.classes_),
    }


# ----------------------------------------------------------------------------------- reading
def read(path: Path, card: dict[str, Any], threads: int) -> Any:
    """The estimator in ``path``, saved in ``card["model"]["format"]``; input errors are
    :class:`BenchInputError` (corrupt or unsafe files included), never a traceback."""
    kind = card["model"]["format"]
    if kind == "skops":
        return _read_skops(path, trusted(card["family"]), threads)
    if kind == "lightgbm":
        return _read_lightgbm(path, card, threads)
    if kind == "safetensors":
        return _read_torch(path, card, threads)
    raise BenchInputError(f"{path}: unknown model format {kind!r}; valid: {', '.join(FORMATS)}")


def _read_skops(path: Path, trusted_types: tuple[str, ...], threads: int) -> Any:
    import skops.io as sio
    from sklearn.base import BaseEstimator

    try:
        untrusted = sorted(set(sio.get_untrusted_types(file=path)) - set(trusted_types))
        if untrusted:
            raise BenchInputError(
                f"{path} is unsafe: it holds types bench does not trust ({', '.join(untrusted)[:300]}); "
                f"trusted: scikit-learn's own and {', '.join(trusted_types)}; not loaded"
            )
        model = sio.load(path, trusted=list(trusted_types))
    except BenchInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - skops raises many kinds on a damaged file
        raise BenchInputError(f"{path} is not a readable skops model ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(model, BaseEstimator) or not hasattr(model, "predict"):
        raise BenchInputError(f"{path} holds a {type(model).__name__}, not a scikit-learn model")
    for name in model.get_params():
        if name == "n_jobs" or name.endswith("__n_jobs"):
            model.set_params(**{name: threads})
    return model


def _read_lightgbm(path: Path, card: dict[str, Any], threads: int) -> Any:
    import lightgbm as lgb

    from bench.families.boosting import StagedLGBMClassifier

    try:
        booster = lgb.Booster(model_file=str(path))
    except lgb.basic.LightGBMError as exc:
        raise BenchInputError(f"{path} is not a readable LightGBM model ({str(exc)[:200]})") from None
    classes = np.asarray(card["classes"], dtype=np.int64)
    if booster.num_model_per_iteration() != len(classes) or booster.num_feature() != card["input"]["features"]:
        raise BenchInputError(
            f"{path}: a booster of {booster.num_model_per_iteration()} classes and {booster.num_feature()} features, but its card says "
            f"{len(classes)} and {card['input']['features']}"
        )
    model = StagedLGBMClassifier(deskew="deskew" in card["preprocessing"]["steps"], n_jobs=threads)
    model.classes_, model.booster_ = classes, booster
    return model


def _read_torch(path: Path, card: dict[str, Any], threads: int) -> Any:
    from safetensors import SafetensorError, safe_open

    from bench.families import create_family
    from bench.families.torch_estimator import TorchClassifier

    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118 - not a dict
        network = json.loads(header[NETWORK_KEY])
    except (SafetensorError, OSError, KeyError, ValueError) as exc:
        raise BenchInputError(f"{path} is not a readable safetensors model ({type(exc).__name__}: {str(exc)[:200]})") from None
    family = create_family(card["family"])
    spec_class = type(family.build(dict(card["params"]), seed=0, n_jobs=threads).network)
    _check_network(network, family.ceilings, card, path)
    described = network.get("spec") if isinstance(network, dict) else None
    if described != spec_class.__name__:
        raise BenchInputError(
            f"{path} describes a {str(described)[:40]} network; {card['family']} builds a {spec_class.__name__}"
        )
    try:
        spec = spec_class(**network["fields"])
        model = TorchClassifier(spec, n_jobs=threads, device="cpu")
        model.network_ = spec.build(int(network["n_features"]), int(network["n_classes"]))
        model.network_.load_state_dict(tensors, strict=True)
    except (TypeError, KeyError, ValueError, RuntimeError) as exc:
        raise BenchInputError(f"{path}: its network does not match its description ({str(exc)[:200]})") from None
    model.network_.eval()
    model.classes_ = np.asarray(card["classes"], dtype=np.int64)
    return model


def _check_network(network: Any, ceilings: dict[str, int], card: dict[str, Any], path: Path) -> None:
    """Refuse a description that would build a network beyond the family's ceilings or for
    another input and class count than the card's, before any memory is spent on it."""
    fields = network.get("fields") if isinstance(network, dict) else None
    if not isinstance(fields, dict):
        raise BenchInputError(f"{path}: its network description has no fields")
    too_big = [k for k, top in ceilings.items() if isinstance(fields.get(k), (int, float)) and fields[k] > top]
    if too_big:
        raise BenchInputError(f"{path}: network {too_big[0]}={fields[too_big[0]]} is above its ceiling {ceilings[too_big[0]]}")
    if network.get("n_features") != card["input"]["features"] or network.get("n_classes") != len(card["classes"]):
        raise BenchInputError(f"{path}: its network is not built for the card's input width and classes")
