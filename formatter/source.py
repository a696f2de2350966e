"""Reading source images: a DICOM file -> dataset -> one decoded frame.

The only I/O of the formatter. Every failure becomes :class:`UnprintableImage`
naming the file and, in words, why it cannot be printed: not DICOM, not an
image (no Pixel Data; the SOP class is named), truncated, too large, or pixel
data that cannot be decoded (the transfer syntax and the decoder's reason are
given).

Hostile files cost no more than printable ones. Before pydicom parses a file,
its data element headers are walked (hcserver.formatter.screening): a file
that does not start like DICOM, or holds more data elements than an image
does, is refused after reading little of it. The image's declared size
(Rows x Columns x Number of Frames x Samples per Pixel) is checked against the
caller's budget before any pixel is decoded or inflated, and a frame is decoded
only within what its header declares (see :func:`decode_frame`).
"""
from __future__ import annotations

import io
import mmap
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.encaps import get_frame
from pydicom.filereader import read_dataset as parse_dataset
from pydicom.pixels import pixel_array
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
)

from hcserver.formatter import codestreams
from hcserver.formatter.film import MAX_IMAGE_PIXELS
from hcserver.formatter.imaging import dataset_vois
from hcserver.formatter.screening import (
    INFLATED_SLACK,
    MAX_DEFLATED_HEADER,
    NOT_DICOM,
    UNDEFINED_LENGTH,
    Bytes,
    Inflating,
    Layout,
    Walk,
    file_layout,
)
from hcserver.formatter.sizing import physical_spacing
from hcserver.formatter.unprintable import ImageTooLarge, UnprintableImage

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
GREY = ("MONOCHROME1", "MONOCHROME2")
COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "PALETTE COLOR")

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
    if isinstance(elem, RawDataElement) and elem.value is not None and elem.length != UNDEFINED_LENGTH:
        if len(elem.value) < elem.length:
            name = pydicom.datadict.keyword_for_tag(elem.tag) or str(elem.tag)
            return (f"truncated: the file ends inside {name} ({len(elem.value)} of "
                    f"{elem.length} bytes)")
    return None


def _read_deflated(data, layout: Layout, path: str, max_pixels: int) -> Dataset:
    """A deflated file's data set, inflated as far as its header (at most
    :data:`MAX_DEFLATED_HEADER`), then, if the size it declares is within ``max_pixels``,
    as far as that pixel data and no further."""
    source = Inflating(data, layout.start, path, MAX_DEFLATED_HEADER)
    walk = Walk(source, True, path)
    walk.dataset(0, None, implicit=False, at_pixels=True)
    if walk.pixels is not None:
        header = parse_dataset(io.BytesIO(bytes(source.data[:walk.pixels])), False, True)
        source.limit = walk.pixels + 12 + _declared_bytes(header, path, max_pixels) + INFLATED_SLACK
        walk.dataset(walk.pixels, None, implicit=False)
    inflated = io.BytesIO(bytes(source.data))
    del source
    dataset = parse_dataset(inflated, False, True)
    meta = parse_dataset(io.BytesIO(bytes(data[132 if layout.part10 else 0:layout.start])), False, True)
    ds = FileDataset(path, dataset, bytes(data[:128]) if layout.part10 else None, FileMetaDataset(meta),
                     False, True)
    ds.set_original_encoding(False, True, dataset.original_character_set)
    return ds


def _read(file, path: str, max_pixels: int) -> Dataset:
    if os.fstat(file.fileno()).st_size < 8:
        raise UnprintableImage(path, NOT_DICOM)
    with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        layout = file_layout(data, path)
        if layout.deflated:
            return _read_deflated(data, layout, path, max_pixels)
        Walk(Bytes(data), layout.little, path).dataset(layout.start, None, implicit=True)
    return pydicom.dcmread(path) if layout.part10 else _without_meta(path)


def _read_bytes(data: bytes, path: str, max_pixels: int) -> Dataset:
    """:func:`_read` of a file's bytes held in memory (``path`` only names it)."""
    if len(data) < 8:
        raise UnprintableImage(path, NOT_DICOM)
    layout = file_layout(data, path)
    if layout.deflated:
        return _read_deflated(data, layout, path, max_pixels)
    Walk(Bytes(data), layout.little, path).dataset(layout.start, None, implicit=True)
    if not layout.part10:
        raise UnprintableImage(path, NOT_DICOM)
    return pydicom.dcmread(io.BytesIO(data))


def read_dataset(path: str | os.PathLike, max_pixels: int = MAX_IMAGE_PIXELS, data: bytes | None = None) -> Dataset:
    """Read a DICOM image dataset, or raise UnprintableImage saying why it is not one.

    Nothing is decoded; an image whose declared size exceeds ``max_pixels`` pixel samples
    (see :data:`MAX_IMAGE_PIXELS`) raises :class:`ImageTooLarge`. ``data``: the file's bytes,
    read instead of the file (a DICOM file with its File Meta Information; ``path`` names it)."""
    path = os.fspath(path)
    try:
        if data is not None:
            ds = _read_bytes(data, path, max_pixels)
        else:
            with open(path, "rb") as file:
                ds = _read(file, path, max_pixels)
    except FileNotFoundError:
        raise UnprintableImage(path, "file not found") from None
    except IsADirectoryError:
        raise UnprintableImage(path, "is a directory, not a DICOM file") from None
    except PermissionError:
        raise UnprintableImage(path, "permission denied") from None
    except UnprintableImage:
        raise
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
    _declared_bytes(ds, path, max_pixels)
    return ds


def _declared_bytes(ds: Dataset, path: str, max_pixels: int) -> int:
    """The size of the pixel data ``ds`` declares, in bytes, after checking it against the
    budget; from the header alone (Pixel Data is not touched)."""
    info = check_image(ds, path, details=False)
    samples = 1 if info.photometric in GREY or info.photometric == "PALETTE COLOR" else 3
    values = info.rows * info.columns * info.frames * samples
    if values > max_pixels:
        of_samples = f" of {samples} samples" if samples > 1 else ""
        raise ImageTooLarge(path, f"{info.frames} frame(s) of {info.rows}x{info.columns} pixels{of_samples} "
                                  f"exceed the limit of {max_pixels} pixels per image"
                                  f"{' (a pixel of 3 samples counts 3)' if samples > 1 else ''}")
    try:
        bits = int(ds.BitsAllocated)
    except (TypeError, ValueError) as exc:
        raise UnprintableImage(path, f"invalid Bits Allocated ({exc})") from None
    if bits not in (1, 8, 16, 32, 64):
        raise UnprintableImage(path, f"invalid Bits Allocated {bits} (1, 8, 16, 32 or 64)")
    return (values * bits + 7) // 8


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


def _codestream_problem(ds: Dataset, index: int, syntax: UID) -> str | None:
    """Why frame ``index`` must not be decoded: its JPEG, JPEG-LS or JPEG 2000 codestream
    declares more pixels than the header, and the decoder would allocate what it declares."""
    if not codestreams.sized(syntax):
        return None
    try:
        size = codestreams.declared_size(get_frame(ds.PixelData, index, number_of_frames=frame_count(ds, "")),
                                         syntax)
        rows, columns, samples = int(ds.Rows), int(ds.Columns), int(ds.get("SamplesPerPixel", 1) or 1)
    except Exception:   # pydicom's decoding reports what is wrong with the frame
        return None
    if size is None or size[0] * size[1] * size[2] <= rows * columns * samples:
        return None
    return (f"cannot decode the pixel data ({syntax.name}): frame {index + 1} is {size[1]}x{size[0]} pixels "
            f"of {size[2]} components in its codestream, the header says {columns}x{rows} of {samples}")


def decode_frame(ds: Dataset, path: str, index: int) -> np.ndarray:
    """Decode frame ``index`` (0-based): (rows, cols) or (rows, cols, 3), native byte order.

    YBR_FULL / YBR_FULL_422 come back as RGB (pydicom converts them). Only within what the
    header declares: a JPEG-family frame that says it is larger is refused undecoded, and RLE
    is decoded by pylibjpeg-rle alone, which writes into a frame of the declared size (pydicom's
    own RLE decoder expands a segment in full, up to 64 times the file, before checking it).
    """
    ts = ds.file_meta.get("TransferSyntaxUID")
    syntax = UID(str(ts)) if ts else None
    problem = _codestream_problem(ds, index, syntax) if syntax else None
    if problem:
        raise UnprintableImage(path, problem)
    try:
        arr = pixel_array(ds, index=index, decoding_plugin="pylibjpeg" if syntax == RLELossless else "")
    except ValueError as exc:
        text = str(exc)
        if "less than expected" in text:
            raise UnprintableImage(path, f"truncated: {text.split(' - ')[0]}") from None
        raise UnprintableImage(path, f"cannot decode the pixel data: {text}") from None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:    # a panic in a decoder written in Rust is a BaseException
        name = syntax.name if syntax else "unknown transfer syntax"
        detail = "; ".join(line.strip().rstrip(":") for line in str(exc).splitlines() if line.strip())
        detail = detail.replace("plugins; ", "plugins: ", 1)
        if len(detail) > 400:
            detail = detail[:400] + "..."
        raise UnprintableImage(path, f"cannot decode the pixel data ({name}): {detail}") from None
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def inspect_image(path: str | Path, max_pixels: int = MAX_IMAGE_PIXELS, decode: bool = True,
                  data: bytes | None = None) -> ImageInfo:
    """Submit-time check: a readable DICOM image, within ``max_pixels`` pixel samples (see
    :data:`MAX_IMAGE_PIXELS`), whose first frame decodes; ``decode=False`` skips decoding an
    uncompressed image whose Pixel Data holds every byte its header declares (it cannot fail).
    ``data``: the file's bytes, checked instead of the file (see :func:`read_dataset`).

    Raises :class:`UnprintableImage` naming the reason otherwise (:class:`ImageTooLarge` for
    the size, found before anything is decoded).
    """
    return inspect_dataset(read_dataset(path, max_pixels, data), os.fspath(path), decode)


def inspect_dataset(ds: Dataset, path: str, decode: bool = True) -> ImageInfo:
    """:func:`inspect_image` of a data set :func:`read_dataset` returned."""
    info = check_image(ds, path)
    syntax = ds.file_meta.get("TransferSyntaxUID")
    if not decode and syntax is not None and not UID(str(syntax)).is_compressed and int(ds.BitsAllocated) % 8 == 0:
        if len(ds.get("PixelData") or b"") >= info.rows * info.columns * info.frames * (
                3 if info.color else 1) * (int(ds.BitsAllocated) // 8):
            return info
    arr = decode_frame(ds, path, 0)
    if arr.shape[:2] != (info.rows, info.columns):
        raise UnprintableImage(path, f"decoded frame is {arr.shape[1]} x {arr.shape[0]} pixels, "
                                     f"the header says {info.columns} x {info.rows}")
    return info
