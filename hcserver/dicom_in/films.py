"""What a print association builds, and how it becomes a job: the film session, its film
boxes and their image boxes; the film box attributes a printer checks; an image box's pixels as
a small DICOM image in the spool; a film box as a film of a job spec.

A film keeps what the modality asked for: the film box attributes as they came, each image
box's pixels at its position with its polarity and requested size, and a window that maps the
pixels one for one (``identity_window``) at their own size (the frame option ``native_size``).
The formatter then changes the pixels only where the target printer needs it: another dpi (an
image larger than its box at the printer's resolution is fitted), another bit depth (12-bit
pixels for an 8-bit printer), or a display format the printer lacks (the film is composed
into one image box, a CUSTOM film, with every box where the display format puts it).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

from hcserver import formatter
from hcserver.config import PrinterConfig
from hcserver.dicom_in.intake import Refused, file_bytes
from hcserver.dicom_in.sop import (
    COLOR_IMAGE_BOX,
    IMAGE_TOO_LARGE,
    INVALID_ATTRIBUTE_VALUE,
    MISSING_ATTRIBUTE,
    MISSING_ATTRIBUTE_VALUE,
)
from hcserver.formatter.geometry import FILM_SIZES, MAGNIFICATIONS, ORIENTATIONS, box_rects

CUSTOM_DPI = 254        # box rectangles are worked out at 10 pixels per mm when a film is composed
ANNOTATION_BOXES = 6    # Basic Annotation Boxes created for a film box that names an Annotation Display Format
MAX_COPIES = 99         # as hcq submit (hcserver.jobspec)
PRIORITIES = {"HIGH": "high", "MED": "med", "LOW": "low"}

#: Attributes a Print SCU may give, by SOP class (PS3.4 H.4); others get 0x0105. Private
#: attributes (odd groups) are ignored.
SESSION_ATTRIBUTES = {"NumberOfCopies", "PrintPriority", "MediumType", "FilmDestination", "FilmSessionLabel",
                      "MemoryAllocation", "OwnerID", "ReferencedPresentationLUTSequence", "Illumination",
                      "ReflectedAmbientLight", "SpecificCharacterSet"}
FILM_BOX_ATTRIBUTES = {"ImageDisplayFormat", "FilmOrientation", "FilmSizeID", "MagnificationType",
                       "SmoothingType", "BorderDensity", "EmptyImageDensity", "MinDensity", "MaxDensity", "Trim",
                       "ConfigurationInformation", "RequestedResolutionID", "AnnotationDisplayFormatID",
                       "ReferencedFilmSessionSequence", "ReferencedPresentationLUTSequence", "Illumination",
                       "ReflectedAmbientLight", "SpecificCharacterSet"}
IMAGE_BOX_ATTRIBUTES = {"ImageBoxPosition", "Polarity", "MagnificationType", "SmoothingType",
                        "ConfigurationInformation", "RequestedImageSize", "RequestedDecimateCropBehavior",
                        "BasicGrayscaleImageSequence", "BasicColorImageSequence", "SpecificCharacterSet"}


@dataclass
class ImageBox:
    uid: str
    film_box: str
    position: int
    sop_class: str
    digest: str | None = None           # the pixels, as an image in the spool
    bits: int = 8                       # Bits Stored of the pixels (the identity window's range)
    polarity: str = "NORMAL"
    requested_size_mm: float | None = None
    magnification: str | None = None    # the box's own, else the film box's
    smoothing: str | None = None


@dataclass
class FilmBox:
    uid: str
    session: str
    film: dict[str, Any]                # film options of a job spec, but the frames
    image_boxes: list[str] = field(default_factory=list)
    annotation_boxes: list[str] = field(default_factory=list)


@dataclass
class FilmSession:
    uid: str
    job: dict[str, Any]                 # job-level fields of a job spec: copies, priority, ...
    film_boxes: list[str] = field(default_factory=list)


def unknown_attribute(ds: Dataset, allowed: set[str]) -> str | None:
    """The keyword (or tag) of the first attribute of ``ds`` outside ``allowed``, or None."""
    for elem in ds:
        if elem.tag.group == 0 or elem.tag.group % 2 == 1:
            continue
        if elem.keyword not in allowed:
            return elem.keyword or str(elem.tag)
    return None


def _text(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    return str(value).strip().upper() or None


def _whole(ds: Dataset, keyword: str, low: int, high: int) -> int | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Refused(INVALID_ATTRIBUTE_VALUE, f"{keyword} {value!r} is not a number") from None
    if not low <= number <= high:
        raise Refused(INVALID_ATTRIBUTE_VALUE, f"{keyword} must be {low} to {high}")
    return number


def _allowed(keyword: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    if value is not None and allowed and value not in allowed:
        raise Refused(INVALID_ATTRIBUTE_VALUE, f"{keyword} {value} not supported")
    return value


def session_job(attrs: Dataset, printer: PrinterConfig, route_priority: str | None) -> dict[str, Any]:
    """The job-level fields from a film session's attributes, checked as the printer would."""
    copies = _whole(attrs, "NumberOfCopies", 1, MAX_COPIES)
    priority = _text(attrs, "PrintPriority")
    if priority is not None and priority not in PRIORITIES:
        raise Refused(INVALID_ATTRIBUTE_VALUE, "Print Priority must be HIGH, MED or LOW")
    label = attrs.get("FilmSessionLabel")
    label = str(label).strip()[:64] if label else None
    if label and not (label.isascii() and label.isprintable()):
        label = label.encode("ascii", "replace").decode().replace("?", "_")
    return {
        "printer": printer.name,
        "copies": copies,
        "priority": route_priority or (PRIORITIES[priority] if priority else None),
        "medium_type": _allowed("Medium Type", _text(attrs, "MediumType"), printer.medium_types),
        "film_destination": _allowed("Film Destination", _text(attrs, "FilmDestination"), printer.film_destinations),
        "label": label or None,
    }


def magnification_type(attrs: Dataset, printer: PrinterConfig) -> str | None:
    """A film box's or image box's Magnification Type, if it is one the printer takes."""
    magnification = _text(attrs, "MagnificationType")
    if magnification is not None and (magnification not in MAGNIFICATIONS or (
            printer.magnification_types and magnification not in printer.magnification_types)):
        raise Refused(INVALID_ATTRIBUTE_VALUE, f"Magnification Type {magnification} not supported")
    return magnification


def smoothing(attrs: Dataset, printer: PrinterConfig) -> str | None:
    """A film box's or image box's Smoothing Type, if it is one the printer takes."""
    return _allowed("Smoothing Type", _text(attrs, "SmoothingType"), printer.smoothing_types)


def film_options(attrs: Dataset, printer: PrinterConfig) -> dict[str, Any]:
    """The film options from a film box's attributes, checked as the printer would: a missing
    display format is 0x0120, a value the printer does not take 0x0106."""
    layout = attrs.get("ImageDisplayFormat")
    if "ImageDisplayFormat" not in attrs:
        raise Refused(MISSING_ATTRIBUTE, "Image Display Format missing")
    if not layout:
        raise Refused(MISSING_ATTRIBUTE_VALUE, "Image Display Format empty")
    defaults = printer.defaults
    orientation = _text(attrs, "FilmOrientation") or defaults.orientation or "PORTRAIT"
    if orientation not in ORIENTATIONS:
        raise Refused(INVALID_ATTRIBUTE_VALUE, "Film Orientation must be PORTRAIT or LANDSCAPE")
    film_size = _text(attrs, "FilmSizeID") or defaults.film_size or (printer.film_sizes or ("14INX17IN",))[0]
    if film_size not in FILM_SIZES or (printer.film_sizes and film_size not in printer.film_sizes):
        raise Refused(INVALID_ATTRIBUTE_VALUE, f"Film Size ID {film_size} not supported")
    magnification = magnification_type(attrs, printer)
    trim = _text(attrs, "Trim")
    if trim is not None and trim not in ("YES", "NO"):
        raise Refused(INVALID_ATTRIBUTE_VALUE, "Trim must be YES or NO")
    film = {
        "film_size": film_size, "orientation": orientation, "layout": str(layout).strip(),
        "magnification": magnification, "smoothing": smoothing(attrs, printer),
        "border_density": _text(attrs, "BorderDensity"), "empty_image_density": _text(attrs, "EmptyImageDensity"),
        "min_density": _whole(attrs, "MinDensity", 0, 65535), "max_density": _whole(attrs, "MaxDensity", 0, 65535),
        "trim": trim,
        "configuration_information": str(attrs.get("ConfigurationInformation") or "").strip() or None,
    }
    try:   # every film-level check the formatter makes, with a stand-in frame
        checked = formatter.check_film_options({**film, "frames": [{"image": "-"}]}, "film box")
    except formatter.OptionError as exc:
        raise Refused(INVALID_ATTRIBUTE_VALUE, exc.problem) from None
    film["layout"] = checked["layout"]
    return film


def box_count(layout: str) -> int:
    return formatter.film_box_count(layout)


def image_pixels(mods: Dataset, sop_class: str, max_pixels: int) -> tuple[Dataset, int]:
    """The image of an image box N-SET as a Secondary Capture image (pixels as received), and
    its Bits Stored; what a printer refuses is 0x0106 (0x0120/0x0121 when missing)."""
    color = sop_class == COLOR_IMAGE_BOX
    keyword = "BasicColorImageSequence" if color else "BasicGrayscaleImageSequence"
    other = "BasicGrayscaleImageSequence" if color else "BasicColorImageSequence"
    if other in mods:
        raise Refused(INVALID_ATTRIBUTE_VALUE, f"{other} sent to a {'colour' if color else 'grayscale'} box")
    seq = mods.get(keyword)
    if not seq:
        raise Refused(MISSING_ATTRIBUTE if seq is None else MISSING_ATTRIBUTE_VALUE, f"{keyword} missing")
    item = seq[0]
    for kw in ("Rows", "Columns", "PixelData"):
        if kw not in item:
            raise Refused(MISSING_ATTRIBUTE, f"{kw} missing")
        if item.get(kw) in (None, b"", 0):
            raise Refused(MISSING_ATTRIBUTE_VALUE, f"{kw} empty")
    try:
        rows, cols = int(item.Rows), int(item.Columns)
        spp = int(item.get("SamplesPerPixel", 3 if color else 1))
        photometric = str(item.get("PhotometricInterpretation", "RGB" if color else "MONOCHROME2")).strip().upper()
        allocated = int(item.get("BitsAllocated", 8))
        stored = int(item.get("BitsStored", allocated))
        high = int(item.get("HighBit", stored - 1))
        signed = int(item.get("PixelRepresentation", 0))
        planar = int(item.get("PlanarConfiguration", 0) or 0)
    except (TypeError, ValueError):
        raise Refused(INVALID_ATTRIBUTE_VALUE, "image pixel module not understood") from None
    if color and (spp != 3 or photometric != "RGB" or allocated != 8 or stored != 8 or planar not in (0, 1)):
        raise Refused(INVALID_ATTRIBUTE_VALUE, "colour: RGB, 3 samples of 8 bits")
    if not color and (spp != 1 or photometric not in ("MONOCHROME1", "MONOCHROME2")):
        raise Refused(INVALID_ATTRIBUTE_VALUE, "grayscale: MONOCHROME1/2, 1 sample")
    if not color and not ((allocated == 8 and stored == 8) or (allocated == 16 and 9 <= stored <= 16)):
        raise Refused(INVALID_ATTRIBUTE_VALUE, "Bits Allocated/Stored: 8/8 or 16/9..16")
    if high != stored - 1 or signed != 0:
        raise Refused(INVALID_ATTRIBUTE_VALUE, "High Bit must be Bits Stored - 1, unsigned")
    if rows * cols * spp > max_pixels:
        raise Refused(IMAGE_TOO_LARGE, f"{cols}x{rows} image larger than this printer takes")
    expected = rows * cols * spp * (allocated // 8)
    pixels = bytes(item.PixelData)
    if len(pixels) < expected:
        raise Refused(INVALID_ATTRIBUTE_VALUE, f"Pixel Data {len(pixels)} bytes, expected {expected}")
    pixels = pixels[:expected]
    if allocated == 16 and stored < 16:   # bits above High Bit are not pixel values
        pixels = (np.frombuffer(pixels, "<u2") & ((1 << stored) - 1)).astype("<u2").tobytes()
    ds = Dataset()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    # Named by its content: the same pixels make the same file, so a modality's retry of a
    # film finds the job its first try queued (the origin key covers the image digests)
    digest = hashlib.sha256(repr((rows, cols, spp, photometric, allocated, stored, planar)).encode() + pixels)
    ds.SOPInstanceUID = f"2.25.{int.from_bytes(digest.digest()[:16], 'big')}"
    ds.Modality = "OT"
    ds.ConversionType = "WSD"
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, cols, spp
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = allocated, stored, high, 0
    if color:
        ds.PlanarConfiguration = planar
    ds.PixelData = pixels
    ds["PixelData"].VR = "OB" if allocated == 8 else "OW"
    return ds, stored


def image_file(ds: Dataset, implementation_class_uid: str | None) -> bytes:
    return file_bytes(ds, ExplicitVRLittleEndian, implementation_class_uid)


def identity_window(bits: int) -> dict[str, float]:
    """A LINEAR_EXACT window that maps stored values 0..2^bits-1 one for one onto the output
    range: at the same bit depth every pixel value comes out as it went in."""
    top = (1 << bits) - 1
    return {"center": top / 2, "width": float(top)}


def film_of(box: FilmBox, images: dict[str, ImageBox], printer: PrinterConfig,
            annotations: dict[str, str]) -> dict[str, Any] | None:
    """The film of a job spec for a film box, None if none of its image boxes has an image."""
    frames = []
    for uid in box.image_boxes:
        image = images[uid]
        if image.digest is None:
            continue
        frame: dict[str, Any] = {"image": image.digest, "position": image.position, "native_size": True,
                                 "polarity": image.polarity, "requested_image_size": image.requested_size_mm}
        frame.update({k: v for k, v in (("magnification", image.magnification), ("smoothing", image.smoothing))
                      if v is not None})
        if image.sop_class != COLOR_IMAGE_BOX:
            frame.update(window=identity_window(image.bits), voi_function="LINEAR_EXACT")
        frames.append(frame)
    if not frames:
        return None
    film = {**box.film, "frames": frames}
    texts = [annotations.get(uid, "") for uid in box.annotation_boxes]
    while texts and not texts[-1]:
        texts.pop()
    if texts and printer.annotation_box:
        film["annotation_boxes"] = texts
    if printer.display_formats and film["layout"] not in printer.display_formats:
        film = composed(film)
    return film


def composed(film: dict[str, Any]) -> dict[str, Any]:
    """A film whose display format the printer lacks, as one composed image box (CUSTOM): each
    frame in the rectangle its position has in the film's own display format."""
    rects = box_rects(film["layout"], film["orientation"], film["film_size"], CUSTOM_DPI)
    per_mm = CUSTOM_DPI / 25.4
    frames = []
    for frame in film["frames"]:
        rect = rects[frame["position"] - 1]
        frames.append({**{k: v for k, v in frame.items() if k != "position"},
                       "rect_mm": [rect.x / per_mm, rect.y / per_mm, rect.width / per_mm, rect.height / per_mm]})
    return {**film, "layout": "CUSTOM", "frames": frames}
