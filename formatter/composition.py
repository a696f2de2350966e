"""Compose a formatted film into one image: what the film will look like.

Used by the preview driver (PNG) and by tests. The result is uint8, (H, W)
grayscale or (H, W, 3) RGB when the sheet is colour or holds an RGB box.

* Each box's pixels are centred in its rectangle (cropped if larger, which
  only happens with magnification NONE).
* 12-bit boxes are scaled to 8 bits (round(v * 255 / 4095)).
* Polarity REVERSE inverts the box (255 - v), as the printer would.
* Grey levels stand for brightness on a light box: 255 is clear film, 0 is
  maximum density (black).
* Border Density fills the film around and between the images, including the
  part of a box an image leaves free (aspect ratio kept); Empty Image Density
  fills boxes that hold no image. Each is ``BLACK`` (the default for both),
  ``WHITE``, or a density in hundredths of optical density, mapped linearly
  between the film's Min Density (default 0, clear) and Max Density (default
  300, black).
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from hcserver.formatter.film import BoxRect, FilmSheet

DEFAULT_DENSITY = "BLACK"
DEFAULT_MIN_DENSITY = 0
DEFAULT_MAX_DENSITY = 300


def density_fraction(value: str | None, min_density: int | None = None,
                     max_density: int | None = None) -> float:
    """Brightness 0..1 (1 = clear film) for a Border/Empty Image Density value.

    Raises ValueError for anything but BLACK, WHITE or a whole number.
    """
    text = (value if value is not None else DEFAULT_DENSITY).strip().upper()
    if text == "BLACK":
        return 0.0
    if text == "WHITE":
        return 1.0
    if not text.isdigit():
        raise ValueError(f"density {value!r}: expected BLACK, WHITE or a density in hundredths of OD")
    low = DEFAULT_MIN_DENSITY if min_density is None else min_density
    high = DEFAULT_MAX_DENSITY if max_density is None else max_density
    if high <= low:
        high = low + 1
    fraction = (int(text) - low) / (high - low)
    return 1.0 - min(1.0, max(0.0, fraction))


def density_level(value: str | None, min_density: int | None = None,
                  max_density: int | None = None) -> int:
    """An 8-bit grey level (255 = clear) for a Border/Empty Image Density value.

    Raises ValueError for anything but BLACK, WHITE or a whole number.
    """
    return int(round(255 * density_fraction(value, min_density, max_density)))


def to_8bit(pixels: np.ndarray) -> np.ndarray:
    """uint8 stays; uint16 holding 0..4095 is scaled to 0..255 with rounding."""
    if pixels.dtype == np.uint8:
        return pixels
    wide = np.minimum(pixels, 4095).astype(np.uint32)
    return ((wide * 255 + 2047) // 4095).astype(np.uint8)


def _place(film: np.ndarray, rect: BoxRect, pixels: np.ndarray) -> None:
    h, w = pixels.shape[:2]
    # Centre; crop the source when it is larger than the box.
    sy = max(0, (h - rect.height) // 2)
    sx = max(0, (w - rect.width) // 2)
    ch, cw = min(h, rect.height), min(w, rect.width)
    y = rect.y + (rect.height - ch) // 2
    x = rect.x + (rect.width - cw) // 2
    region = pixels[sy:sy + ch, sx:sx + cw]
    if film.ndim == 3 and region.ndim == 2:
        region = region[:, :, None]
    film[y:y + ch, x:x + cw] = region


def compose(sheet: FilmSheet) -> np.ndarray:
    """The whole film as uint8 (H, W) grayscale or (H, W, 3) RGB."""
    width, height = sheet.film_pixels
    colour = sheet.color or any(box.pixels.ndim == 3 for box in sheet.boxes)
    shape = (height, width, 3) if colour else (height, width)
    border = density_level(sheet.border_density, sheet.min_density, sheet.max_density)
    empty = density_level(sheet.empty_image_density, sheet.min_density, sheet.max_density)
    film = np.full(shape, border, dtype=np.uint8)
    filled = set()
    for box in sheet.boxes:
        if not 1 <= box.position <= len(sheet.rects):
            raise ValueError(f"image box position {box.position} outside 1..{len(sheet.rects)}")
        filled.add(box.position)
    if empty != border:
        for position, rect in enumerate(sheet.rects, start=1):
            if position not in filled:
                film[rect.y:rect.y + rect.height, rect.x:rect.x + rect.width] = empty
    for box in sheet.boxes:
        pixels = to_8bit(box.pixels)
        if box.polarity == "REVERSE":
            pixels = 255 - pixels
        _place(film, sheet.rects[box.position - 1], pixels)
    return film


def film_png(sheet: FilmSheet) -> bytes:
    """The composed film as a PNG file (what previews are): fast compression, lossless."""
    out = io.BytesIO()
    Image.fromarray(compose(sheet)).save(out, format="PNG", compress_level=1)
    return out.getvalue()
