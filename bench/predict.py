"""``bench predict RUN IMAGE...``: a run's saved models answer on image files.

Each image is prepared as the run's dataset was made (bench.images_in) and given to the
leaderboard's winner (its seed-0 model), or to the families named with ``--family``. A file
that cannot be read is an error line for that file; the others are still predicted, and the
exit status is 2 at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import BenchInputError
from bench.safe_io import one_line

if TYPE_CHECKING:
    import numpy as np

#: Classes listed per image and family.
TOP = 3
#: bench.images_in's limits, spelled out so ``--help`` imports nothing (a test compares them).
LIMITS = "32 MiB or 64 megapixels"


def add_parser(commands: Any) -> None:
    from bench.cli import family_list

    predict = commands.add_parser(
        "predict",
        help="predict the class of image files with a run's saved models",
        description="Read each IMAGE (PNG, JPEG or anything Pillow reads), prepare it as the run's dataset was made "
        "(MNIST: grey, ink on black, fitted into 20x20 and centred by mass in 28x28; digits: 8x8 levels 0-16) and print "
        "each family's label, its probability and the top 3. Without --family the leaderboard's winner answers. A file "
        f"that is not an image, or is over {LIMITS}, is an "
        "error for that file alone; the others are still answered and the exit status is 2.",
    )
    predict.add_argument("run", type=Path, metavar="RUN", help="a run folder, or a run id under --results-dir")
    predict.add_argument("images", type=Path, nargs="+", metavar="IMAGE", help="image files")
    predict.add_argument(
        "--family",
        type=family_list,
        metavar="NAME[,NAME...]",
        help="families whose saved models answer, or all (default: the leaderboard's winner)",
    )
    predict.add_argument("--seed", type=int, metavar="N", help="the seed of the models (default 0, else the lowest saved)")
    predict.add_argument(
        "--sampler", metavar="NAME", help="the sampler's model (or sampler/scheduler), in a run that compared methods"
    )
    predict.add_argument("--json", action="store_true", help="print JSON instead of text")
    predict.add_argument(
        "--results-dir", type=Path, default=Path("results"), metavar="DIR", help="where run ids are looked up (default ./results)"
    )


def run(args: argparse.Namespace) -> int:
    from bench.models.store import resolve_run, saved

    run_dir = resolve_run(args.run, args.results_dir)
    index = saved(run_dir)
    if not index:
        raise BenchInputError(f"run {run_dir} saved no models (runs written before bench kept them have none)")
    families = chosen_families(args.family, run_dir, index)
    models = [load_chosen(run_dir, family, chosen_seed(args.seed, family, index), args.sampler) for family in families]
    results, errors = predict_files(models, args.images)
    if args.json:
        print(json.dumps({"run": str(run_dir), "predictions": results, "errors": errors}, indent=2))
    else:
        for row in results:
            print(text_line(row))
    for error in errors:
        print(f"{getattr(args, 'prog', 'bench')} predict: error: {one_line(error['error'])}", file=sys.stderr)
    return 2 if errors else 0


def chosen_families(asked: list[str] | None, run_dir: Path, index: dict[str, dict[str, Any]]) -> list[str]:
    """The families asked for (``all``: every family with a saved model), else the winner."""
    from bench.cli import FAMILIES

    saved = {entry["family"] for entry in index.values()}
    kept = [name for name in FAMILIES if name in saved] + sorted(saved - set(FAMILIES))  # the registry's order
    if asked is None:
        return [winner(run_dir, kept)]
    names = kept if "all" in asked else asked
    missing = [name for name in names if name not in kept]
    if missing:
        raise BenchInputError(f"run {run_dir} has no saved {missing[0]} model; saved: {', '.join(kept)}")
    return names


def winner(run_dir: Path, kept: list[str]) -> str:
    """The family at the top of the run's leaderboard (best test accuracy) with a saved model."""
    from bench.leaderboard import leaderboard
    from bench.results import load

    results = load(run_dir)
    board = leaderboard(results.final, results.predictions)
    ranked = [family for family in board["family"] if family in kept] if not board.empty else []
    if not ranked:
        raise BenchInputError(
            f"run {run_dir} has no leaderboard row with a saved model; name one with --family: {', '.join(kept)}"
        )
    return str(ranked[0])


def chosen_seed(asked: int | None, family: str, index: dict[str, dict[str, Any]]) -> int:
    if asked is not None:
        return asked
    seeds = sorted({entry["seed"] for entry in index.values() if entry["family"] == family})
    return 0 if 0 in seeds or not seeds else seeds[0]


def load_chosen(run_dir: Path, family: str, seed: int, sampler: str | None) -> Any:
    """``load_model``, its version warning printed as one line (any other warning as Python would)."""
    from bench.models import SavedModelWarning, load_model

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SavedModelWarning)
        model = load_model(run_dir, family, seed, sampler)
    for warning in caught:
        if issubclass(warning.category, SavedModelWarning):
            print(f"warning: {one_line(warning.message)}", file=sys.stderr)
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    return model


def predict_files(models: list[Any], paths: list[Path]) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Every image's answer from every model, and an error per image that could not be read."""
    import numpy as np

    from bench.images_in import prepare

    results: list[dict[str, Any]] = []
    errors: dict[Path, str] = {}
    prepared: dict[tuple[Path, str], np.ndarray] = {}  # models of one run take the same input
    for model in models:
        rows, kept = [], []
        spec = json.dumps(model.card["input"], sort_keys=True)
        for path in paths:
            if path in errors:
                continue
            try:
                if (path, spec) not in prepared:
                    prepared[path, spec] = prepare(path, model.card["input"])
                rows.append(prepared[path, spec])
                kept.append(path)
            except BenchInputError as exc:
                errors[path] = str(exc)
        if not rows:
            continue
        X = np.stack(rows)
        labels, proba = model.predict(X), model.predict_proba(X)
        results += [answer(model, path, label, p) for path, label, p in zip(kept, labels, proba, strict=True)]
    order = {path: i for i, path in enumerate(paths)}
    results.sort(key=lambda row: order[Path(row["image"])])
    return results, [{"image": str(path), "error": message} for path, message in errors.items()]


def answer(model: Any, path: Path, label: Any, proba: np.ndarray) -> dict[str, Any]:
    """One image's answer from one model: its label, that label's probability and the top classes."""
    import numpy as np

    def named(index: int) -> dict[str, Any]:
        code = int(model.classes_[index])
        return {"label": _name(model, code), "class": code, "probability": round(float(proba[index]), 6)}

    position = int(np.flatnonzero(model.classes_ == label)[0])
    return {
        "image": str(path),
        "family": model.family,
        "seed": model.card.get("seed"),
        **named(position),
        "kind": "probability" if model.probabilities else "score",
        "top": [named(int(i)) for i in np.argsort(-proba, kind="stable")[:TOP]],
    }


def _name(model: Any, code: int) -> str:
    names = model.class_names
    return str(names[code]) if 0 <= code < len(names) else str(code)


def text_line(row: dict[str, Any]) -> str:
    """``image  family  label  p=0.931  top 3: 7 0.931, 1 0.041, 9 0.010`` (``score=`` for scores)."""
    top = ", ".join(f"{one_line(t['label'])} {t['probability']:.3f}" for t in row["top"])
    measure = "p" if row["kind"] == "probability" else "score"
    return f"{one_line(row['image'])}  {row['family']}  {one_line(row['label'])}  {measure}={row['probability']:.3f}  top {TOP}: {top}"
