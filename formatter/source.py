"""Reading source images: a DICOM file -> dataset -> one decoded frame.

The only I/O of the formatter. Every failure becomes :class:`UnprintableImage`
naming the file and, in words, why it cannot be printed: not DICOM, not an
image (no Pixel Data; the SOP class is named), truncated, too large, or pixel
data that cannot be decoded (the transfer syntax and the decoder's reason are
given).

Hostile files cost no more than printable ones. Before pydicom parses a file,
its data element headers are walked (values skipped, sequences entered): a file
that does not start like DICOM, or holds more than :data:`MAX_DATA_ELEMENTS`
elements, is refused after reading little of it. The image's declared size
(Rows x Columns x Number of Frames x Samples per Pixel) is checked against the
caller's budget before any pixel is decoded or inflated, and a frame is decoded
only within what its header declares (see :func:`decode_frame`).
"""
from __future__ import annotations

import io
import mmap
import os
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from struct import unpack_from

import numpy as np
import pydicom
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.encaps import get_frame
from pydicom.filereader import read_dataset as parse_dataset
from pydicom.pixels import pixel_array
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
)

from hcserver.formatter import codestreams
from hcserver.formatter.film import MAX_IMAGE_PIXELS
from hcserver.formatter.imaging import dataset_vois
from hcserver.formatter.sizing import physical_spacing

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
GREY = ("MONOCHROME1", "MONOCHROME2")
COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "PALETTE COLOR")
_UNDEFINED_LENGTH = 0xFFFFFFFF

#: Data elements a file may hold, sequence items and nested elements included. Real images hold
#: hundreds, enhanced multi-frame ones tens of thousands; a stream of empty elements (e.g. zeros
#: after a 'DICM' prefix) reaches the limit within a few MiB instead of making pydicom parse
#: every 8 bytes of it as an element (~0.5 s per MiB).
MAX_DATA_ELEMENTS = 250_000
#: Sequences nested deeper than this are not an image's.
MAX_NESTING = 32
#: How far the data set of a deflated file may inflate before its Pixel Data; after that, only
#: as far as the pixel data its header declares (and :data:`_INFLATED_SLACK` for what follows).
MAX_DEFLATED_HEADER = 64 << 20
_INFLATED_SLACK = 1 << 20
_CHUNK = 1 << 20

_VRS = frozenset(vr.encode() for vr in (
    "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "OB", "OD", "OF", "OL",
    "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US",
    "UT", "UV"))
_LONG_VRS = frozenset(vr.encode() for vr in ("OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN",
                                             "UR", "UT", "UV"))
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_PIXEL_TAGS = frozenset((0x7FE00010, 0x7FE00008, 0x7FE00009))
_NOT_DICOM = "not a DICOM file (no 'DICM' prefix and no DICOM data set at its start)"


class UnprintableImage(ValueError):
    """An image that cannot be printed; ``str(e) == f"{path}: {reason}"``."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):   # rebuilt from its fields when it comes back from a formatting process
        return type(self), (self.path, self.reason)


class ImageTooLarge(UnprintableImage):
    """An image whose declared size exceeds the budget; refused before any pixel is decoded."""


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


class _Bytes:
    """A file's bytes (a read-only mapping) or an upload's, walked where they are."""

    def __init__(self, data):
        self.data = data

    def has(self, end: int) -> bool:
        return end <= len(self.data)

    def find(self, sub: bytes, start: int) -> int:
        return self.data.find(sub, start)


class _Inflating:
    """The data set of a deflated file, inflated only as far as it is walked, and never past
    ``limit`` bytes (pydicom would inflate all of it into memory first, whatever its size)."""

    def __init__(self, data, start: int, path: str, limit: int):
        self.data = bytearray()
        self.path, self.limit = path, limit
        self._source, self._at = data, start
        self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
        self.ended = False

    def has(self, end: int) -> bool:
        while len(self.data) < end and not self.ended:
            self._inflate(min(_CHUNK, self.limit + 1 - len(self.data)))
            if len(self.data) > self.limit:
                raise UnprintableImage(self.path, f"the deflated data set inflates to more than {self.limit} "
                                                  f"bytes, more than the image it declares needs")
        return end <= len(self.data)

    def _inflate(self, most: int) -> None:
        stream = self._zlib
        source = stream.unconsumed_tail
        if not source and self._at < len(self._source):
            source = self._source[self._at:self._at + _CHUNK]
            self._at += len(source)
        try:
            out = stream.decompress(source, most)
        except zlib.error as exc:
            raise UnprintableImage(self.path, f"damaged deflated data set ({exc})") from None
        self.data += out
        if stream.eof or (not out and not stream.unconsumed_tail and self._at >= len(self._source)):
            self.ended = True

    def find(self, sub: bytes, start: int) -> int:
        while True:
            found = self.data.find(sub, start)
            if found >= 0 or self.ended:
                return found
            start = max(start, len(self.data) - len(sub))
            self.has(len(self.data) + _CHUNK)


@lru_cache(maxsize=1024)
def _dictionary_vr(tag: int) -> str | None:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return None


class _Walk:
    """Walks data element headers the way pydicom reads them (explicit VR with switches to
    implicit, sequences of defined and undefined length, encapsulated pixel data as one value),
    counting elements and items, so that no file makes pydicom parse more than
    :data:`MAX_DATA_ELEMENTS` of them. Values are skipped, not read. A walk that meets the end
    of the data stops there: truncation is reported later, with what pydicom read. An element
    with the same tag as the one before it is not DICOM (zeros read as (0000,0000) elements)."""

    def __init__(self, source, little: bool, path: str):
        self.source, self.path = source, path
        order = "<" if little else ">"
        self._head, self._short, self._long, self._item = order + "HH2s", order + "H", order + "L", order + "HHL"
        self._delimiter = b"\xfe\xff\xdd\xe0" if little else b"\xff\xfe\xe0\xdd"     # (FFFE,E0DD)
        self.count = 0
        self.pixels: int | None = None   # where the top-level Pixel Data starts, if the walk stopped there

    def _tally(self) -> None:
        self.count += 1
        if self.count > MAX_DATA_ELEMENTS:
            raise UnprintableImage(self.path, f"not a DICOM image: more than {MAX_DATA_ELEMENTS} data elements "
                                              f"(damaged, or not DICOM)")

    def dataset(self, pos: int, stop: int | None, implicit: bool, depth: int = 0,
                at_pixels: bool = False) -> int | None:
        """Walk a data set from ``pos`` to ``stop`` (None: to the end of the data or an Item
        Delimitation Item). Returns where it ended, None at the end of the data; with
        ``at_pixels``, stops at a top-level Pixel Data element (see ``self.pixels``)."""
        if depth > MAX_NESTING:
            raise UnprintableImage(self.path, f"not a DICOM image: sequences nested more than {MAX_NESTING} deep")
        source = self.source
        data, has = source.data, source.has
        head, short, long = self._head, self._short, self._long
        if has(pos + 6) and not (depth and implicit):    # as pydicom decides a data set's VR encoding
            implicit = not (0x40 < data[pos + 4] < 0x5B and 0x40 < data[pos + 5] < 0x5B)
        previous = -1
        limit = stop if stop is not None else 1 << 62
        while pos < limit:
            if not has(pos + 8):
                return None
            group, element, vr = unpack_from(head, data, pos)
            tag = group << 16 | element
            if tag == _ITEM_END:
                return pos + 8
            if tag == previous:
                raise UnprintableImage(self.path, f"not a DICOM file: data element ({group:04X},{element:04X}) "
                                                  f"repeats at byte {pos}")
            previous = tag
            self.count += 1
            if self.count > MAX_DATA_ELEMENTS:
                self._tally()
            if implicit:
                vr = None
                length, value = unpack_from(long, data, pos + 4)[0], pos + 8
            elif vr in _LONG_VRS:
                if not has(pos + 12):
                    return None
                length, value = unpack_from(long, data, pos + 8)[0], pos + 12
            elif vr in _VRS or b"AA" <= vr <= b"ZZ":
                length, value = unpack_from(short, data, pos + 6)[0], pos + 8
            else:       # an implicit element in an explicit data set: pydicom reads it so
                vr = None
                length, value = unpack_from(long, data, pos + 4)[0], pos + 8
            if at_pixels and not depth and tag in _PIXEL_TAGS:
                self.pixels = pos
                return pos
            if length == 0:
                pos = value
                continue
            known = _dictionary_vr(tag) if (vr is None or vr == b"UN") and not group & 1 else None
            sequence = vr == b"SQ" or known == "SQ"
            if length != _UNDEFINED_LENGTH:
                if sequence:
                    self.items(value, value + length, implicit or vr == b"UN", depth + 1)
                pos = value + length
                continue
            if vr is None and known is None and has(value + 8):   # a private sequence?
                sequence = unpack_from(self._item, data, value)[:2] == (0xFFFE, 0xE000)
            if sequence or vr == b"UN":
                end = self.items(value, None, implicit, depth + 1)
            else:   # encapsulated pixel data, as pydicom reads it: fragments, else up to a delimiter
                end = self._fragments(value)
                if end is None:
                    found = source.find(self._delimiter, value)
                    end = None if found < 0 else found + 8
            if end is None:
                return None
            pos = end
        return pos

    def _fragments(self, pos: int) -> int | None:
        """The end of an undefined length value read as items (fragments) and a Sequence
        Delimitation Item, or None if it is not that."""
        source, item = self.source, self._item
        while source.has(pos + 8):
            group, element, length = unpack_from(item, source.data, pos)
            tag = group << 16 | element
            if tag == _SEQUENCE_END:
                return pos + 8
            if tag != _ITEM:
                return None
            self._tally()
            pos += 8 + length
        return None

    def items(self, pos: int, stop: int | None, implicit: bool, depth: int) -> int | None:
        """Walk the items of a sequence (to ``stop``, or to its Sequence Delimitation Item)."""
        source, item = self.source, self._item
        limit = stop if stop is not None else 1 << 62
        while pos < limit:
            if not source.has(pos + 8):
                return None
            group, element, length = unpack_from(item, source.data, pos)
            if group << 16 | element == _SEQUENCE_END:
                return pos + 8
            self._tally()   # any other tag is read as an item, as pydicom does
            if length == _UNDEFINED_LENGTH:
                end = self.dataset(pos + 8, None, implicit, depth)
                if end is None:
                    return None
                pos = end
            else:
                if length:
                    self.dataset(pos + 8, pos + 8 + length, implicit, depth)
                pos += 8 + length
        return pos


@dataclass(frozen=True)
class _Layout:
    """Where a file's data set starts and how it is encoded."""

    part10: bool        # a 'DICM' prefix at byte 128
    start: int
    little: bool
    deflated: bool


def _layout(data, path: str) -> _Layout:
    """Read the prefix and the File Meta Information from the header bytes alone; refuse what
    does not start like DICOM (a preamble and 'DICM', or a data set of group 0002 or 0008)."""
    part10 = len(data) >= 132 and data[128:132] == b"DICM"
    pos = 132 if part10 else 0
    if not part10 and not (len(data) >= 8 and (unpack_from("<H", data)[0] in (0x0002, 0x0008) or (
            unpack_from(">H", data)[0] == 0x0008 and bytes(data[4:6]) in _VRS))):
        raise UnprintableImage(path, _NOT_DICOM)
    meta = _Walk(_Bytes(data), True, path)     # counts the elements of the File Meta Information
    syntax = None
    while len(data) >= pos + 8 and unpack_from("<H", data, pos)[0] == 0x0002:   # File Meta Information
        meta._tally()
        element = unpack_from("<H", data, pos + 2)[0]
        vr = bytes(data[pos + 4:pos + 6])
        if vr in _LONG_VRS:
            length, value = unpack_from("<L", data, pos + 8)[0], pos + 12
        elif vr in _VRS or b"AA" <= vr <= b"ZZ":
            length, value = unpack_from("<H", data, pos + 6)[0], pos + 8
        else:
            length, value = unpack_from("<L", data, pos + 4)[0], pos + 8
        if length == _UNDEFINED_LENGTH:
            break
        if element == 0x0010 and length <= 64:     # a UID is at most 64 characters
            syntax = bytes(data[value:value + length]).rstrip(b"\0 ").decode("ascii", "replace")
        pos = value + length
    if syntax is None and len(data) >= pos + 2:   # pydicom's guess too: tag groups >= 0x0400 are big endian
        little = unpack_from("<H", data, pos)[0] < 0x0400
    else:
        little = syntax != ExplicitVRBigEndian
    return _Layout(part10, pos, little, syntax == DeflatedExplicitVRLittleEndian)


def screen(data, name: str) -> None:
    """Checks of an upload's bytes before they are stored: refuse what is not DICOM, or holds
    more data elements than an image does, after reading only the element headers (a deflated
    data set is walked when it is read, see :func:`read_dataset`)."""
    layout = _layout(data, name)
    if not layout.deflated:
        _Walk(_Bytes(data), layout.little, name).dataset(layout.start, None, implicit=True)


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


def _read_deflated(data, layout: _Layout, path: str, max_pixels: int) -> Dataset:
    """A deflated file's data set, inflated as far as its header (at most
    :data:`MAX_DEFLATED_HEADER`), then, if the size it declares is within ``max_pixels``,
    as far as that pixel data and no further."""
    source = _Inflating(data, layout.start, path, MAX_DEFLATED_HEADER)
    walk = _Walk(source, True, path)
    walk.dataset(0, None, implicit=False, at_pixels=True)
    if walk.pixels is not None:
        header = parse_dataset(io.BytesIO(bytes(source.data[:walk.pixels])), False, True)
        source.limit = walk.pixels + 12 + _declared_bytes(header, path, max_pixels) + _INFLATED_SLACK
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
        raise UnprintableImage(path, _NOT_DICOM)
    with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        layout = _layout(data, path)
        if layout.deflated:
            return _read_deflated(data, layout, path, max_pixels)
        _Walk(_Bytes(data), layout.little, path).dataset(layout.start, None, implicit=True)
    return pydicom.dcmread(path) if layout.part10 else _without_meta(path)


def _read_bytes(data: bytes, path: str, max_pixels: int) -> Dataset:
    """:func:`_read` of a file's bytes held in memory (``path`` only names it)."""
    if len(data) < 8:
        raise UnprintableImage(path, _NOT_DICOM)
    layout = _layout(data, path)
    if layout.deflated:
        return _read_deflated(data, layout, path, max_pixels)
    _Walk(_Bytes(data), layout.little, path).dataset(layout.start, None, implicit=True)
    if not layout.part10:
        raise UnprintableImage(path, _NOT_DICOM)
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
