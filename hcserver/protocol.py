"""The socket protocol: framed messages, one request → one response.

A frame is ``b"HCS1"``, the JSON header length and the attachment length
(both unsigned 32-bit big-endian), the UTF-8 JSON header (an object), then
the attachment bytes (e.g. an uploaded image, or rendered PNGs).

Requests: ``{"id": <any>, "op": "<operation>", ...arguments}``.
Responses: ``{"id": <same>, "ok": true, ...}`` or
``{"id": <same>, "ok": false, "error": {"code": "...", "message": "..."}}``.
"""
from __future__ import annotations

import json
import socket
import struct
from dataclasses import dataclass

from hcserver.errors import ErrorCode

MAGIC = b"HCS1"
PREFIX = struct.Struct("!4sII")


class ProtocolError(Exception):
    """A message that cannot be read; ``fatal`` means the stream is out of step and must close."""

    def __init__(self, code: str, message: str, fatal: bool = True):
        super().__init__(message)
        self.code, self.message, self.fatal = code, message, fatal


@dataclass
class Message:
    header: dict
    attachment: bytes | bytearray = b""


def encode(header: dict, attachment: bytes = b"") -> bytes:
    body = json.dumps(header, separators=(",", ":"), default=str).encode()
    return PREFIX.pack(MAGIC, len(body), len(attachment)) + body + attachment


def _read_exact(sock: socket.socket, count: int, what: str, started: bool) -> bytes | bytearray:
    """``count`` bytes, received straight into one buffer (a list of several MB is not copied)."""
    buffer = bytearray(count)
    view = memoryview(buffer)
    got = 0
    while got < count:
        n = sock.recv_into(view[got:], min(count - got, 1 << 20))
        if not n:
            if not got and not started:
                raise EOFError
            raise ProtocolError(ErrorCode.TRUNCATED, f"connection closed in the middle of the {what} "
                                                     f"({got} of {count} bytes)")
        got += n
    return buffer


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def read_message(sock: socket.socket, max_header: int, max_attachment: int) -> Message:
    """Read one frame. Raises EOFError on a clean end of stream, ProtocolError otherwise."""
    prefix = _read_exact(sock, PREFIX.size, "message prefix", started=False)
    magic, header_len, attachment_len = PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise ProtocolError(ErrorCode.BAD_FRAME, "not an hcserver message (bad magic bytes)")
    if header_len > max_header:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"message header of {header_len} bytes exceeds the limit of "
                                                 f"{max_header} bytes")
    if attachment_len > max_attachment:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"attachment of {attachment_len} bytes exceeds the limit of "
                                                 f"{max_attachment} bytes")
    body = _read_exact(sock, header_len, "message header", started=True)
    attachment = _read_exact(sock, attachment_len, "attachment", started=True) if attachment_len else b""
    try:
        header = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError included
        raise ProtocolError(ErrorCode.BAD_JSON, f"message header is not valid JSON: {exc}", fatal=False) from None
    if not isinstance(header, dict):
        raise ProtocolError(ErrorCode.BAD_JSON, "message header must be a JSON object", fatal=False)
    return Message(header, attachment)


def error(request_id, code: str, message: str) -> dict:
    return {"id": request_id, "ok": False, "error": {"code": code, "message": message}}
