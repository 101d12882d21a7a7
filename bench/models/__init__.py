"""Saved refit models: written after each refit in formats whose loading runs no code (skops
with an explicit trusted list, LightGBM's text model, safetensors), each with a JSON card.

>>> import bench
>>> model = bench.load_model("results/RUN", "svm")  # doctest: +SKIP
>>> model.predict(X)  # doctest: +SKIP
"""

from bench.models.store import SavedModel, SavedModelWarning, load_model

__all__ = ["SavedModel", "SavedModelWarning", "load_model"]
