"""Screening a DICOM file's bytes before pydicom parses them, so that hostile files cost no more
than printable ones.

Its data element headers are walked (values skipped, sequences entered): a file that does not
start like DICOM, or holds more than :data:`MAX_DATA_ELEMENTS` elements or sequences nested
deeper than :data:`MAX_NESTING`, is refused (:class:`UnprintableImage`) after reading little of
it. A deflated data set is inflated only as far as the walk needs (:class:`Inflating`).
hcserver.formatter.source reads what passes; :func:`screen` checks an upload before it is
stored.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache
from struct import unpack_from

from pydicom.datadict import dictionary_VR
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian

from hcserver.formatter.unprintable import UnprintableImage

UNDEFINED_LENGTH = 0xFFFFFFFF
#: Data elements a file may hold, sequence items and nested elements included. Real images hold
#: hundreds, enhanced multi-frame ones tens of thousands; a stream of empty elements (e.g. zeros
#: after a 'DICM' prefix) reaches the limit within a few MiB instead of making pydicom parse
#: every 8 bytes of it as an element (~0.5 s per MiB).
MAX_DATA_ELEMENTS = 250_000
#: Sequences nested deeper than this are not an image's.
MAX_NESTING = 32
#: How far the data set of a deflated file may inflate before its Pixel Data; after that, only
#: as far as the pixel data its header declares (and :data:`INFLATED_SLACK` for what follows).
MAX_DEFLATED_HEADER = 64 << 20
INFLATED_SLACK = 1 << 20
_CHUNK = 1 << 20

_VRS = frozenset(vr.encode() for vr in (
    "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "OB", "OD", "OF", "OL",
    "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US",
    "UT", "UV"))
_LONG_VRS = frozenset(vr.encode() for vr in ("OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN",
                                             "UR", "UT", "UV"))
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_PIXEL_TAGS = frozenset((0x7FE00010, 0x7FE00008, 0x7FE00009))
NOT_DICOM = "not a DICOM file (no 'DICM' prefix and no DICOM data set at its start)"


class Bytes:
    """A file's bytes (a read-only mapping) or an upload's, walked where they are."""

    def __init__(self, data):
        self.data = data

    def has(self, end: int) -> bool:
        return end <= len(self.data)

    def find(self, sub: bytes, start: int) -> int:
        return self.data.find(sub, start)


class Inflating:
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


class Walk:
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
            if length != UNDEFINED_LENGTH:
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
            if length == UNDEFINED_LENGTH:
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
class Layout:
    """Where a file's data set starts and how it is encoded."""

    part10: bool        # a 'DICM' prefix at byte 128
    start: int
    little: bool
    deflated: bool


def file_layout(data, path: str) -> Layout:
    """Read the prefix and the File Meta Information from the header bytes alone; refuse what
    does not start like DICOM (a preamble and 'DICM', or a data set of group 0002 or 0008)."""
    part10 = len(data) >= 132 and data[128:132] == b"DICM"
    pos = 132 if part10 else 0
    if not part10 and not (len(data) >= 8 and (unpack_from("<H", data)[0] in (0x0002, 0x0008) or (
            unpack_from(">H", data)[0] == 0x0008 and bytes(data[4:6]) in _VRS))):
        raise UnprintableImage(path, NOT_DICOM)
    meta = Walk(Bytes(data), True, path)     # counts the elements of the File Meta Information
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
        if length == UNDEFINED_LENGTH:
            break
        if element == 0x0010 and length <= 64:     # a UID is at most 64 characters
            syntax = bytes(data[value:value + length]).rstrip(b"\0 ").decode("ascii", "replace")
        pos = value + length
    if syntax is None and len(data) >= pos + 2:   # pydicom's guess too: tag groups >= 0x0400 are big endian
        little = unpack_from("<H", data, pos)[0] < 0x0400
    else:
        little = syntax != ExplicitVRBigEndian
    return Layout(part10, pos, little, syntax == DeflatedExplicitVRLittleEndian)


def screen(data, name: str) -> None:
    """Checks of an upload's bytes before they are stored: refuse what is not DICOM, or holds
    more data elements than an image does, after reading only the element headers (a deflated
    data set is walked when it is read, see :func:`hcserver.formatter.source.read_dataset`)."""
    layout = file_layout(data, name)
    if not layout.deflated:
        Walk(Bytes(data), layout.little, name).dataset(layout.start, None, implicit=True)
