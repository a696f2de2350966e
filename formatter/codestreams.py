"""The image size a compressed frame's own codestream declares (JPEG, JPEG-LS, JPEG 2000).

A decoder allocates what the codestream says, whatever the DICOM header says; reading the size
from the codestream first lets the formatter refuse a frame that claims more than its header.
"""
from __future__ import annotations

from struct import unpack_from

from pydicom.uid import UID, JPEG2000TransferSyntaxes, JPEGLSTransferSyntaxes, JPEGTransferSyntaxes


def sized(syntax: UID) -> bool:
    """Whether :func:`declared_size` can read frames of this transfer syntax."""
    return syntax in JPEG2000TransferSyntaxes or syntax in JPEGTransferSyntaxes or syntax in JPEGLSTransferSyntaxes


def declared_size(code: bytes, syntax: UID) -> tuple[int, int, int] | None:
    """(rows, columns, components) the frame's codestream declares, or None if it cannot be read."""
    return _j2k_size(code) if syntax in JPEG2000TransferSyntaxes else _jpeg_size(code)


def _jpeg_size(code: bytes) -> tuple[int, int, int] | None:
    """(rows, columns, components) in a JPEG or JPEG-LS frame header, or None."""
    if code[:2] != b"\xff\xd8":
        return None
    pos = 2
    for _ in range(1000):   # markers before the frame header: a few in real files
        while code[pos:pos + 1] == b"\xff" and code[pos + 1:pos + 2] == b"\xff":
            pos += 1    # fill bytes
        marker = code[pos + 1:pos + 2]
        if len(code) < pos + 10 or code[pos:pos + 1] != b"\xff":
            return None
        if marker[0] in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7):
            rows, columns = unpack_from(">HH", code, pos + 5)
            return rows, columns, code[pos + 9]
        pos += 2 + unpack_from(">H", code, pos + 2)[0]
    return None


def _j2k_size(code: bytes) -> tuple[int, int, int] | None:
    """(rows, columns, components) in a JPEG 2000 image and tile size marker, or None."""
    pos = code.find(b"\xff\x4f\xff\x51", 0, 1 << 16)    # after the JP2 boxes, if any
    if pos < 0 or len(code) < pos + 42:
        return None
    x, y, x0, y0 = unpack_from(">LLLL", code, pos + 8)
    return max(0, y - y0), max(0, x - x0), unpack_from(">H", code, pos + 40)[0]
