"""The formatter: DICOM images + a film spec -> the pixels of every image box.

Pure functions (numpy); the only I/O is reading the source datasets.

Modules, one concept each:

* :mod:`formatter.film` - the FilmSheet contract handed to drivers
* :mod:`formatter.source` - reading and decoding DICOM files, submit-time checks
* :mod:`formatter.imaging` - modality LUT, VOI/window, MONOCHROME1, colour
* :mod:`formatter.geometry` - film sizes, display formats, box rectangles
* :mod:`formatter.resample` - magnification (REPLICATE, BILINEAR, CUBIC)
* :mod:`formatter.pipeline` - :func:`format_film`
* :mod:`formatter.compose` - the whole film as one image (preview)
"""
from .compose import compose
from .film import BoxRect, FilmSheet, ImageBox, PrinterProfile
from .geometry import FILM_SIZES, box_rects, canonical_layout, film_box_count, film_pixels, validate_layout
from .pipeline import MAGNIFICATIONS, format_film
from .source import ImageInfo, UnprintableImage, inspect_image

__all__ = [
    "BoxRect",
    "FILM_SIZES",
    "FilmSheet",
    "ImageBox",
    "ImageInfo",
    "MAGNIFICATIONS",
    "PrinterProfile",
    "UnprintableImage",
    "box_rects",
    "canonical_layout",
    "compose",
    "film_box_count",
    "film_pixels",
    "format_film",
    "inspect_image",
    "validate_layout",
]
