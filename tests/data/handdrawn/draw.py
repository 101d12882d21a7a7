"""How the ten hand-drawn digits in this folder were made: each digit's strokes are the points a
pen passes through, written down by hand once (as one writes the digit: a 4 open at the top, a
7 without a cross-bar, a 1 with a flag), joined by a smooth curve and drawn with a thick round pen,
dark on light paper. Each sits off centre on a canvas of its own size, slanted a little, on
paper with an uneven light and a little grain, as a phone photo of a note would give.
They were drawn once and not changed to suit any model; ``python draw.py`` writes them again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

#: Strokes of each digit in a box 0..1 wide and 0..1 tall (y down), as a hand moves the pen.
# fmt: off
STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [[(0.55, 0.05), (0.25, 0.15), (0.1, 0.5), (0.25, 0.88), (0.55, 0.97), (0.82, 0.75), (0.88, 0.35), (0.72, 0.08), (0.5, 0.07)]],
    1: [[(0.3, 0.25), (0.55, 0.05), (0.55, 0.5), (0.53, 0.97)]],
    2: [[(0.12, 0.25), (0.35, 0.05), (0.7, 0.07), (0.8, 0.3), (0.6, 0.6), (0.3, 0.85), (0.1, 0.97), (0.55, 0.93), (0.92, 0.95)]],
    3: [[(0.15, 0.12), (0.5, 0.03), (0.8, 0.18), (0.7, 0.4), (0.4, 0.48), (0.75, 0.58), (0.85, 0.8), (0.55, 0.97), (0.15, 0.88)]],
    4: [[(0.6, 0.03), (0.35, 0.4), (0.1, 0.68), (0.55, 0.68), (0.92, 0.66)], [(0.68, 0.35), (0.66, 0.7), (0.65, 0.98)]],
    5: [[(0.85, 0.05), (0.3, 0.06)], [(0.3, 0.06), (0.24, 0.45), (0.55, 0.4), (0.85, 0.58), (0.82, 0.85), (0.5, 0.97), (0.15, 0.88)]],
    6: [[(0.7, 0.03), (0.4, 0.2), (0.18, 0.55), (0.25, 0.9), (0.55, 0.97), (0.8, 0.78), (0.7, 0.55), (0.4, 0.55), (0.22, 0.7)]],
    7: [[(0.08, 0.1), (0.5, 0.07), (0.92, 0.05), (0.7, 0.35), (0.5, 0.65), (0.4, 0.97)]],
    8: [[(0.7, 0.15), (0.5, 0.03), (0.22, 0.15), (0.3, 0.38), (0.55, 0.5), (0.8, 0.7), (0.6, 0.96), (0.25, 0.9), (0.2, 0.7), (0.45, 0.5), (0.7, 0.32), (0.72, 0.15)]],
    9: [[(0.78, 0.22), (0.55, 0.05), (0.25, 0.15), (0.22, 0.4), (0.5, 0.5), (0.78, 0.3), (0.8, 0.1)], [(0.8, 0.1), (0.76, 0.5), (0.7, 0.97)]],
}
# fmt: on
#: Per digit: canvas (width, height), digit height as a share of it, where its box's centre is
#: (shares of width and height), slant (x moved by this share of the height from top to bottom),
#: pen width as a share of the digit's height, paper and ink grey levels.
LAYOUT = {
    0: ((240, 180), 0.55, (0.35, 0.45), 0.10, 0.09, 225, 40),
    1: ((160, 220), 0.50, (0.62, 0.40), 0.15, 0.08, 215, 55),
    2: ((400, 300), 0.45, (0.30, 0.60), 0.05, 0.07, 235, 30),
    3: ((300, 300), 0.60, (0.60, 0.55), 0.12, 0.10, 205, 50),
    4: ((500, 360), 0.40, (0.70, 0.35), 0.08, 0.08, 230, 35),
    5: ((200, 260), 0.55, (0.40, 0.62), 0.10, 0.09, 220, 45),
    6: ((640, 480), 0.35, (0.30, 0.40), 0.00, 0.07, 238, 25),
    7: ((360, 240), 0.60, (0.55, 0.45), 0.12, 0.08, 210, 60),
    8: ((280, 380), 0.45, (0.45, 0.35), 0.06, 0.09, 228, 40),
    9: ((450, 450), 0.50, (0.62, 0.58), 0.14, 0.08, 218, 50),
}


def smooth(points: list[tuple[float, float]], per_segment: int = 12) -> list[tuple[float, float]]:
    """A Catmull-Rom curve through the points: a hand's stroke has no corners between them."""
    if len(points) < 3:
        return points
    p = np.asarray([points[0], *points, points[-1]], dtype=float)
    out = []
    for i in range(1, len(p) - 2):
        for t in np.linspace(0, 1, per_segment, endpoint=False):
            t2, t3 = t * t, t * t * t
            out.append(
                0.5
                * (
                    2 * p[i]
                    + (-p[i - 1] + p[i + 1]) * t
                    + (2 * p[i - 1] - 5 * p[i] + 4 * p[i + 1] - p[i + 2]) * t2
                    + (-p[i - 1] + 3 * p[i] - 3 * p[i + 1] + p[i + 2]) * t3
                )
            )
    out.append(p[-2])
    return [(float(x), float(y)) for x, y in out]


def draw(digit: int, seed: int) -> Image.Image:
    (width, height), share, (cx, cy), slant, pen, paper, ink = LAYOUT[digit]
    rng = np.random.default_rng(seed)
    size = share * height
    field = np.linspace(0, 1, width)[None, :] * 12 + np.linspace(0, 1, height)[:, None] * 8  # uneven light
    ground = np.clip(paper - field + rng.normal(0, 1.5, (height, width)), 0, 255).astype(np.uint8)
    image = Image.fromarray(ground)
    pencil = ImageDraw.Draw(image)
    for stroke in STROKES[digit]:
        points = []
        for x, y in smooth(stroke):
            x = x * 0.75 * size + slant * (0.5 - y) * size  # digits are narrower than tall; slanted right
            points.append((cx * width + x - 0.375 * size, cy * height + (y - 0.5) * size))
        line_width = max(2, round(pen * size))
        pencil.line(points, fill=ink, width=line_width, joint="curve")
        r = line_width / 2
        for x, y in (points[0], points[-1]):  # round pen ends
            pencil.ellipse((x - r, y - r, x + r, y + r), fill=ink)
    return image.filter(ImageFilter.GaussianBlur(0.8))  # a phone camera's softness


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    for digit in range(10):
        draw(digit, seed=digit).save(here / f"digit-{digit}.png", optimize=True)
