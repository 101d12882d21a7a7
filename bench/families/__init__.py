"""Family registry: ``list_families()``, ``create_family(name)``; modules register on import."""

from bench.families.base import Family, create_family, list_families, register_family
from bench.families import logreg, svm, knn  # noqa: F401  (registration side effect)

__all__ = ["Family", "create_family", "list_families", "register_family"]
