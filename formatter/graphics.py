"""Graphics in image pixel coordinates, and the scale bar, painted at film resolution.

Shapes (coordinates as in DICOM graphic annotations: (0, 0) is the top-left
corner of the image, (Columns, Rows) its bottom-right corner, x to the right):

* ``{"type": "line", "points": [[x0, y0], [x1, y1]]}``
* ``{"type": "polyline", "points": [[x, y], ...], "closed": false}`` (2 or more points)
* ``{"type": "rectangle", "points": [[x0, y0], [x1, y1]]}`` (two opposite corners)
* ``{"type": "ellipse", "center": [x, y], "radii": [rx, ry]}``

Lines are ``width_mm`` wide on the film (default :data:`DEFAULT_WIDTH_MM`,
at least one printer pixel), drawn with the mark's ink and outline (see
:mod:`hcserver.formatter.paint`). Shapes follow the image wherever it is printed:
scaled with it, cut with it by magnification NONE.

``{"type": "scale-bar", "length_mm": 50, "at": "bottom-right"}`` draws a bar
that is ``length_mm`` long *in the patient* (the image's pixel spacing, as for
true size), with end ticks and its length written above it (text ``size_mm``
tall, default as annotations). It is placed like an annotation, in the stack
of its position.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from hcserver.formatter.annotations import DEFAULT_SIZE_MM, text_masks
from hcserver.formatter.paint import Block, Ink, dilate, paint, px
from hcserver.formatter.sizing import Placement

DEFAULT_WIDTH_MM = 0.35
SHAPES = ("line", "polyline", "rectangle", "ellipse")
SCALE_BAR = "scale-bar"
GRAPHIC_TYPES = SHAPES + (SCALE_BAR,)


def _outline_px(width: int) -> int:
    return max(1, round(width / 3))


def draw_shape(levels: np.ndarray, graphic: dict, placement: Placement, dpi: int, ink: Ink,
               out_max: int) -> None:
    """Paint one normalised shape onto the box levels."""
    width = px(graphic.get("width_mm") or DEFAULT_WIDTH_MM, dpi)
    outline = _outline_px(width) if ink.outline is not None else 0
    if graphic["type"] == "ellipse":
        (cx, cy), (rx, ry) = placement.point(*graphic["center"]), graphic["radii"]
        rx, ry = rx * placement.scale_x, ry * placement.scale_y
        points = [(cx - rx, cy - ry), (cx + rx, cy + ry)]
    else:
        points = [placement.point(x, y) for x, y in graphic["points"]]
        if graphic["type"] == "rectangle":
            (x0, y0), (x1, y1) = points
            points = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
        elif graphic.get("closed"):
            points = points + points[:1]
    rows, columns = levels.shape[:2]
    reach = width // 2 + outline + 2
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    left = max(0, int(np.floor(min(xs))) - reach)
    top = max(0, int(np.floor(min(ys))) - reach)
    right = min(columns, int(np.ceil(max(xs))) + reach)
    bottom = min(rows, int(np.ceil(max(ys))) + reach)
    if right <= left or bottom <= top:
        return          # entirely outside the printed part of the image
    mask = Image.new("L", (right - left, bottom - top))
    draw = ImageDraw.Draw(mask)
    # Printed coordinates put pixel i's centre at i + 0.5; Pillow puts it at i.
    local = [(x - left - 0.5, y - top - 0.5) for x, y in points]
    if graphic["type"] == "ellipse":
        (x0, y0), (x1, y1) = local
        grow = (width - 1) / 2      # Pillow draws the ellipse's width inwards: centre it on the path
        draw.ellipse([x0 - grow, y0 - grow, x1 + grow, y1 + grow], outline=255, width=width)
    else:
        draw.line(local, fill=255, width=width, joint="curve")
    fill = np.asarray(mask, dtype=np.float32) / 255.0
    paint(levels, fill, dilate(fill, outline) if outline else None, top, left, ink, out_max)


def scale_bar_block(graphic: dict, spacing_mm: tuple[float, float], placement: Placement, dpi: int,
                    ink: Ink) -> Block:
    """The scale bar as a block: the length label above a bar with end ticks."""
    length = graphic["length_mm"]
    bar = max(1, int(round(length / spacing_mm[1] * placement.scale_x)))
    thick = px(0.5, dpi, least=2)
    tick = 3 * thick
    outline = max(1, thick // 2) if ink.outline is not None else 0
    cap = px(graphic.get("size_mm") or DEFAULT_SIZE_MM, dpi, least=4)
    label_fill, label_outline = text_masks(f"{length:g} mm", cap, "center", outline)
    gap = max(1, cap // 4)
    width = max(bar + 2 * outline, label_fill.shape[1])
    height = label_fill.shape[0] + gap + tick + 2 * outline
    fill = np.zeros((height, width), np.float32)
    lx = (width - label_fill.shape[1]) // 2
    fill[:label_fill.shape[0], lx:lx + label_fill.shape[1]] = label_fill
    x0 = (width - bar) // 2
    base = label_fill.shape[0] + gap + outline
    fill[base + tick - thick:base + tick, x0:x0 + bar] = 1.0           # the bar
    fill[base:base + tick, x0:x0 + thick] = 1.0                         # its end ticks
    fill[base:base + tick, x0 + bar - thick:x0 + bar] = 1.0
    stroke = None
    if outline:
        stroke = dilate(fill, outline)
        stroke[:label_outline.shape[0], lx:lx + label_outline.shape[1]] = np.maximum(
            stroke[:label_outline.shape[0], lx:lx + label_outline.shape[1]], label_outline)
    return Block(fill, stroke, ink, gap=gap)
