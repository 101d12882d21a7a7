"""Imported last by a local run's prestarted Ray workers (see bench.warm): a file named after
the worker's pid, in the folder the driver watches, says that the worker's imports are done."""

import os
from pathlib import Path

_folder = os.environ.get("BENCH_WARM_READY_DIR")
if _folder:
    try:
        Path(_folder, str(os.getpid())).touch()
    except OSError:  # the driver gave up waiting and removed the folder: nothing to say
        pass
