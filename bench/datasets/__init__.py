"""Dataset registry: ``list_datasets()``, ``get_dataset(name)``; modules register on import."""

# The modules register in the order they are imported (list_datasets() follow it): kept unsorted.
# isort: off
from bench.datasets.base import Dataset, LoadedDataset, get_dataset, list_datasets, no_downloads, register_dataset
from bench.datasets import digits, mnist_like, kmnist, emnist  # noqa: F401  (registration side effect)
# isort: on

__all__ = ["Dataset", "LoadedDataset", "get_dataset", "list_datasets", "no_downloads", "register_dataset"]
