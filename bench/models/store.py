"""A run's saved models: ``results/<run>/models/<stem><ext>`` beside ``<stem>.json``, its card.

The stem names the study as the prediction tables do (``svm-seed0``; ``svm-tpe-asha-seed0`` in a
run comparing methods). The card says what the model is and how to feed it: family,
parameters, preprocessing, classes, input shape and how an image is prepared for it, test
accuracy, run, git revision, the library versions it was saved with, and the SHA-256 of the
model file, which ``manifest.json`` records too (its ``models`` object, see :func:`index`).

:func:`load_model` checks before it reads: a file whose SHA-256 differs from the run's record is
refused as corrupt, a skops file holding an untrusted type as unsafe (both
:class:`~bench.errors.BenchInputError`); a model saved under another major version of its
library loads with a :class:`SavedModelWarning`.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.errors import BenchInputError
from bench.models.formats import FORMATS, read

if TYPE_CHECKING:
    from bench.datasets import LoadedDataset

MODELS_DIR = "models"
#: The names bench gives model files and cards: nothing a path could climb out of ``models/`` with.
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")
#: Version of the card's layout, for readers of later bench releases.
CARD_VERSION = 1


class SavedModelWarning(UserWarning):
    """A saved model loaded under another major version of the library that wrote it."""


def model_stem(family: str, seed: int, method: str | None = None) -> str:
    """The file stem of a study's model: as its prediction table's (bench.results.prediction_part)."""
    tag = f"-{method.replace('/', '-')}" if method else ""
    return f"{family}{tag}-seed{seed}"


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in chunks (a k-NN model holds its training set)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ------------------------------------------------------------------------------------ saving
def save_refit(
    run_dir: Path,
    loaded: LoadedDataset,
    *,
    run_id: str,
    family: str,
    seed: int,
    sampler: str,
    scheduler: str,
    method: str | None,
    params: dict[str, Any],
    tuned: dict[str, Any],
) -> str | None:
    """Write the refit model ``tuned["saved_model"]`` (see :func:`bench.models.formats.export`)
    and its card into ``run_dir/models``; return why nothing was saved, or None."""
    from bench.images_in import input_description
    from bench.manifest import git_revision
    from bench.refit import preprocessing
    from bench.results import atomic_write_bytes, write_json

    exported = tuned.get("saved_model")
    if not exported or "error" in exported:
        return f"{family} seed {seed}: model not saved ({(exported or {}).get('error', 'the refit returned none')})"
    stem = model_stem(family, seed, method)
    file_name = stem + FORMATS[exported["format"]][0]
    folder = Path(run_dir) / MODELS_DIR
    data: bytes = exported["data"]
    card = {
        "card_version": CARD_VERSION,
        "family": family,
        "run_id": run_id,
        "dataset": loaded.name,
        "seed": seed,
        "sampler": sampler,
        "scheduler": scheduler,
        "params": params,
        "preprocessing": {"summary": preprocessing(params), "steps": exported["steps"]},
        "class_names": list(loaded.class_names),
        "classes": exported["classes"],
        "input": {**input_description(loaded), "features": exported["n_features"]},
        "probabilities": exported["probabilities"],
        "scores": "probabilities"
        if exported["probabilities"]
        else "softmax of the decision values: scores that rank the classes, not calibrated probabilities",
        "test_accuracy": tuned.get("test_accuracy"),
        # a PyTorch model refit on a GPU scored the test set in mixed precision; loaded, it runs in
        # float32 on the CPU, which can turn a near-tie the other way
        "refit_device": tuned.get("device", "cpu"),
        "git_revision": git_revision(),
        "versions": exported["versions"],
        "model": {
            "file": file_name,
            "format": exported["format"],
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        },
        **({"network": exported["network"]} if "network" in exported else {}),
        "saved_at": datetime.now(timezone.utc).isoformat(),
    }
    atomic_write_bytes(folder / file_name, data)
    write_json(card, folder / f"{stem}.json")
    return None


def index(run_dir: Path) -> dict[str, dict[str, Any]]:
    """The ``models`` object of a run's manifest: per stem, where the model and its card are,
    its SHA-256, and the study it belongs to. Read from the cards this run wrote."""
    from bench.safe_io import read_json

    folder = Path(run_dir) / MODELS_DIR
    if not folder.is_dir():
        return {}
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")):
        card = read_json(path)
        if not isinstance(card, dict) or not isinstance(card.get("model"), dict):
            continue
        out[path.stem] = {
            "family": card.get("family"),
            "seed": card.get("seed"),
            "sampler": card.get("sampler"),
            "scheduler": card.get("scheduler"),
            "file": f"{MODELS_DIR}/{card['model'].get('file')}",
            "card": f"{MODELS_DIR}/{path.name}",
            "format": card["model"].get("format"),
            "sha256": card["model"].get("sha256"),
        }
    return out


# ----------------------------------------------------------------------------------- loading
class SavedModel:
    """A saved model as its run's refit used it, with ``predict`` and ``predict_proba``.

    ``predict`` gives exactly the labels the refit scored on the test set (the most probable
    class, or the estimator's own ``predict`` where it has no probabilities). ``predict_proba``
    gives probabilities, except for a model whose card says ``"probabilities": false`` (an SVM
    fitted without Platt scaling): there it is a softmax of the decision values, scores that
    rank the classes but are not calibrated, and their top class can differ from ``predict`` in
    a tie of the one-vs-one votes. ``predict`` never changes to follow them. A PyTorch model
    runs on the CPU in float32: one refit on a GPU (card ``refit_device``) scored the test set in
    mixed precision, so a near-tie there can come out the other way here.

    >>> model = bench.load_model("results/RUN", "svm")  # doctest: +SKIP
    >>> model.predict(X), model.predict_proba(X), model.card["test_accuracy"]  # doctest: +SKIP
    """

    def __init__(self, estimator: Any, card: dict[str, Any], path: Path) -> None:
        self.estimator = estimator
        self.card = card
        self.path = path
        self.family: str = card["family"]
        self.classes_ = np.asarray(card["classes"], dtype=np.int64)
        self.class_names: list[str] = list(card["class_names"])
        self.probabilities: bool = bool(card["probabilities"])

    @property
    def n_features(self) -> int:
        return int(self.card["input"]["features"])

    def _rows(self, X: Any) -> np.ndarray:
        rows = np.asarray(X, dtype=np.float32)
        if rows.ndim != 2 or rows.shape[1] != self.n_features:
            raise BenchInputError(f"{self.family} takes rows of {self.n_features} pixels; got an array of shape {rows.shape}")
        return rows

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, or softmax scores where the model has none (see the class docstring)."""
        rows = self._rows(X)
        if self.probabilities:
            return np.asarray(self.estimator.predict_proba(rows), dtype=np.float64)
        from scipy.special import softmax

        values = np.asarray(self.estimator.decision_function(rows), dtype=np.float64)
        if values.ndim == 1:  # two classes: one decision value, positive for the second
            values = np.stack([-values, values], axis=1)
        return softmax(values, axis=1)

    def predict(self, X: Any) -> np.ndarray:
        """Labels, as the refit computed them for ``predictions.parquet``."""
        rows = self._rows(X)
        if self.probabilities:
            return self.classes_[self.predict_proba(rows).argmax(axis=1)]
        return np.asarray(self.estimator.predict(rows))


def resolve_run(run: Path | str, results_dir: Path | str = "results") -> Path:
    """A run folder from a path, or from a run id under ``results_dir``."""
    for candidate in (Path(run), Path(results_dir) / str(run)):
        if (candidate / "manifest.json").is_file():
            return candidate
    raise BenchInputError(f"no run folder at {run} or under {results_dir} (a run folder holds manifest.json)")


def saved(run_dir: Path) -> dict[str, dict[str, Any]]:
    """The run's ``models`` index from its manifest, each entry checked to be one bench writes."""
    from bench.manifest import read_manifest

    models = read_manifest(run_dir).get("models") or {}
    where = Path(run_dir) / "manifest.json"
    for stem, entry in models.items():
        ok = (
            isinstance(entry, dict)
            and FILE_NAME.fullmatch(str(stem))
            and isinstance(entry.get("family"), str)
            and isinstance(entry.get("seed"), int)
            and isinstance(entry.get("sha256"), str)
            and all(
                isinstance(entry.get(k), str)
                and entry[k].startswith(f"{MODELS_DIR}/")
                and FILE_NAME.fullmatch(entry[k].removeprefix(f"{MODELS_DIR}/"))
                for k in ("file", "card")
            )
        )
        if not ok:
            raise BenchInputError(f"{where}: models entry {str(stem)[:60]!r} is not one bench writes")
    return models


def choose(run_dir: Path, family: str, seed: int = 0, sampler: str | None = None) -> tuple[str, dict[str, Any]]:
    """The stem and index entry of ``family``'s model for ``seed`` (and ``sampler``: a sampler,
    or a method as "sampler/scheduler" where a run compared schedulers too), or one error line
    that lists what the run did save."""
    models = saved(run_dir)
    if not models:
        raise BenchInputError(f"run {run_dir} saved no models (runs written before bench kept them have none)")

    def method(entry: dict[str, Any]) -> str:
        return f"{entry.get('sampler')}/{entry.get('scheduler')}"

    matches = [
        (stem, e)
        for stem, e in models.items()
        if e["family"] == family and e["seed"] == seed and sampler in (None, e.get("sampler"), method(e))
    ]
    if len(matches) == 1:
        return matches[0]
    if matches:
        methods = ", ".join(sorted(method(e) for _, e in matches))
        raise BenchInputError(f"run {run_dir} saved several {family} models for seed {seed}; name one of: {methods}")
    kept = ", ".join(sorted({f"{e['family']} seed {e['seed']}" for e in models.values()}))
    wanted = f"{family} seed {seed}" + (f" sampler {sampler}" if sampler else "")
    raise BenchInputError(f"run {run_dir} has no saved model for {wanted}; saved: {kept}")


def load_model(
    run: Path | str, family: str, seed: int = 0, sampler: str | None = None, *, threads: int | None = None
) -> SavedModel:
    """The saved refit model of ``family`` (seed ``seed``; ``sampler``, or "sampler/scheduler", in
    a run comparing methods) in the run folder ``run`` (or run id under ``results/``), checked
    before it is read.

    ``threads``: cores prediction may use (default: all of this machine's).
    """
    from bench.safe_io import check_regular, read_json

    run_dir = resolve_run(run)
    _, entry = choose(run_dir, family, seed, sampler)
    path = run_dir / entry["file"]
    card = _check_card(read_json(run_dir / entry["card"]), run_dir / entry["card"])
    check_regular(path)
    recorded = {entry["sha256"], card["model"]["sha256"]}
    actual = sha256_file(path)
    if recorded != {actual}:
        raise BenchInputError(
            f"{path} is corrupt: its SHA-256 is {actual}, but the run recorded {' and '.join(sorted(recorded))}; not loaded"
        )
    _warn_versions(card, path)
    return SavedModel(read(path, card, threads or os.cpu_count() or 1), card, path)


def _check_card(card: Any, where: Path) -> dict[str, Any]:
    """A card with the fields loading reads, of the types bench writes, or one error line."""
    fields = {
        "family": str,
        "params": dict,
        "classes": list,
        "class_names": list,
        "input": dict,
        "model": dict,
        "preprocessing": dict,
        "probabilities": bool,
        "versions": dict,
    }
    if not isinstance(card, dict):
        raise BenchInputError(f"{where} is not a model card (a JSON object expected)")
    for name, kind in fields.items():
        if not isinstance(card.get(name), kind):
            raise BenchInputError(f"{where}: {name} is missing or not a {kind.__name__}; not a card bench writes")
    model, shape = card["model"], card["input"].get("shape")
    if model.get("format") not in FORMATS or not isinstance(model.get("sha256"), str):
        raise BenchInputError(f"{where}: model format must be one of {', '.join(FORMATS)} with a sha256")
    if not (isinstance(shape, list) and len(shape) == 3 and all(isinstance(v, int) and v > 0 for v in shape)):
        raise BenchInputError(f"{where}: input.shape must be [channels, height, width]")
    if card["input"].get("features") != shape[0] * shape[1] * shape[2]:
        raise BenchInputError(f"{where}: input.features must be channels x height x width")
    if not card["classes"] or not all(isinstance(c, int) and 0 <= c < len(card["class_names"]) for c in card["classes"]):
        raise BenchInputError(f"{where}: classes must be whole numbers indexing class_names")
    return card


def _warn_versions(card: dict[str, Any], path: Path) -> None:
    """Warn when the library a model depends on has another major version here than when saved."""
    library = FORMATS[card["model"]["format"]][1]
    then = str(card["versions"].get(library) or "")
    try:
        now = metadata.version(library)
    except metadata.PackageNotFoundError:
        return  # reading it fails with the library's own error
    if then and then.split(".")[0] != now.split(".")[0]:
        warnings.warn(
            f"{path} was saved with {library} {then}; this is {library} {now} (another major version): "
            f"its predictions may differ from the run's",
            SavedModelWarning,
            stacklevel=3,
        )
