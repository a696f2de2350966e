"""What the formatter hands to a driver: one film, fully formatted.

A :class:`FilmSheet` is the contract between ``formatter`` and ``drivers``. It
holds the film box attributes and, per image box, exactly the pixels the
printer will receive. Drivers never look at DICOM source images.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:   # only an annotation here: the vocabulary modules stay free of numpy
    import numpy as np

    from hcserver.formatter.plut import PresentationLUT


#: The default budget of one image, in pixel samples: Rows x Columns x Number of Frames x Samples
#: per Pixel (an RGB pixel counts three), checked from its header before anything is decoded.
#: The server passes its ``max_image_pixels``.
MAX_IMAGE_PIXELS = 64 << 20


@dataclass(frozen=True)
class PrinterProfile:
    """The printer facts the formatter needs (a subset of the printer config)."""

    dpi: int = 320
    bit_depth: int = 8          # 8 or 12 (12-bit pixels travel in uint16)
    color: bool = False
    magnification: str = "CUBIC"  # REPLICATE, BILINEAR, CUBIC, NONE
    max_pixels: int = MAX_IMAGE_PIXELS     # the budget of each image (see MAX_IMAGE_PIXELS)
    compose: bool = False       # compose every film into one STANDARD\1,1 box, as CUSTOM films are
    notes: tuple[str, ...] = ()  # said of every film before the formatter's own notes (how it was fitted)
    burn_presentation_lut: bool = False   # apply the film's Presentation LUT to the pixels (none is sent)


@dataclass(frozen=True)
class BoxRect:
    """An image box's place on the composed film, in printer pixels."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class ImageBox:
    """One image box: its 1-based position and the pixels sent for it.

    ``pixels`` is (rows, cols) uint8 for 8-bit grayscale, (rows, cols) uint16
    holding 0..4095 for 12-bit grayscale, or (rows, cols, 3) uint8 RGB.
    """

    position: int
    pixels: np.ndarray
    polarity: str = "NORMAL"
    magnification: str | None = None
    smoothing: str | None = None
    requested_image_size_mm: float | None = None


@dataclass(frozen=True)
class FilmSheet:
    """One formatted film: film box attributes, box geometry and box pixels.

    ``boxes`` may hold fewer entries than ``rects`` (empty boxes on the last
    film); ``boxes[i].position`` indexes ``rects`` (1-based).
    """

    index: int                    # 0-based film number within the job
    display_format: str           # e.g. "STANDARD\\2,2"
    film_size: str                # e.g. "14INX17IN"
    orientation: str              # PORTRAIT or LANDSCAPE
    film_pixels: tuple[int, int]  # (width, height) of the whole film at the printer dpi
    rects: tuple[BoxRect, ...]
    boxes: tuple[ImageBox, ...]
    bit_depth: int = 8
    color: bool = False
    magnification: str | None = None
    smoothing: str | None = None
    border_density: str | None = None
    empty_image_density: str | None = None
    min_density: int | None = None
    max_density: int | None = None
    trim: str | None = None
    configuration_information: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)  # formatter warnings (e.g. colour→grey)
    annotation_boxes: tuple[str, ...] = ()  # texts for the printer's Basic Annotation Boxes, in position order
    presentation_lut: PresentationLUT | None = None   # the film's own, to send (None: not asked, or burnt in)
