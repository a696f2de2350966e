"""How big an image is printed: fit to its box, crop (NONE), or true physical size.

The result of sizing is a :class:`Placement`: the printed size in printer
pixels plus the map from image coordinates to those pixels, which overlays,
graphics and the scale bar use to land on the right printer pixels.

Image coordinates follow DICOM graphic annotations (PS3.3 C.10.5.1.2): the
top-left corner of the top-left pixel is (0, 0), its centre (0.5, 0.5), and
the bottom-right corner of the image is (Columns, Rows).

True size
---------
The spacing used is, in this order: Pixel Spacing of the frame (enhanced
images' Pixel Measures), Pixel Spacing, Imager Pixel Spacing, Nominal Scanned
Pixel Spacing. Pixel Spacing is the size in the patient; Imager Pixel Spacing
(projection radiography without a calibrated Pixel Spacing) is the size at the
detector, so such images print at detector scale. Each axis is scaled
separately and rounded to whole printer pixels, so the printed size is within
half a printer pixel of the physical size.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

MM_PER_INCH = 25.4
_SPACING_KEYWORDS = ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing")


def frame_item(ds: Dataset, frame: int, keyword: str) -> Dataset | None:
    """The first item of a functional group macro for ``frame``: per-frame, else shared."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame and frame < len(per_frame):
        seq = per_frame[frame].get(keyword)
        if seq:
            return seq[0]
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        seq = shared[0].get(keyword)
        if seq:
            return seq[0]
    return None


def _pair(source: Dataset | None, keyword: str) -> tuple[float, float] | None:
    """A positive, finite two-valued attribute (e.g. Pixel Spacing row\\column), or None."""
    if source is None:
        return None
    try:
        value = source.get(keyword)
        first, second = float(value[0]), float(value[1])
    except (TypeError, ValueError, IndexError, KeyError, AttributeError):
        return None
    if first > 0 and second > 0 and np.isfinite(first) and np.isfinite(second):
        return first, second
    return None


def physical_spacing(ds: Dataset, frame: int = 0) -> tuple[float, float] | None:
    """(row spacing, column spacing) in mm for true-size printing, or None."""
    sources = [(frame_item(ds, frame, "PixelMeasuresSequence"), "PixelSpacing")]
    sources += [(ds, keyword) for keyword in _SPACING_KEYWORDS]
    for source, keyword in sources:
        pair = _pair(source, keyword)
        if pair is not None:
            return pair
    return None


def pixel_aspect(ds: Dataset, frame: int = 0) -> float:
    """Physical height / width of one pixel (1.0 when unknown).

    From the physical spacing (as for true size), else Pixel Aspect Ratio.
    """
    pair = physical_spacing(ds, frame) or _pair(ds, "PixelAspectRatio")
    if pair is None:
        return 1.0
    ratio = pair[0] / pair[1]
    return ratio if 0.01 <= ratio <= 100 else 1.0


def fit_size(rows: int, columns: int, aspect: float, box_width: int, box_height: int) -> tuple[int, int]:
    """(rows, columns) of an image scaled to fill a box, aspect ratio kept.

    ``aspect`` is the physical height / width of one source pixel.
    """
    tall, wide = rows * aspect, float(columns)
    if box_width * tall <= box_height * wide:        # the width limits
        return min(box_height, max(1, round(tall * box_width / wide))), box_width
    return box_height, min(box_width, max(1, round(wide * box_height / tall)))


def true_size(rows: int, columns: int, spacing_mm: tuple[float, float], dpi: int) -> tuple[int, int]:
    """(rows, columns) in printer pixels of an image printed at its physical size."""
    per_mm = dpi / MM_PER_INCH
    return (max(1, int(np.floor(rows * spacing_mm[0] * per_mm + 0.5))),
            max(1, int(np.floor(columns * spacing_mm[1] * per_mm + 0.5))))


@dataclass(frozen=True)
class Placement:
    """Where the source image lands in the printed pixels.

    Printed pixel coordinates are ``(x - left) * scale_x`` and
    ``(y - top) * scale_y`` for image coordinates (x, y); ``crop`` is the part
    of the image that is printed (magnification NONE may cut the edges off).
    """

    rows: int            # printed size, printer pixels
    columns: int
    scale_x: float       # printer pixels per image pixel
    scale_y: float
    left: int = 0        # first printed image column / row
    top: int = 0
    crop_rows: int = 0   # printed part of the image, image pixels (0: all)
    crop_columns: int = 0

    def point(self, x: float, y: float) -> tuple[float, float]:
        """Image coordinates -> printed pixel coordinates (same corner convention)."""
        return (x - self.left) * self.scale_x, (y - self.top) * self.scale_y

    def crop(self, image: np.ndarray) -> np.ndarray:
        if not self.crop_rows:
            return image
        return image[self.top:self.top + self.crop_rows, self.left:self.left + self.crop_columns]


def place_fitted(rows: int, columns: int, aspect: float, box_width: int, box_height: int) -> Placement:
    """Scaled to fill the box with the aspect ratio kept."""
    out_rows, out_columns = fit_size(rows, columns, aspect, box_width, box_height)
    return Placement(out_rows, out_columns, out_columns / columns, out_rows / rows)


def place_cropped(rows: int, columns: int, box_width: int, box_height: int) -> Placement:
    """One image pixel per printer pixel, the centre kept when the image is larger than the box."""
    out_rows, out_columns = min(rows, box_height), min(columns, box_width)
    top, left = (rows - out_rows) // 2, (columns - out_columns) // 2
    return Placement(out_rows, out_columns, 1.0, 1.0, left, top, out_rows, out_columns)


def place_true_size(rows: int, columns: int, spacing_mm: tuple[float, float], dpi: int) -> Placement:
    """At the physical size given by ``spacing_mm`` (row, column), rounded to printer pixels."""
    out_rows, out_columns = true_size(rows, columns, spacing_mm, dpi)
    return Placement(out_rows, out_columns, out_columns / columns, out_rows / rows)
