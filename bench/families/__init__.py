"""Family registry: ``list_families()``, ``create_family(name)``; modules register on import.

None of these modules imports torch or LightGBM at import time: they are loaded when a model
is built, so ``import bench.families`` stays quick and works without the optional torch.
"""

# The modules register in the order they are imported (list_families(), --family all follow it): kept unsorted.
# isort: off
from bench.families.base import Family, create_family, list_families, register_family
from bench.families import logreg, svm, knn, tree, forest, boosting, mlp, cnn  # noqa: F401  (registration side effect)
# isort: on

__all__ = ["Family", "create_family", "list_families", "register_family"]
