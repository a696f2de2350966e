"""Painting marks (text, graphics, overlay planes) onto an image box's levels.

Marks are painted after windowing and resampling, in the box's output space:
float levels 0..out_max (+0.5, see :mod:`hcserver.formatter.imaging`), grey (H, W) or
RGB (H, W, 3). A mark is a coverage mask (``alpha``, float 0..1, so text
edges stay anti-aliased) blended with its ink:
``levels += (ink - levels) * alpha``.

Inks
----
Every mark has a fill and, unless ``"outline": false``, an outline one or a
few printer pixels wide around it, so it stays legible on any part of the
picture. Default: white fill with a black outline. A mark may give
``"grey": g`` (0 = black .. 1 = white) or ``"color"``: ``"#rrggbb"`` or
``[r, g, b]`` (0..255); on a grayscale film a colour is printed as its
luminance (BT.601). The outline is black for light inks (luminance >= 0.5)
and white for dark ones.

Blocks
------
Annotations and scale bars are blocks anchored at one of :data:`POSITIONS`
of the image, :data:`MARGIN_MM` in from its edges. Blocks at the same
position are stacked in the order given (top to bottom), separated by a
quarter of their text height; ``left``/``right`` stacks are centred
vertically, ``top``/``bottom`` ones horizontally.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

POSITIONS = ("top-left", "top", "top-right", "left", "right", "bottom-left", "bottom", "bottom-right")
MARGIN_MM = 1.5
MM_PER_INCH = 25.4
LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class Ink:
    """Fill and outline colours of a mark, as RGB 0..1 (grey: r = g = b)."""

    fill: tuple[float, float, float] = (1.0, 1.0, 1.0)
    outline: tuple[float, float, float] | None = (0.0, 0.0, 0.0)

    @property
    def coloured(self) -> bool:
        return any(len(set(c)) > 1 for c in (self.fill, self.outline) if c is not None)


def _luma(rgb: tuple[float, float, float]) -> float:
    return float(np.dot(LUMA, rgb))


def ink_from(options: dict) -> Ink:
    """The ink of a normalised mark option (``grey``/``color``/``outline``, see the module doc)."""
    fill: tuple[float, float, float]
    if options.get("color") is not None:
        r, g, b = (float(v) / 255.0 for v in options["color"])
        fill = (r, g, b)
    elif options.get("grey") is not None:
        grey = float(options["grey"])
        fill = (grey, grey, grey)
    else:
        fill = (1.0, 1.0, 1.0)
    outline = None
    if options.get("outline", True):
        outline = (0.0, 0.0, 0.0) if _luma(fill) >= 0.5 else (1.0, 1.0, 1.0)
    return Ink(fill, outline)


def ink_levels(colour: tuple[float, float, float], channels: int, out_max: int) -> np.float32 | np.ndarray:
    """An ink colour as levels (+0.5) for a grey (channels=1, a scalar) or RGB box (an array of 3)."""
    if channels == 1:
        return np.float32(_luma(colour) * out_max + 0.5)
    return np.asarray([c * 255.0 + 0.5 for c in colour], dtype=np.float32)


def stamp(levels: np.ndarray, alpha: np.ndarray, top: int, left: int, value) -> None:
    """Blend ``value`` into ``levels`` where ``alpha`` (placed at top, left) covers it; clipped."""
    h, w = alpha.shape
    y0, x0 = max(0, top), max(0, left)
    y1, x1 = min(levels.shape[0], top + h), min(levels.shape[1], left + w)
    if y1 <= y0 or x1 <= x0:
        return
    a = alpha[y0 - top:y1 - top, x0 - left:x1 - left]
    region = levels[y0:y1, x0:x1]
    if region.ndim == 3:
        a = a[:, :, None]
    region += (value - region) * a


def paint(levels: np.ndarray, fill: np.ndarray, outline: np.ndarray | None, top: int, left: int,
          ink: Ink, out_max: int) -> None:
    """Paint a mark: its outline mask (if any, and if the ink has one), then its fill mask."""
    channels = levels.shape[2] if levels.ndim == 3 else 1
    if outline is not None and ink.outline is not None:
        stamp(levels, outline, top, left, ink_levels(ink.outline, channels, out_max))
    stamp(levels, fill, top, left, ink_levels(ink.fill, channels, out_max))


def dilate(alpha: np.ndarray, radius: int) -> np.ndarray:
    """The mask grown by ``radius`` pixels (a square neighbourhood), same shape: the outline's
    coverage. Callers leave ``radius`` pixels of room around what they drew."""
    if radius < 1:
        return alpha
    return ndimage.maximum_filter(alpha, size=2 * radius + 1, mode="constant")


def px(mm: float, dpi: int, least: int = 1) -> int:
    """Millimetres on the film -> whole printer pixels (at least ``least``)."""
    return max(least, int(round(mm * dpi / MM_PER_INCH)))


@dataclass(frozen=True)
class Block:
    """A rectangular mark placed by position: its fill and outline masks (same shape)."""

    fill: np.ndarray
    outline: np.ndarray | None
    ink: Ink
    gap: int = 0            # space to the next block of the same stack, pixels

    @property
    def height(self) -> int:
        return self.fill.shape[0]

    @property
    def width(self) -> int:
        return self.fill.shape[1]


def paint_blocks(levels: np.ndarray, blocks: list[tuple[str, Block]], dpi: int, out_max: int) -> list[str]:
    """Paint blocks at their positions, stacked per position. Returns notes for clipped blocks."""
    rows, columns = levels.shape[:2]
    margin = px(MARGIN_MM, dpi)
    notes = []
    for at in POSITIONS:
        stack = [block for where, block in blocks if where == at]
        if not stack:
            continue
        vertical, _, horizontal = at.partition("-") if "-" in at else (
            (at, "", "center") if at in ("top", "bottom") else ("middle", "", at))
        total = sum(b.height for b in stack) + sum(b.gap for b in stack[:-1])
        if vertical == "top":
            y = margin
        elif vertical == "bottom":
            y = rows - margin - total
        else:
            y = (rows - total) // 2
        for block in stack:
            if horizontal == "left":
                x = margin
            elif horizontal == "right":
                x = columns - margin - block.width
            else:
                x = (columns - block.width) // 2
            if x < 0 or y < 0 or x + block.width > columns or y + block.height > rows:
                notes.append(f"{at} mark clipped: {block.width} x {block.height} printer pixels on an "
                             f"image of {columns} x {rows}")
            paint(levels, block.fill, block.outline, y, x, block.ink, out_max)
            y += block.height + block.gap
    return notes
