"""Reading source images: a DICOM file -> dataset -> one decoded frame.

The only I/O of the formatter. Every failure becomes :class:`UnprintableImage`
naming the file and, in words, why it cannot be printed: not DICOM, not an
image (no Pixel Data; the SOP class is named), truncated, or pixel data that
cannot be decoded (the transfer syntax and the decoder's reason are given).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import pixel_array
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from hcserver.formatter.imaging import dataset_vois
from hcserver.formatter.sizing import physical_spacing

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
GREY = ("MONOCHROME1", "MONOCHROME2")
COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "PALETTE COLOR")
_UNDEFINED_LENGTH = 0xFFFFFFFF


class UnprintableImage(ValueError):
    """An image that cannot be printed; ``str(e) == f"{path}: {reason}"``."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):   # rebuilt from its fields when it comes back from a formatting process
        return type(self), (self.path, self.reason)


@dataclass(frozen=True)
class ImageInfo:
    """What submit-time checks learn about an image.

    ``vois`` lists the image's own VOI transforms in the order a job's
    ``{"window": {"index": n}}`` counts them (VOI LUT Sequence items first, then
    the Window Center/Width pairs, of the first frame), each by its explanation
    ("" when it has none). ``spacing_mm`` is the (row, column) spacing true-size
    printing would use, or None.
    """

    frames: int
    rows: int
    columns: int
    photometric: str
    color: bool
    vois: tuple[str, ...] = ()
    spacing_mm: tuple[float, float] | None = None


def _sop_class(ds: Dataset) -> str:
    uid = ds.get("SOPClassUID") or ds.file_meta.get("MediaStorageSOPClassUID")
    if not uid:
        return "a dataset without SOP Class UID"
    uid = UID(str(uid))
    return f"{uid.name} ({uid})" if uid.name != str(uid) else f"SOP class {uid}"


def _without_meta(path: str) -> Dataset:
    """A file without the DICM prefix: accepted only if it reads as an image dataset."""
    try:
        ds = pydicom.dcmread(path, force=True)
    except Exception:
        ds = None
    if ds is None or "Rows" not in ds or not any(k in ds for k in PIXEL_KEYWORDS):
        if ds is not None and ds.get("SOPClassUID"):
            # A bare dataset (no file meta) that parses: say what it is rather than "not DICOM".
            raise UnprintableImage(path, f"no Pixel Data: {_sop_class(ds)} is not an image")
        raise UnprintableImage(path, "not a DICOM file (no 'DICM' prefix and no DICOM image in it)")
    if "TransferSyntaxUID" not in ds.file_meta:
        implicit, little = ds.original_encoding
        ds.file_meta.TransferSyntaxUID = (ImplicitVRLittleEndian if implicit else
                                          ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
    return ds


def _truncation(ds: Dataset) -> str | None:
    """Why the file looks cut short, or None. pydicom stops silently at the end of a
    file, leaving the last element shorter than its declared length."""
    if not len(ds):
        return None
    elem = ds.get_item(max(ds.keys()))
    if isinstance(elem, RawDataElement) and elem.value is not None and elem.length != _UNDEFINED_LENGTH:
        if len(elem.value) < elem.length:
            name = pydicom.datadict.keyword_for_tag(elem.tag) or str(elem.tag)
            return (f"truncated: the file ends inside {name} ({len(elem.value)} of "
                    f"{elem.length} bytes)")
    return None


def read_dataset(path: str | os.PathLike) -> Dataset:
    """Read a DICOM image dataset, or raise UnprintableImage saying why it is not one."""
    path = os.fspath(path)
    try:
        ds = pydicom.dcmread(path)
    except FileNotFoundError:
        raise UnprintableImage(path, "file not found") from None
    except IsADirectoryError:
        raise UnprintableImage(path, "is a directory, not a DICOM file") from None
    except PermissionError:
        raise UnprintableImage(path, "permission denied") from None
    except InvalidDicomError:
        ds = _without_meta(path)
    except Exception as exc:  # pydicom raises many types on damaged files
        raise UnprintableImage(path, f"not a readable DICOM file ({type(exc).__name__}: {exc})") from None
    truncated = _truncation(ds)
    if truncated:
        raise UnprintableImage(path, truncated)
    if not any(k in ds for k in PIXEL_KEYWORDS):
        sop = _sop_class(ds)
        if "Rows" in ds or "Image" in sop:
            raise UnprintableImage(path, f"truncated or damaged: {sop} without Pixel Data")
        raise UnprintableImage(path, f"no Pixel Data: {sop} is not an image")
    return ds


def frame_count(ds: Dataset, path: str) -> int:
    try:
        value = ds.get("NumberOfFrames")
        frames = int(value) if value not in (None, "") else 1
    except (TypeError, ValueError) as exc:
        raise UnprintableImage(path, f"invalid Number of Frames ({exc})") from None
    if frames < 1:
        raise UnprintableImage(path, f"invalid Number of Frames {frames}")
    return frames


def check_image(ds: Dataset, path: str, details: bool = True) -> ImageInfo:
    """Validate the Image Pixel attributes the formatter relies on.

    ``details=False`` leaves out ``vois`` and ``spacing_mm`` (submit-time facts
    that printing looks up per frame anyway).
    """
    missing = [k for k in ("Rows", "Columns", "BitsAllocated", "PhotometricInterpretation") if k not in ds]
    if missing:
        raise UnprintableImage(path, f"damaged image: Pixel Data without {', '.join(missing)}")
    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
        photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
    except (AttributeError, TypeError, ValueError) as exc:
        raise UnprintableImage(path, f"invalid image attributes ({exc})") from None
    if rows < 1 or columns < 1:
        raise UnprintableImage(path, f"image of {rows} x {columns} pixels")
    if photometric not in GREY + COLOUR:
        raise UnprintableImage(path, f"unsupported Photometric Interpretation {photometric or '(none)'!r} "
                                     f"(supported: {', '.join(GREY + COLOUR)})")
    expected = 1 if photometric in GREY or photometric == "PALETTE COLOR" else 3
    if samples != expected:
        raise UnprintableImage(path, f"{photometric} with {samples} samples per pixel "
                                     f"(expected {expected})")
    colour = photometric in COLOUR
    if not details:
        return ImageInfo(frames=frame_count(ds, path), rows=rows, columns=columns,
                         photometric=photometric, color=colour)
    return ImageInfo(frames=frame_count(ds, path), rows=rows, columns=columns,
                     photometric=photometric, color=colour,
                     vois=() if colour else tuple(v.explanation for v in dataset_vois(ds, 0)),
                     spacing_mm=physical_spacing(ds, 0))


def decode_frame(ds: Dataset, path: str, index: int) -> np.ndarray:
    """Decode frame ``index`` (0-based): (rows, cols) or (rows, cols, 3), native byte order.

    YBR_FULL / YBR_FULL_422 come back as RGB (pydicom converts them).
    """
    try:
        arr = pixel_array(ds, index=index)
    except ValueError as exc:
        text = str(exc)
        if "less than expected" in text:
            raise UnprintableImage(path, f"truncated: {text.split(' - ')[0]}") from None
        raise UnprintableImage(path, f"cannot decode the pixel data: {text}") from None
    except Exception as exc:
        ts = ds.file_meta.get("TransferSyntaxUID")
        syntax = UID(str(ts)).name if ts else "unknown transfer syntax"
        detail = "; ".join(line.strip().rstrip(":") for line in str(exc).splitlines() if line.strip())
        detail = detail.replace("plugins; ", "plugins: ", 1)
        if len(detail) > 400:
            detail = detail[:400] + "..."
        raise UnprintableImage(path, f"cannot decode the pixel data ({syntax}): {detail}") from None
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def inspect_image(path: str | Path) -> ImageInfo:
    """Submit-time check: a readable DICOM image whose first frame decodes.

    Raises :class:`UnprintableImage` naming the reason otherwise.
    """
    path = os.fspath(path)
    ds = read_dataset(path)
    info = check_image(ds, path)
    arr = decode_frame(ds, path, 0)
    if arr.shape[:2] != (info.rows, info.columns):
        raise UnprintableImage(path, f"decoded frame is {arr.shape[1]} x {arr.shape[0]} pixels, "
                                     f"the header says {info.columns} x {info.rows}")
    return info
