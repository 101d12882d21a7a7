"""``bench reproduce``: published baselines re-run with their published protocol, row by row.

Names are imported lazily so ``bench.cli`` can register the subcommand without loading
scikit-learn or Ray.

>>> from bench.reproduce import make_plan
>>> [r.baseline_id for r in make_plan(["sklearn-digits"]).rows]
['svc-gamma0.001', 'knn-default', 'logreg-max-iter1000']
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Plan": "bench.reproduce.plan",
    "PlannedRow": "bench.reproduce.plan",
    "make_plan": "bench.reproduce.plan",
    "ReproduceOptions": "bench.reproduce.runner",
    "Reproduction": "bench.reproduce.runner",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'bench.reproduce' has no attribute {name!r}")
