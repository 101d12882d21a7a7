"""Imported first by a local run's prestarted Ray workers (see bench.warm): Ray Tune, which every
trial actor needs, except on the refit worker, which runs no trial (a second and a half of
imports saved while Ray starts)."""

import os

from bench.warm import REFIT_ROLE_VAR

if os.environ.get(REFIT_ROLE_VAR) != "refit":
    import ray.tune  # noqa: F401  (loaded now, not when the first trial asks for it)
