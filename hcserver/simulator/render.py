"""The PNG of a printed film: the image boxes composed on a sheet, to eyeball."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from hcserver.simulator.layout import film_size_mm
from hcserver.simulator.state import AssocState, FilmBox, ImageBox

SHEET_LONG_SIDE_PX = 1024     # size of the film PNG's long side


def render_film(st: AssocState, fb: FilmBox) -> Image.Image:
    """The film as a picture: its image boxes composed on a sheet of its size and orientation."""
    a = fb.attrs
    w_mm, h_mm = film_size_mm(str(a.get("FilmSizeID") or "8INX10IN")) or (203.2, 254.0)
    if str(a.get("FilmOrientation") or "PORTRAIT").upper() == "LANDSCAPE":
        w_mm, h_mm = h_mm, w_mm
    scale = SHEET_LONG_SIDE_PX / max(w_mm, h_mm)
    width, height = max(1, round(w_mm * scale)), max(1, round(h_mm * scale))

    def density(name: str) -> int:
        return 255 if str(a.get(name) or "BLACK").upper() == "WHITE" else 0

    mode = "RGB" if fb.color else "L"
    border = density("BorderDensity")
    empty = density("EmptyImageDensity")
    sheet = Image.new(mode, (width, height), (border,) * 3 if mode == "RGB" else border)
    draw = ImageDraw.Draw(sheet)
    for ib_uid, (x, y, w, h) in zip(fb.image_boxes, fb.rects):
        x0, y0 = math.floor(x * width), math.floor(y * height)
        x1, y1 = math.floor((x + w) * width), math.floor((y + h) * height)
        cw, ch = max(1, x1 - x0 - 2), max(1, y1 - y0 - 2)
        cell = Image.new(mode, (cw, ch), (empty,) * 3 if mode == "RGB" else empty)
        ib = st.image_boxes[ib_uid]
        if ib.pixels is not None and ib.info is not None:
            img = _to_image(ib).convert(mode)
            f = min(cw / img.width, ch / img.height)
            size = (max(1, int(img.width * f)), max(1, int(img.height * f)))
            img = img.resize(size, Image.Resampling.BILINEAR)
            cell.paste(img, ((cw - size[0]) // 2, (ch - size[1]) // 2))
        sheet.paste(cell, (x0 + 1, y0 + 1))
        # a faint outline, so that empty boxes show on a black sheet
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=(64,) * 3 if mode == "RGB" else 64)
    return sheet


def _to_image(ib: ImageBox) -> Image.Image:
    """An image box's pixels as 8-bit grayscale or RGB, as the film shows them."""
    info = ib.info
    assert info is not None and ib.pixels is not None
    rows, cols = info["rows"], info["columns"]
    if info["samples_per_pixel"] == 3:
        arr = np.frombuffer(ib.pixels, dtype=np.uint8)
        if info["planar_configuration"] == 1:
            arr = arr.reshape(3, rows, cols).transpose(1, 2, 0)
        else:
            arr = arr.reshape(rows, cols, 3)
        out = np.ascontiguousarray(arr)
    else:
        if info["bits_allocated"] == 16:
            arr = np.frombuffer(ib.pixels, dtype="<u2").reshape(rows, cols)
            bs = info["bits_stored"]
            arr = (arr & ((1 << bs) - 1)) >> max(0, bs - 8)
            out = arr.astype(np.uint8)
        else:
            out = np.frombuffer(ib.pixels, dtype=np.uint8).reshape(rows, cols).copy()
        if info["photometric_interpretation"] == "MONOCHROME1":
            out = 255 - out
    if info["polarity"] == "REVERSE":
        out = 255 - out
    return Image.fromarray(out, "RGB" if out.ndim == 3 else "L")
