"""bench: hyperparameter benchmarks for handwritten-digit recognition on Ray Tune + Optuna.

>>> import bench
>>> results = bench.load("results")  # doctest: +SKIP
"""

from bench.results import Results, load

__all__ = ["Results", "load"]
__version__ = "0.1.0"
