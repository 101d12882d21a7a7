"""bench: hyperparameter benchmarks for handwritten-digit recognition on Ray Tune + Optuna.

>>> import bench
>>> results = bench.load("results")  # doctest: +SKIP
>>> model = bench.load_model("results/RUN", "svm")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

__all__ = ["Results", "load", "load_model"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """``bench.load``, ``bench.Results`` and ``bench.load_model`` on first use: a Ray worker that
    imports a trial module should not pay for pandas and pyarrow it never touches."""
    if name == "load_model":
        from bench.models import load_model

        return load_model
    if name in __all__:
        from bench import results

        return getattr(results, name)
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
