"""Hostile DICOM files for tests: small on disk, costly to whoever decodes them naively."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomFileLike
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    RLELossless,
    SecondaryCaptureImageStorage,
)

from tests.support.images import new_dataset


def grey_image(rows: int, columns: int, bits: int = 16):
    """A MONOCHROME2 Secondary Capture dataset declaring ``rows`` x ``columns`` (no pixel data yet)."""
    ds = new_dataset(SecondaryCaptureImageStorage)
    ds.Modality, ds.PatientName, ds.PatientID = "OT", "Hostile^File", "HOSTILE"
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit, ds.PixelRepresentation = bits - 1, 0
    return ds


def _rle_frame(segments: int, segment: bytes) -> bytes:
    header = struct.pack("<16L", segments, *[64 + i * len(segment) for i in range(segments)],
                         *[0] * (15 - segments))
    return header + segment * segments


def rle_bomb(path: Path, rows: int, columns: int, bits: int = 16) -> Path:
    """RLE Lossless whose header declares ``rows`` x ``columns`` with one frame of a few KB:
    a decoder allocates the declared frame before it finds the data short."""
    ds = grey_image(rows, columns, bits)
    ds.file_meta.TransferSyntaxUID = RLELossless
    ds.PixelData = encapsulate([_rle_frame(bits // 8, b"\x81\x00" * 400)])   # runs of 128 zeros
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


def rle_overlong(path: Path, segment_bytes: int) -> Path:
    """A 64 x 64 RLE image whose one segment holds ``segment_bytes`` of 128-byte replicate runs,
    64 times that size when decoded (the 4096 pixels declared need 64 bytes of them). It starts
    4 bytes after its header: pylibjpeg-rle refuses that offset, pydicom's own decoder does not."""
    ds = grey_image(64, 64, 8)
    ds.file_meta.TransferSyntaxUID = RLELossless
    header = struct.pack("<16L", 1, 68, *[0] * 14)
    ds.PixelData = encapsulate([header + bytes(4) + b"\x81\x00" * (segment_bytes // 2)])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


def rle_overflowing(path: Path) -> Path:
    """A 64 x 64 16-bit RLE image whose two segments each decode to 128 KB, past the end of the
    8 KB frame (pylibjpeg-rle 2 panics on it)."""
    ds = grey_image(64, 64, 16)
    ds.file_meta.TransferSyntaxUID = RLELossless
    ds.PixelData = encapsulate([_rle_frame(2, b"\x81\x00" * 1000)])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


def deflated_zeros(path: Path, rows: int, columns: int, bits: int = 16, size: int | None = None) -> Path:
    """Deflated Explicit VR Little Endian with ``rows`` x ``columns`` of zeros (or ``size`` bytes
    of them, whatever the header says): about a thousandth of the inflated size on disk. Written
    in chunks, never whole in memory."""
    ds = grey_image(rows, columns, bits)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    meta, body = io.BytesIO(), io.BytesIO()
    for buffer, write in ((meta, lambda fp: write_file_meta_info(fp, ds.file_meta)),
                          (body, lambda fp: write_dataset(fp, ds))):
        fp = DicomFileLike(buffer)
        fp.is_little_endian, fp.is_implicit_VR = True, False
        write(fp)
    size = rows * columns * bits // 8 if size is None else size
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    zeros = bytes(16 << 20)
    with open(path, "wb") as out:
        out.write(b"\0" * 128 + b"DICM" + meta.getvalue())
        out.write(deflate.compress(body.getvalue() + struct.pack("<HH2sHL", 0x7FE0, 0x0010, b"OW", 0, size)))
        for start in range(0, size, len(zeros)):
            out.write(deflate.compress(zeros[:min(len(zeros), size - start)]))
        out.write(deflate.flush())
    return path


def jpeg_claiming(path: Path, rows: int, columns: int) -> Path:
    """A 16 x 16 JPEG Baseline image whose JPEG frame header claims ``rows`` x ``columns``:
    the decoder allocates what the codestream says, not what the DICOM header says."""
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(buffer, "JPEG")
    code = bytearray(buffer.getvalue())
    struct.pack_into(">HH", code, code.find(b"\xff\xc0") + 5, rows, columns)
    ds = grey_image(16, 16, 8)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate([bytes(code)])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


def native_image(path: Path, rows: int, columns: int, overlay: tuple[int, int] | None = None,
                 **attributes) -> Path:
    """An uncompressed 16-bit image with a gradient, and any extra attributes; with ``overlay``
    (rows, columns), an empty overlay plane of that size (a byte per 8 of its pixels on disk,
    unpacked to a byte per pixel by pydicom)."""
    ds = grey_image(rows, columns, 16)
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    if overlay:
        for element, vr, value in ((0x0010, "US", overlay[0]), (0x0011, "US", overlay[1]), (0x0040, "CS", "G"),
                                   (0x0050, "SS", [1, 1]), (0x0100, "US", 1), (0x0102, "US", 0),
                                   (0x3000, "OW", bytes((overlay[0] * overlay[1] + 15) // 16 * 2))):
            ds.add_new((0x6000, element), vr, value)
    ds.PixelData = (np.arange(rows * columns, dtype=np.uint16) % 4096).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path
