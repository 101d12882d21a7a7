"""Imported last by a local run's prestarted Ray workers (see bench.warm): a file named after
the worker's pid, in the folder the driver watches, says that the worker's imports are done."""

import contextlib
import os
from pathlib import Path

from bench.warm import READY_DIR_VAR

_folder = os.environ.get(READY_DIR_VAR)
if _folder:
    with contextlib.suppress(OSError):  # the driver gave up waiting and removed the folder: nothing to say
        Path(_folder, str(os.getpid())).touch()
