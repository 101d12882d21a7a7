"""An ``.npz`` file with ``X_train``, ``y_train``, ``X_test``, ``y_test``, read without pickles.

``numpy.load(allow_pickle=False)`` refuses object arrays, so a file cannot run code when read.
The content checksum is one SHA-256 over the four arrays (name, dtype, shape, bytes): the zip
wrapper (timestamps, compression) does not change it.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np

from bench.errors import BenchInputError
from bench.safe_io import GiB, check_regular, human

KEYS = ("X_train", "y_train", "X_test", "y_test")
#: The largest .npz file read.
MAX_NPZ_BYTES = 4 * GiB


def read_npz(path: Path) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], str, dict[str, object]]:
    """((X_train, y_train), (X_test, y_test), content SHA-256, manifest details) of an .npz file."""
    if check_regular(path).st_size > MAX_NPZ_BYTES:
        raise BenchInputError(f"{path} is larger than {human(MAX_NPZ_BYTES)}, the most bench reads from an .npz file")
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise BenchInputError(f"{path} is a single .npy array; an .npz file with {', '.join(KEYS)} is needed")
            missing = [key for key in KEYS if key not in npz.files]
            if missing:
                raise BenchInputError(
                    f"{path} lacks {', '.join(missing)}; it holds {', '.join(npz.files) or 'no arrays'} "
                    f"(an .npz dataset needs {', '.join(KEYS)})"
                )
            for key in KEYS:
                try:
                    arrays[key] = npz[key]
                except ValueError as exc:
                    if "allow_pickle" in str(exc):
                        raise BenchInputError(
                            f"{path}: {key} is an object array, which bench does not load (it would unpickle); "
                            f"save images as uint8 or float and labels as integers or fixed-width strings"
                        ) from None
                    raise
    except BenchInputError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BenchInputError(f"{path} is not an .npz file numpy can read ({detail})") from None
    digest = hashlib.sha256()
    for key in KEYS:
        array = arrays[key]
        digest.update(f"{key}\0{array.dtype.str}\0{array.shape}\n".encode())
        digest.update(array.tobytes())
    details: dict[str, object] = {"format": "npz"}
    return (arrays["X_train"], arrays["y_train"]), (arrays["X_test"], arrays["y_test"]), digest.hexdigest(), details
