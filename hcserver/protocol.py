"""The socket protocol: framed messages, one request → one response.

A frame is ``b"HCS1"``, the JSON header length and the attachment length
(both unsigned 32-bit big-endian), the UTF-8 JSON header (an object), then
the attachment bytes (e.g. an uploaded image, or rendered PNGs). Its strings must be
Unicode text (no lone surrogates).

Requests: ``{"id": <any>, "op": "<operation>", ...arguments}``.
Responses: ``{"id": <same>, "ok": true, ...}`` or
``{"id": <same>, "ok": false, "error": {"code": "...", "message": "..."}}``.
"""
from __future__ import annotations

import json
import socket
import struct
from collections.abc import Callable
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


_CHUNK = 1 << 20


def _read_exact(sock: socket.socket, count: int, what: str, started: bool,
                stall_timeout: float | None) -> bytearray:
    """``count`` bytes. The buffer grows with the bytes received, never from the length a
    frame declares: a client that announces 512 MiB and sends nothing costs nothing. Once the
    message has begun, ``stall_timeout`` bounds the wait for each next piece of it."""
    buffer = bytearray()
    scratch = bytearray(min(count, _CHUNK))
    view = memoryview(scratch)
    while len(buffer) < count:
        try:
            n = sock.recv_into(view, min(count - len(buffer), len(scratch)))
        except TimeoutError:
            if not started and not buffer:
                raise   # idle between messages: the caller's to decide
            raise ProtocolError(ErrorCode.STALLED, f"no data for {sock.gettimeout():g} s in the middle of the {what} "
                                                   f"({len(buffer)} of {count} bytes received)") from None
        if not n:
            if not buffer and not started:
                raise EOFError
            raise ProtocolError(ErrorCode.TRUNCATED, f"connection closed in the middle of the {what} "
                                                     f"({len(buffer)} of {count} bytes)")
        buffer += view[:n]
        if not started and stall_timeout is not None:
            sock.settimeout(stall_timeout)
        started = True
    return buffer


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _lone_surrogate(value) -> str | None:
    """A string in ``value`` that is not Unicode text: JSON's ``\\ud800`` escapes that do not
    pair up decode to lone surrogates, which nothing downstream (database, DICOM, logs) can
    encode. None if there is none."""
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            todo.extend(item.keys())
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
        elif isinstance(item, str) and not item.isascii():
            try:
                item.encode()
            except UnicodeEncodeError:
                return item
    return None


def read_message(sock: socket.socket, max_header: int, max_attachment: int, *,
                 stall_timeout: float | None = None,
                 reserve: Callable[[int], None] | None = None) -> Message:
    """Read one frame. Raises EOFError on a clean end of stream, ProtocolError otherwise, and
    TimeoutError if the socket's timeout passes before the frame begins.

    Once the frame has begun, the socket's timeout becomes ``stall_timeout`` (when given).
    ``reserve(n)`` is called with the attachment's length once it is known to be within the
    limit, before any of it is read: it may refuse with a ProtocolError (too many bytes being
    received at once)."""
    prefix = _read_exact(sock, PREFIX.size, "message prefix", False, stall_timeout)
    magic, header_len, attachment_len = PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise ProtocolError(ErrorCode.BAD_FRAME, "not an hcserver message (bad magic bytes)")
    if header_len > max_header:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"message header of {header_len} bytes exceeds the limit of "
                                                 f"{max_header} bytes")
    if attachment_len > max_attachment:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"attachment of {attachment_len} bytes exceeds the limit of "
                                                 f"{max_attachment} bytes")
    body = _read_exact(sock, header_len, "message header", True, stall_timeout)
    attachment: bytes | bytearray = b""
    if attachment_len:
        if reserve is not None:
            reserve(attachment_len)
        attachment = _read_exact(sock, attachment_len, "attachment", True, stall_timeout)
    try:
        header = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError included
        raise ProtocolError(ErrorCode.BAD_JSON, f"message header is not valid JSON: {exc}", fatal=False) from None
    if not isinstance(header, dict):
        raise ProtocolError(ErrorCode.BAD_JSON, "message header must be a JSON object", fatal=False)
    bad = _lone_surrogate(header)
    if bad is not None:
        raise ProtocolError(ErrorCode.BAD_JSON, f"message header is not valid text: the string {bad!r} has a lone "
                                                f"surrogate (\\u escapes for D800-DFFF must come in pairs)",
                            fatal=False)
    return Message(header, attachment)


def error(request_id, code: str, message: str) -> dict:
    return {"id": request_id, "ok": False, "error": {"code": code, "message": message}}
