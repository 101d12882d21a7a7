"""A request's image: its body read up to a limit, and turned into a model's input row by the
code ``bench predict`` uses on a file (bench.images_in.prepare), so the page, the endpoint and
the command line see an image alike."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import BenchInputError

if TYPE_CHECKING:
    import numpy as np

#: Largest request body read by default (a drawn digit's PNG is a few kilobytes).
MAX_BYTES = 2 * 2**20
#: Most pixels decoded from an upload: a 16-megapixel phone photo, well under bench predict's
#: 64 (an upload is decoded in the ingress replica, beside the other requests).
MAX_PIXELS = 16_000_000


class TooLarge(Exception):
    """A body over the limit (HTTP 413)."""


async def read_limited(declared: str | None, chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """The body whose ``Content-Length`` header is ``declared`` (or None), read from ``chunks``;
    :class:`TooLarge` as soon as the header or the bytes read say it is over ``limit``."""
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise TooLarge(f"the request body is {int(declared):,} bytes, more than the {limit:,} this server reads")
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the request body is more than the {limit:,} bytes this server reads")
        parts.append(chunk)
    return b"".join(parts)


def prepare_upload(data: bytes, specs: dict[str, dict[str, Any]]) -> dict[str, np.ndarray]:
    """The image in ``data`` prepared for each input spec (a model card's ``input``) of
    ``specs``, keyed as ``specs`` is; a :class:`BenchInputError` that says what is wrong with it
    (no body, not an image, too many pixels, no ink)."""
    if not data:
        raise BenchInputError("the request has no body: POST the image's bytes (PNG, JPEG or another format Pillow reads)")
    _check_pixels(data)
    from bench.images_in import prepare

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as folder:
        path = Path(folder) / "upload"
        path.write_bytes(data)
        try:
            return {key: prepare(path, spec) for key, spec in specs.items()}
        except BenchInputError as exc:  # the message names the temporary file: name the upload
            raise BenchInputError(str(exc).replace(str(path), "the upload")) from None


def _check_pixels(data: bytes) -> None:
    """Refuse an image of more than :data:`MAX_PIXELS` from its header, before it is decoded."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except UnidentifiedImageError:
        raise BenchInputError("the upload is not an image Pillow can read (PNG, JPEG, GIF, BMP, TIFF, WebP...)") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise BenchInputError(f"the upload is a damaged or unsupported image ({str(exc)[:160]})") from None
    if width * height > MAX_PIXELS:
        raise BenchInputError(f"the upload is {width}x{height} pixels, more than the {MAX_PIXELS:,} this server decodes")
