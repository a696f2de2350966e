"""A minimal Basic Grayscale Print SCP for measuring the SCU: answers at once, stores nothing.

Written on ``asyncio`` with the DICOM Upper Layer done by hand (A-ASSOCIATE,
P-DATA-TF, A-RELEASE, A-ABORT) rather than with pynetdicom, on purpose:
pynetdicom polls every association from two threads every millisecond, so 32
pynetdicom SCPs on a 2-core machine would use a core of their own and the
many-printers figure would measure them rather than hcserver. This SCP only
wakes up when bytes arrive.

It accepts Verification and the Basic Grayscale Print Management Meta SOP
class (and its member classes), Implicit or Explicit VR Little Endian (the
first the requestor proposes), answers N-GET Printer with NORMAL, creates
film sessions and film boxes (with one image box per position of a
``STANDARD\\C,R``/``ROW``/``COL`` display format), and answers every N-SET,
N-ACTION and N-DELETE with 0x0000, without decoding image pixels. TCP_NODELAY
is set on every accepted connection. It records when each N-GET, film
session N-CREATE and N-ACTION arrived (``time.time()``, once the whole
request has been read).

In-process: ``with MinimalPrintSCP() as scp: ...`` (its own event-loop
thread). As a separate process hosting many::

    python -m hcbench.minscp --count 32

prints ``{"ports": [...], "pid": N}`` and then answers one JSON line per
command read from stdin: ``stats`` (films and first/last N-ACTION time per
port, the last film session N-CREATE's time, the associations ended, the N-SET
bytes received, the process's CPU seconds) or ``quit``.
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import sys
import threading
import time
from io import BytesIO
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom.dsutils import decode, encode

VERIFICATION = "1.2.840.10008.1.1"
GRAY_META = "1.2.840.10008.5.1.1.9"
FILM_SESSION = "1.2.840.10008.5.1.1.1"
FILM_BOX = "1.2.840.10008.5.1.1.2"
IMAGE_BOX = "1.2.840.10008.5.1.1.4"
PRINTER = "1.2.840.10008.5.1.1.16"
SUPPORTED = {VERIFICATION, GRAY_META, FILM_SESSION, FILM_BOX, IMAGE_BOX, PRINTER}
IMPLICIT_LE, EXPLICIT_LE = "1.2.840.10008.1.2", "1.2.840.10008.1.2.1"
APP_CONTEXT = "1.2.840.10008.3.1.1.1"
IMPLEMENTATION_UID = "1.2.826.0.1.3680043.10.1234.1"
MAX_PDU = 131072

# DIMSE command fields
C_ECHO_RQ, N_GET_RQ, N_SET_RQ, N_ACTION_RQ, N_CREATE_RQ, N_DELETE_RQ = 0x0030, 0x0110, 0x0120, 0x0130, 0x0140, 0x0150
NO_DATASET = 0x0101


def _boxes(display_format: str) -> int:
    kind, _, rest = str(display_format).partition("\\")
    try:
        counts = [int(v) for v in rest.split(",")] if rest else [1]
    except ValueError:
        return 1
    if kind.strip().upper() == "STANDARD" and len(counts) == 2:
        return counts[0] * counts[1]
    return max(1, sum(counts))


# --------------------------------------------------------------------------- encoding
def _element(group: int, elem: int, value: bytes) -> bytes:
    return struct.pack("<HHI", group, elem, len(value)) + value


def _uid(value: str) -> bytes:
    raw = value.encode()
    return raw + b"\0" if len(raw) % 2 else raw


def command(fields: list[tuple[int, bytes]]) -> bytes:
    """An Implicit VR LE command set with its group length; fields: (element, value)."""
    body = b"".join(_element(0x0000, elem, value) for elem, value in sorted(fields))
    return _element(0x0000, 0x0000, struct.pack("<I", len(body))) + body


def _us(value: int) -> bytes:
    return struct.pack("<H", value)


def parse_command(data: bytes) -> dict[int, bytes]:
    """Implicit VR LE command set -> {element: raw value} (group 0000 only)."""
    out, i = {}, 0
    while i + 8 <= len(data):
        group, elem, length = struct.unpack_from("<HHI", data, i)
        i += 8
        if group == 0x0000:
            out[elem] = data[i:i + length]
        i += length
    return out


def _text(raw: bytes | None) -> str:
    return (raw or b"").rstrip(b"\0 ").decode(errors="replace")


def _int(raw: bytes | None) -> int:
    return struct.unpack("<H", raw[:2])[0] if raw else 0


def _pdu(pdu_type: int, body: bytes) -> bytes:
    return struct.pack(">BBI", pdu_type, 0, len(body)) + body


def _item(item_type: int, body: bytes) -> bytes:
    return struct.pack(">BBH", item_type, 0, len(body)) + body


# --------------------------------------------------------------------------- one association
class _Association:
    def __init__(self, scp: MinimalPrintSCP, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.scp, self.reader, self.writer = scp, reader, writer
        self.contexts: dict[int, tuple[str, bool]] = {}      # id -> (abstract syntax, implicit)
        self.peer_max = MAX_PDU
        self.command = bytearray()
        self.data = bytearray()
        self.context_id = 0
        self.fields: dict[int, bytes] | None = None

    async def run(self) -> None:
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                header = await self.reader.readexactly(6)
                pdu_type, _, length = struct.unpack(">BBI", header)
                body = await self.reader.readexactly(length)
                if pdu_type == 0x01:
                    self._associate(body)
                elif pdu_type == 0x04:
                    self._pdata(body)
                elif pdu_type == 0x05:
                    self.writer.write(_pdu(0x06, b"\0\0\0\0"))
                    await self.writer.drain()
                    break
                elif pdu_type == 0x07:
                    break
                else:
                    self.writer.write(_pdu(0x07, b"\0\0\x02\x01"))    # A-ABORT, unrecognised PDU
                    break
                await self.writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.writer.close()

    def _associate(self, body: bytes) -> None:
        called, calling = body[4:20], body[20:36]
        i = 68
        accepted = []
        while i + 4 <= len(body):
            item_type, _, length = struct.unpack_from(">BBH", body, i)
            value = body[i + 4:i + 4 + length]
            i += 4 + length
            if item_type == 0x20:
                cx_id = value[0]
                j, abstract, syntaxes = 4, "", []
                while j + 4 <= len(value):
                    sub_type, _, sub_len = struct.unpack_from(">BBH", value, j)
                    text = value[j + 4:j + 4 + sub_len].rstrip(b"\0").decode()
                    j += 4 + sub_len
                    if sub_type == 0x30:
                        abstract = text
                    elif sub_type == 0x40:
                        syntaxes.append(text)
                chosen = next((ts for ts in syntaxes if ts in (IMPLICIT_LE, EXPLICIT_LE)), None)
                if abstract in SUPPORTED and chosen:
                    self.contexts[cx_id] = (abstract, chosen == IMPLICIT_LE)
                    accepted.append(_item(0x21, bytes([cx_id, 0, 0, 0]) + _item(0x40, chosen.encode())))
                else:
                    accepted.append(_item(0x21, bytes([cx_id, 0, 3 if abstract not in SUPPORTED else 4, 0])
                                          + _item(0x40, IMPLICIT_LE.encode())))
            elif item_type == 0x50:
                j = 0
                while j + 4 <= len(value):
                    sub_type, _, sub_len = struct.unpack_from(">BBH", value, j)
                    if sub_type == 0x51 and sub_len == 4:
                        self.peer_max = struct.unpack_from(">I", value, j + 4)[0] or (1 << 31)
                    j += 4 + sub_len
        user = _item(0x50, _item(0x51, struct.pack(">I", MAX_PDU)) + _item(0x52, IMPLEMENTATION_UID.encode())
                     + _item(0x55, b"HCBENCH_MINSCP"))
        ac = (struct.pack(">HH", 1, 0) + called + calling + b"\0" * 32 + _item(0x10, APP_CONTEXT.encode())
              + b"".join(accepted) + user)
        self.writer.write(_pdu(0x02, ac))
        with self.scp._lock:
            self.scp.associations += 1

    def _pdata(self, body: bytes) -> None:
        i = 0
        while i + 6 <= len(body):
            length = struct.unpack_from(">I", body, i)[0]
            cx_id, flags = body[i + 4], body[i + 5]
            fragment = body[i + 6:i + 4 + length]
            i += 4 + length
            self.context_id = cx_id
            if flags & 0x01:                       # command
                self.command += fragment
                if flags & 0x02:
                    self.fields = parse_command(bytes(self.command))
                    self.command.clear()
                    if _int(self.fields.get(0x0800)) == NO_DATASET:
                        self._dispatch(None)
            else:
                self.data += fragment
                if flags & 0x02 and self.fields is not None:
                    data = bytes(self.data)
                    self.data.clear()
                    self._dispatch(data)

    def _dispatch(self, data: bytes | None) -> None:
        now = time.time()
        fields, self.fields = self.fields or {}, None
        op = _int(fields.get(0x0100))
        msg_id = _int(fields.get(0x0110))
        abstract, implicit = self.contexts.get(self.context_id, ("", True))
        sop_class = _text(fields.get(0x0002) or fields.get(0x0003))
        instance = _text(fields.get(0x1000) or fields.get(0x1001))
        out: Dataset | None = None
        scp = self.scp
        if op == N_GET_RQ:
            with scp._changed:
                scp.printer_gets.append(now)
                scp._changed.notify_all()
            out = Dataset()
            out.PrinterStatus = "NORMAL"
            out.PrinterStatusInfo = "NORMAL"
        elif op == N_CREATE_RQ:
            instance = instance or generate_uid()
            if sop_class == FILM_SESSION:
                with scp._changed:
                    scp.session_creates.append(now)
                    scp._changed.notify_all()
            elif sop_class == FILM_BOX:
                attrs = decode(BytesIO(data or b""), implicit, True)
                out = Dataset()
                out.ImageDisplayFormat = attrs.get("ImageDisplayFormat", "STANDARD\\1,1")
                items = []
                for _ in range(_boxes(out.ImageDisplayFormat)):
                    item = Dataset()
                    item.ReferencedSOPClassUID = IMAGE_BOX
                    item.ReferencedSOPInstanceUID = generate_uid()
                    items.append(item)
                out.ReferencedImageBoxSequence = items
        elif op == N_ACTION_RQ:
            with scp._changed:
                scp.actions.append(now)
                scp._changed.notify_all()
        elif op == N_SET_RQ:
            with scp._lock:
                scp.sets += 1
                scp.pixel_bytes += len(data or b"")
        self._respond(op | 0x8000, msg_id, sop_class, instance, out, implicit)

    def _respond(self, field: int, msg_id: int, sop_class: str, instance: str, out: Dataset | None,
                 implicit: bool) -> None:
        fields = [(0x0100, _us(field)), (0x0120, _us(msg_id)), (0x0800, _us(0x0000 if out is not None else NO_DATASET)),
                  (0x0900, _us(0x0000))]
        if sop_class:
            fields.append((0x0002, _uid(sop_class)))
        if instance and field != 0x8030:
            fields.append((0x1000, _uid(instance)))
        pdvs = [(bytes(command(fields)), 0x03)]
        if out is not None:
            pdvs.append((encode(out, implicit, True), 0x02))
        limit = max(64, self.peer_max - 6)
        for payload, flags in pdvs:
            for start in range(0, max(1, len(payload)), limit):
                chunk = payload[start:start + limit]
                last = start + limit >= len(payload)
                pdv = struct.pack(">IBB", len(chunk) + 2, self.context_id, flags if last else flags & 0x01)
                self.writer.write(_pdu(0x04, pdv + chunk))


# --------------------------------------------------------------------------- the SCP
class MinimalPrintSCP:
    """One listening SCP. ``start()`` runs it on the shared event loop (a background thread)."""

    _loop: asyncio.AbstractEventLoop | None = None
    _loop_lock = threading.Lock()

    def __init__(self, port: int = 0, ae_title: str = "MINSCP"):
        self.port = port
        self.ae_title = ae_title
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.session_creates: list[float] = []
        self.printer_gets: list[float] = []
        self.actions: list[float] = []
        self.sets = 0
        self.pixel_bytes = 0
        self.associations = 0
        self._server: asyncio.base_events.Server | None = None

    @classmethod
    def loop(cls) -> asyncio.AbstractEventLoop:
        with cls._loop_lock:
            if cls._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="minscp-loop", daemon=True).start()
                cls._loop = loop
            return cls._loop

    def start(self) -> MinimalPrintSCP:
        async def serve():
            return await asyncio.start_server(lambda r, w: _Association(self, r, w).run(), "127.0.0.1",
                                              self.port, backlog=64)
        self._server = asyncio.run_coroutine_threadsafe(serve(), self.loop()).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None

            async def close():
                server.close()
            asyncio.run_coroutine_threadsafe(close(), self.loop()).result(10)

    def __enter__(self) -> MinimalPrintSCP:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def films(self) -> int:
        with self._lock:
            return len(self.actions)

    def stats(self) -> dict:
        with self._lock:
            return {"port": self.port, "films": len(self.actions), "sets": self.sets,
                    "first_action": self.actions[0] if self.actions else None,
                    "last_action": self.actions[-1] if self.actions else None,
                    "sessions": len(self.session_creates), "associations": self.associations,
                    "last_session": self.session_creates[-1] if self.session_creates else None,
                    "pixel_bytes": self.pixel_bytes}


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Host COUNT minimal Print SCPs on 127.0.0.1.")
    ap.add_argument("--count", type=int, default=1)
    args = ap.parse_args(argv)
    scps = [MinimalPrintSCP(ae_title=f"MIN{i:02d}").start() for i in range(args.count)]
    print(json.dumps({"ports": [s.port for s in scps], "pid": os.getpid()}), flush=True)
    try:
        for line in sys.stdin:
            text = line.strip()
            if text == "stats":
                t = os.times()
                print(json.dumps({"scps": [s.stats() for s in scps], "cpu_s": t.user + t.system}), flush=True)
            elif text == "quit":
                break
    finally:
        for s in scps:
            s.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
