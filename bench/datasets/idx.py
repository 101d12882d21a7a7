"""Read IDX files (the MNIST format) and verify them against published checksums.

Checksums are taken over the *decompressed* bytes because the gzip wrapper differs between
mirrors and repackagings (Debian's, Zalando's, LeCun's) while the payload does not.

The files may come from anywhere (a ``--data-dir``, a run folder), so reading is bounded:
only regular files, at most :data:`MAX_IDX_FILE_BYTES` on disk and :data:`MAX_IDX_BYTES`
decompressed (a gzip bomb stops at the limit, it is never inflated whole), and a corrupt
deflate stream, a truncated file or a header that does not match its payload is one line.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import zlib
from pathlib import Path

import numpy as np

from bench.errors import BenchInputError
from bench.safe_io import MiB, human, read_bytes as read_regular

# IDX type codes -> numpy dtypes (big-endian as the format stores them).
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
#: The largest IDX file read from disk, compressed or not (MNIST's training images: 47 MB raw).
MAX_IDX_FILE_BYTES = 256 * MiB
#: The most an IDX file may decompress to.
MAX_IDX_BYTES = 512 * MiB
#: The most dimensions an IDX header may declare (MNIST's images have 3).
MAX_IDX_DIMS = 8


def decompress(raw: bytes, source: Path | str = "<bytes>", limit: int | None = None) -> bytes:
    """Return ``raw`` decompressed if it is gzip, unchanged otherwise; at most ``limit`` bytes
    (default :data:`MAX_IDX_BYTES`) are inflated."""
    limit = MAX_IDX_BYTES if limit is None else limit
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            data = stream.read(limit + 1)  # inflates incrementally: a bomb stops here
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        raise BenchInputError(
            f"corrupt gzip file {source}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None
    if len(data) > limit:
        raise BenchInputError(f"{source} decompresses to more than {human(limit)}, the most bench reads from an IDX file")
    return data


def read_bytes(path: Path) -> bytes:
    """Return the decompressed content of ``path`` (gzip or plain), bounded (see the module)."""
    return decompress(read_regular(path, MAX_IDX_FILE_BYTES), path)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_idx(data: bytes, source: Path | str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into an array, checking the header against the payload length."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise BenchInputError(f"{source} is not an IDX file (bad magic number)")
    type_code, ndim = data[2], data[3]
    if type_code not in _IDX_DTYPES or ndim == 0 or ndim > MAX_IDX_DIMS:
        raise BenchInputError(f"{source} is not an IDX file (type 0x{type_code:02x}, {ndim} dims)")
    header_end = 4 + 4 * ndim
    if len(data) < header_end:
        raise BenchInputError(f"{source} is truncated: its header declares {ndim} dimensions but the file ends first")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected = math.prod(shape) * dtype.itemsize  # Python ints: a crafted header cannot overflow
    if len(data) - header_end != expected:
        raise BenchInputError(
            f"{source} is truncated or padded: header says {shape} ({expected} bytes), file holds {len(data) - header_end}"
        )
    return np.frombuffer(data, dtype=dtype, offset=header_end).reshape(shape).astype(dtype.newbyteorder("="))


def load_verified(path: Path, expected_sha256: str) -> tuple[np.ndarray, str]:
    """Read, checksum and parse one IDX file; a mismatch is a user-facing error."""
    data = read_bytes(path)
    digest = sha256(data)
    if digest != expected_sha256:
        raise BenchInputError(
            f"checksum mismatch for {path}: sha256 of the decompressed bytes is {digest}, "
            f"expected {expected_sha256} (the file is corrupt, truncated or not the original)"
        )
    return parse_idx(data, path), digest


def md5(data: bytes) -> str:
    """MD5, only to match the checksums some publishers list for their archives (not for security)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def load_archive_verified(path: Path, expected_md5: str, name: str) -> tuple[np.ndarray, str]:
    """Read one IDX file still in its published ``.gz`` wrapper, checked against the MD5 of that
    ``.gz`` as published (the only checksum ``name``'s publisher gives); returns the array and
    the SHA-256 of its decompressed bytes, for the manifest."""
    raw = read_regular(path, MAX_IDX_FILE_BYTES)
    if raw[:2] != b"\x1f\x8b":
        raise BenchInputError(
            f"{path} is not gzip-compressed; {name}'s published checksums are of its .gz files, so bench "
            f"reads those as downloaded (keep or fetch the .gz files)"
        )
    digest = md5(raw)
    if digest != expected_md5:
        raise BenchInputError(
            f"checksum mismatch for {path}: MD5 of the .gz file is {digest}, expected {expected_md5} "
            f"(the file is corrupt, truncated or not the published one)"
        )
    data = decompress(raw, path)
    return parse_idx(data, path), sha256(data)
