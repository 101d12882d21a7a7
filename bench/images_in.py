"""Image files read with Pillow and prepared the way a run's dataset was made, so a saved model
sees a photo or drawing as it saw its test set.

* ``mnist``: MNIST's own procedure. Grey, inverted when the background is light, the
  background level taken away, cropped to the ink, scaled to fit a 20x20 box keeping its aspect
  ratio, and placed in 28x28 with its centre of mass at the centre (pixel 14, 14).
* ``digits``: scikit-learn's digits (UCI optdigits) were 32x32 bitmaps of a size-normalised
  digit, counted in 4x4 blocks: the ink is fitted into 32x32, centred, and averaged over 4x4
  blocks into 8x8 levels of 0 to 16.
* ``resize``, any other dataset: grey or colour as the dataset is, inverted to match the
  dataset's background, fitted into its image shape keeping the aspect ratio and centred.

The card of each saved model names the preparation and the dataset's background
(:func:`input_description`), so ``bench predict`` needs nothing but the run folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.errors import BenchInputError

if TYPE_CHECKING:
    from bench.datasets import LoadedDataset

#: Largest image file read, and most pixels decoded: a phone photo is well under both.
MAX_IMAGE_BYTES = 32 * 2**20
MAX_IMAGE_PIXELS = 64_000_000
#: Datasets with a preparation of their own; any other is "resize".
PREPARATIONS = {"mnist": "mnist", "digits": "digits"}
#: Least difference between ink and background; noise floor in median absolute deviations of the
#: border; what counts as a stroke, a speck (a fraction of the largest stroke's area), and the
#: margin kept around the strokes for their faint edges.
MIN_CONTRAST, NOISE_MADS, STROKE, SPECK, MARGIN = 0.1, 4.5, 0.3, 0.05, 2
#: Percentile of the darkest and lightest pixels compared with the background to tell the ink's
#: polarity: a few specks do not decide it, a thin pen line on a large canvas still does.
EXTREME = 0.01
#: MNIST's strokes are 2.8 pixels wide in its 20-pixel box (median over 2,000 training images,
#: 2.2 to 4.0 between the 10th and 90th percentiles): a large drawing's strokes are thickened to
#: at least this fraction of its longer side, at a working size of this many boxes.
STROKE_WIDTH, WORK_SIDES = 0.12, 8
#: MNIST's digit box and field, and the field's centre its centre of mass is moved to.
MNIST_BOX, MNIST_FIELD, MNIST_CENTRE = 20, 28, 14.0
#: optdigits' bitmap side and block side (32 / 4 = 8).
DIGITS_BITMAP, DIGITS_BLOCK, DIGITS_LEVELS = 32, 4, 16


def input_description(loaded: LoadedDataset) -> dict[str, Any]:
    """What a model card says about its input: shape (channels, height, width), how an image is
    prepared for it, and the dataset's background (from its training images' borders)."""
    channels = int(getattr(loaded, "channels", 1))
    height, width = (int(v) for v in loaded.image_shape)
    return {
        "shape": [channels, height, width],
        "pixels": "float32 rows in [0, 1], channel-first",
        "preparation": PREPARATIONS.get(loaded.name, "resize"),
        "background": background(loaded.X_train[:2000], channels, height, width),
    }


def background(X: np.ndarray, channels: int, height: int, width: int) -> str:
    """ "dark" or "light": the median of the border pixels of training images ``X``."""
    images = np.asarray(X, dtype=np.float32).reshape(len(X), channels, height, width)
    border = np.concatenate(
        [images[..., 0, :].ravel(), images[..., -1, :].ravel(), images[..., :, 0].ravel(), images[..., :, -1].ravel()]
    )
    return "light" if border.size and float(np.median(border)) > 0.5 else "dark"


# ----------------------------------------------------------------------------------- reading
def read_image(path: Path, colour: bool = False) -> np.ndarray:
    """The image at ``path`` as floats in [0, 1]: (height, width), or (height, width, 3) when
    ``colour``. Upright as the camera held it (EXIF orientation); transparency laid on white
    (a drawing on a transparent canvas is dark ink on a light ground)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    from bench.safe_io import check_regular, human

    size = check_regular(path).st_size
    if size > MAX_IMAGE_BYTES:
        raise BenchInputError(f"{path} is {human(size)}, more than the {human(MAX_IMAGE_BYTES)} bench reads from an image")
    try:
        with Image.open(path) as opened:
            if opened.width * opened.height > MAX_IMAGE_PIXELS:
                raise BenchInputError(
                    f"{path} is {opened.width}x{opened.height} pixels, more than the {MAX_IMAGE_PIXELS:,} bench reads"
                )
            opened.load()
            image = ImageOps.exif_transpose(opened)
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                rgba = image.convert("RGBA")
                image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
            pixels = _pixels(image, colour)
    except BenchInputError:
        raise
    except UnidentifiedImageError:
        raise BenchInputError(f"{path} is not an image Pillow can read (PNG, JPEG, GIF, BMP, TIFF, WebP...)") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise BenchInputError(f"{path} is a damaged or unsupported image ({str(exc)[:160]})") from None
    return pixels


def _pixels(image: Any, colour: bool) -> np.ndarray:
    """An opened image as floats in [0, 1]; 16-bit and 32-bit grey scaled by their own range
    (Pillow's conversion to 8 bits would clip them)."""
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        grey = np.asarray(image, dtype=np.float64)
        top = float(grey.max(initial=0.0))
        grey = np.clip(grey / (65535.0 if top > 255 else 255.0 if top > 1 else 1.0), 0.0, 1.0)
        return np.repeat(grey[..., None], 3, axis=2) if colour else grey
    return np.asarray(image.convert("RGB" if colour else "L"), dtype=np.float64) / 255.0


def prepare(path: Path, spec: dict[str, Any]) -> np.ndarray:
    """The image at ``path`` as one row of the model's input (card ``input``: shape,
    preparation, background), float32 in [0, 1]."""
    channels, height, width = spec["shape"]
    kind = spec.get("preparation", "resize")
    if kind in ("mnist", "digits"):
        ink = ink_image(read_image(path), path)
        out = mnist_field(ink, path) if kind == "mnist" else digits_levels(ink, path)
        if out.shape != (height, width):
            raise BenchInputError(f"{path}: the {kind} preparation gives {out.shape}, but the model takes {height}x{width}")
        return out.astype(np.float32).ravel()
    return resized(read_image(path, colour=channels == 3), spec).astype(np.float32).ravel()


# ------------------------------------------------------------------------------ preparations
def ink_image(grey: np.ndarray, where: Path | str = "image") -> np.ndarray:
    """Ink bright on a zero background: inverted when the background (the border's median) is
    lighter than the ink (the image strays further below it than above: paper in dim light is
    light though under 0.5), the background's level taken away and the brightest ink stretched
    to 1, and what is no brighter than the border's noise (its median absolute deviation, robust
    to strokes that touch the border) set to 0. A clean MNIST image comes back unchanged."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    level = float(np.median(border))
    darkest, lightest = np.percentile(grey, [EXTREME, 100 - EXTREME])
    if max(level - darkest, lightest - level) < MIN_CONTRAST:  # so little ink that the percentiles miss it
        darkest, lightest = grey.min(), grey.max()
    if level - darkest > lightest - level:
        grey, border, level = 1.0 - grey, 1.0 - border, 1.0 - level
    peak = float(grey.max())
    if peak - level < MIN_CONTRAST:
        raise BenchInputError(f"{where}: no ink found (the image is one flat shade)")
    ink = np.clip((grey - level) / (peak - level), 0.0, 1.0)
    stretched = np.clip((border - level) / (peak - level), 0.0, 1.0)
    ink[ink <= NOISE_MADS * float(np.median(np.abs(stretched - np.median(stretched))))] = 0.0
    return ink


def crop(ink: np.ndarray, where: Path | str = "image") -> np.ndarray:
    """The box around the digit: the strokes (pixels above :data:`STROKE`, less specks under
    :data:`SPECK` of the largest stroke's area), grown by :data:`MARGIN` pixels for their
    anti-aliased edges, then shrunk to the non-zero pixels inside."""
    from scipy import ndimage

    labels, count = ndimage.label(ink > STROKE)
    if count == 0:
        raise BenchInputError(f"{where}: no ink found (no stroke stands out from the background)")
    areas = np.bincount(labels.ravel())[1:]
    strokes = np.isin(labels, 1 + np.flatnonzero(areas >= SPECK * areas.max()))
    rows, cols = np.flatnonzero(strokes.any(axis=1)), np.flatnonzero(strokes.any(axis=0))
    top, left = max(0, rows[0] - MARGIN), max(0, cols[0] - MARGIN)
    window = ink[top : rows[-1] + 1 + MARGIN, left : cols[-1] + 1 + MARGIN]
    rows, cols = np.flatnonzero(window.any(axis=1)), np.flatnonzero(window.any(axis=0))
    return window[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def fit(ink: np.ndarray, box: int) -> np.ndarray:
    """``ink`` scaled (anti-aliased) so its longer side is ``box`` pixels, keeping its aspect
    ratio; unchanged when it already is. A drawing more than twice that size is first brought to
    :data:`WORK_SIDES` boxes and its strokes :func:`thickened`; a scaled image's brightest pixel
    is set back to 1, so thin strokes on a large canvas do not fade."""
    side = max(ink.shape)
    if side == box:
        return ink
    if side > 2 * box:
        ink = thickened(_scaled(ink, min(1.0, WORK_SIDES * box / side)))
    return _scaled(ink, box / max(ink.shape))


def _scaled(ink: np.ndarray, scale: float) -> np.ndarray:
    from PIL import Image

    if scale == 1.0:
        return ink
    size = (max(1, round(ink.shape[1] * scale)), max(1, round(ink.shape[0] * scale)))
    scaled = np.clip(np.asarray(Image.fromarray(ink.astype(np.float32)).resize(size, Image.Resampling.LANCZOS)), 0.0, None)
    return np.clip(scaled / max(float(scaled.max()), 1e-6), 0.0, 1.0)


def thickened(ink: np.ndarray) -> np.ndarray:
    """Strokes at least :data:`STROKE_WIDTH` of the drawing's longer side wide, as MNIST's are: a
    pen line on a large canvas would otherwise shrink to a faint hair. The width is estimated as
    twice the ink's area over its edge's length."""
    from scipy import ndimage

    mask = ink > 0.5
    edge = mask & ~ndimage.binary_erosion(mask)
    target = STROKE_WIDTH * max(ink.shape)
    width = 2 * float(mask.sum()) / max(float(edge.sum()), 1.0)
    if not edge.any() or width >= target:
        return ink
    radius = int(np.ceil((target - width) / 2))
    rows, cols = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    return ndimage.grey_dilation(ink, footprint=rows * rows + cols * cols <= radius * radius)


def mnist_field(ink: np.ndarray, where: Path | str = "image") -> np.ndarray:
    """MNIST's procedure on an :func:`ink_image`: fitted into 20x20, centre of mass at (14, 14) in 28x28."""
    from scipy import ndimage

    digit = fit(crop(ink, where), MNIST_BOX)
    rows, cols = ndimage.center_of_mass(digit)
    height, width = digit.shape
    top = int(np.clip(round(MNIST_CENTRE - rows), 0, MNIST_FIELD - height))
    left = int(np.clip(round(MNIST_CENTRE - cols), 0, MNIST_FIELD - width))
    field = np.zeros((MNIST_FIELD, MNIST_FIELD))
    field[top : top + height, left : left + width] = digit
    return field


def digits_levels(ink: np.ndarray, where: Path | str = "image") -> np.ndarray:
    """optdigits' procedure on an :func:`ink_image`: fitted into 32x32, centred, 4x4 block
    means as 0-16 levels (scaled to [0, 1] as bench's digits are)."""
    digit = fit(crop(ink, where), DIGITS_BITMAP)
    height, width = digit.shape
    bitmap = np.zeros((DIGITS_BITMAP, DIGITS_BITMAP))
    top, left = (DIGITS_BITMAP - height) // 2, (DIGITS_BITMAP - width) // 2
    bitmap[top : top + height, left : left + width] = digit
    side = DIGITS_BITMAP // DIGITS_BLOCK
    blocks = bitmap.reshape(side, DIGITS_BLOCK, side, DIGITS_BLOCK).mean(axis=(1, 3))
    return np.round(blocks * DIGITS_LEVELS) / DIGITS_LEVELS


def resized(image: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """Any other dataset: inverted to its background, fitted into its shape keeping the aspect
    ratio on a field of its background, channel-first."""
    from PIL import Image

    channels, height, width = spec["shape"]
    dark = spec.get("background", "dark") == "dark"
    grey = image if image.ndim == 2 else image.mean(axis=2)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    if (np.median(border) > 0.5) == dark:
        image = 1.0 - image
    scale = min(height / image.shape[0], width / image.shape[1])
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    planes = image[..., None] if image.ndim == 2 else image
    field = np.full((channels, height, width), 0.0 if dark else 1.0)
    top, left = (height - size[1]) // 2, (width - size[0]) // 2
    for c in range(channels):
        plane = Image.fromarray(planes[..., c].astype(np.float32)).resize(size, Image.Resampling.LANCZOS)
        field[c, top : top + size[1], left : left + size[0]] = np.clip(np.asarray(plane), 0.0, 1.0)
    return field
