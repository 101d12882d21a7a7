"""Read IDX files (the MNIST format) and verify them against published checksums.

Checksums are taken over the *decompressed* bytes because the gzip wrapper differs between
mirrors and repackagings (Debian's, Zalando's, LeCun's) while the payload does not.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np

from bench.errors import BenchInputError

# IDX type codes -> numpy dtypes (big-endian as the format stores them).
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def decompress(raw: bytes, source: Path | str = "<bytes>") -> bytes:
    """Return ``raw`` decompressed if it is gzip, unchanged otherwise."""
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise BenchInputError(f"corrupt gzip file {source}: {exc}") from None
    return raw


def read_bytes(path: Path) -> bytes:
    """Return the decompressed content of ``path`` (gzip or plain)."""
    return decompress(path.read_bytes(), path)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_idx(data: bytes, source: Path | str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into an array, checking the header against the payload length."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise BenchInputError(f"{source} is not an IDX file (bad magic number)")
    type_code, ndim = data[2], data[3]
    if type_code not in _IDX_DTYPES or ndim == 0:
        raise BenchInputError(f"{source} is not an IDX file (type 0x{type_code:02x}, {ndim} dims)")
    header_end = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header_end != expected:
        raise BenchInputError(
            f"{source} is truncated or padded: header says {shape} "
            f"({expected} bytes), file holds {len(data) - header_end}"
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
