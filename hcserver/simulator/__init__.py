"""A DICOM Print SCP that simulates a film printer, with fault injection.

It ships with the product so that users can try a printer configuration
without a printer, the demo prints through it over real DICOM, and the tests
use it to provoke every status code and connection fault.

What it accepts
---------------
Verification, Basic Grayscale Print Management Meta (and, unless
``color=False``, Basic Color Print Management Meta), the individual classes
of both (Film Session, Film Box, Grayscale/Color Image Box, Printer), plus
Presentation LUT, Basic Annotation Box, Print Job and Printer Configuration
Retrieval; Implicit and Explicit VR Little Endian.

Film sessions and everything under them live as long as the association
(as in the standard). N-ACTION print on a film box, or on a film session (all
its film boxes), produces one *film record* per film box:

* ``out_dir/film_NNNN.png``: the image boxes composed on a sheet, to eyeball;
* ``out_dir/film_NNNN.json``: the record (see :meth:`PrinterSimulator._print`);
* one line appended to ``out_dir/films.jsonl`` (flushed and fsync'ed), so
  another process can count printed films even if the simulator is killed.

The same dicts are kept in :attr:`PrinterSimulator.films`; every DIMSE request
received is kept in :attr:`PrinterSimulator.log`.

Faults
------
:class:`Fault` rules, given at construction or added at run time, change how
the simulator answers the n-th matching request: answer another status, abort
the association, stall, close the TCP connection without an A-ABORT, send
an N-EVENT-REPORT (Printer status change) before answering, or send one right
after the response without waiting for its answer. A misbehaving
printer is one rule away too: bytes that are no valid PDU, half a P-DATA-TF
PDU and then a closed connection, a response whose Message ID Being Responded
To is not the request's, a response with attributes left out. Operation
``A-ASSOCIATE`` rules act on association requests (reject, accept with no
presentation context, abort, close, stall). See :data:`FAULT_SYNTAX` for the
command-line form.

Printer events
--------------
A printer whose film supply runs low tells the SCU while a job goes on: an
``event-after`` rule (``N-ACTION:event-after:event=WARNING/SUPPLY LOW:times=forever``)
sends a Printer N-EVENT-REPORT right behind every matching response, and
``random_events`` (events per second, seeded by ``seed``) sends them at random
moments to the associations in use. Neither waits for the answer before going
on, as printers built on other DICOM stacks do: the SCU's next request and
the event cross on the wire. Answers are recorded in :attr:`PrinterSimulator.log`
as they come (status None if the association ended first).

TLS
---
With ``tls_cert_file``/``tls_key_file`` the simulator speaks DICOM over TLS
(PS3.15 B.1, the Basic TLS Secure Transport Connection Profile); with
``tls_ca_file`` too it requires a client certificate signed by that CA.
The handshake runs in the association's own thread (see the notes below), so
a client that connects and says nothing holds up no one else.

Notes on pynetdicom (3.0)
-------------------------
* An SCP may call ``assoc.send_n_event_report()`` from inside a DIMSE
  handler: the acceptor marks its reactor paused while the handler runs, so
  the N-EVENT-REPORT-RSP is read by the handler and nothing deadlocks. The
  receiving side (the SCU) serves N-EVENT-REPORT requests in a thread of their
  own, even while it waits for the response to its own request. Sending from
  another thread (:meth:`PrinterSimulator.send_event_report`) pauses the
  reactor the same way; a per-association lock keeps two senders apart.
* Events that do not wait for their answer are queued with the association's
  DIMSE provider directly (``send_n_event_report()`` would wait, and would
  take the SCU's next request for the answer); their answers are taken off
  the message queue before pynetdicom's reactor would drop them as stray
  responses. Every outgoing message is queued whole under one lock, so such
  an event never splits a response's P-DATA-TF PDUs.
* Inside a handler ``assoc.abort()`` only queues the A-ABORT; after an
  ``EVT_REQUESTED`` handler pynetdicom closes the connection at once, so the
  ``A-ASSOCIATE`` abort fault waits until the A-ABORT has been sent.
* There is no setting to reject an association with an arbitrary
  result/source/reason: an ``EVT_REQUESTED`` handler sends the
  A-ASSOCIATE-RJ itself (pynetdicom then skips its own negotiation).
* An N-CREATE answered with a warning only carries the Affected SOP Instance
  UID if the handler returns it in the *status* dataset.
* pynetdicom never sets TCP_NODELAY; an ``EVT_CONN_OPEN`` handler sets it on
  every accepted socket.
* pynetdicom fills in a response's Message ID Being Responded To itself; an
  ``EVT_DIMSE_SENT`` handler changes it (the ``wrong-message-id`` fault)
  before the message is encoded.
* With an ``ssl_context`` pynetdicom's server wraps each accepted socket in
  its accept loop, and the TLS handshake would run there, holding up every
  other connection while one client is slow or silent:
  :class:`_DeferredHandshakeContext` makes the handshake happen on the first
  read, in the association's thread.
"""
from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import logging
import math
import os
import queue
import random
import re
import signal
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid
from pynetdicom import AE, evt
from pynetdicom.dimse_primitives import N_EVENT_REPORT
from pynetdicom.dsutils import encode
from pynetdicom.sop_class import (
    BasicAnnotationBox,
    BasicColorImageBox,
    BasicColorPrintManagementMeta,
    BasicFilmBox,
    BasicFilmSession,
    BasicGrayscaleImageBox,
    BasicGrayscalePrintManagementMeta,
    PresentationLUT,
    Printer,
    PrinterConfigurationRetrieval,
    PrinterConfigurationRetrievalInstance,
    PrinterInstance,
    PrintJob,
    Verification,
)
from pynetdicom.status import code_to_category

from hcserver.simulator.faults import (
    FAULT_SYNTAX,
    GARBAGE,
    Fault,
    malform,
    parse_fault,
    parse_printer_status,
    partial_pdata,
)
from hcserver.simulator.layout import film_size_mm, parse_display_format
from hcserver.simulator.sop import EVENT_TYPES, META_MEMBERS, SOP_ALIASES, SOP_NAMES
from hcserver.simulator.tls import server_tls_context

__all__ = ["Fault", "PrinterSimulator", "FAULT_SYNTAX", "GARBAGE", "parse_fault", "parse_display_format",
           "film_size_mm", "server_tls_context", "main"]

LOG = logging.getLogger(__name__)

ANNOTATION_BOXES = 2          # created per film box that names an Annotation Display Format ID
SHEET_LONG_SIDE_PX = 1024     # size of the film PNG's long side


# --------------------------------------------------------------------------- utilities
def _category(code: int) -> str:
    return code_to_category(int(code))


def _json_value(elem_value: Any, vr: str) -> Any:
    if vr == "SQ":
        return [_ds_to_json(item) for item in elem_value]
    if isinstance(elem_value, (bytes, bytearray)):
        return f"<{len(elem_value)} bytes>"
    if isinstance(elem_value, MultiValue) or isinstance(elem_value, list):
        return [_json_value(v, vr) for v in elem_value]
    if elem_value is None or isinstance(elem_value, (bool, str)):
        return elem_value
    if isinstance(elem_value, int):
        return int(elem_value)
    if isinstance(elem_value, float):
        return float(elem_value)
    return str(elem_value)


def _ds_to_json(ds: Dataset | None) -> dict[str, Any]:
    """A JSON-friendly dict of a dataset, by keyword; Pixel Data left out."""
    out: dict[str, Any] = {}
    if ds is None:
        return out
    for elem in ds:
        if elem.tag.group == 0 or elem.tag == 0x7FE00010:
            continue
        key = elem.keyword or f"({elem.tag.group:04X},{elem.tag.element:04X})"
        try:
            out[key] = _json_value(elem.value, elem.VR)
        except Exception:  # pragma: no cover - odd private data
            out[key] = str(elem.value)
    return out


def _copy_ds(ds: Dataset | None, skip: Iterable[str] = ()) -> Dataset:
    out = Dataset()
    if ds is None:
        return out
    skip = set(skip)
    for elem in ds:
        if elem.tag.group == 0 or elem.keyword in skip:
            continue
        out.add(elem)
    return out



# --------------------------------------------------------------------------- state
@dataclass
class _Result:
    status: int
    ds: Dataset | None = None
    instance_uid: str | None = None
    comment: str | None = None


@dataclass
class _ImageBox:
    uid: str
    film_box_uid: str
    position: int
    sop_class: str
    attrs: Dataset | None = None
    pixels: bytes | None = None
    info: dict[str, Any] | None = None


@dataclass
class _FilmBox:
    uid: str
    session_uid: str
    attrs: Dataset
    layout_kind: str
    rects: list[tuple[float, float, float, float]]
    color: bool
    image_boxes: list[str] = field(default_factory=list)
    annotation_boxes: list[str] = field(default_factory=list)


@dataclass
class _FilmSession:
    uid: str
    attrs: Dataset
    film_boxes: list[str] = field(default_factory=list)


class _AssocState:
    """What one association created (Film Session lifetime is the association)."""

    def __init__(self, assoc: Any) -> None:
        self.calling_ae = str(getattr(assoc.requestor, "ae_title", "") or "").strip()
        self.called_ae = str(getattr(assoc.acceptor, "ae_title", "") or "").strip()
        try:
            self.peer = f"{assoc.requestor.address}:{assoc.requestor.port}"
        except Exception:  # pragma: no cover
            self.peer = ""
        self.sessions: dict[str, _FilmSession] = {}
        self.film_boxes: dict[str, _FilmBox] = {}
        self.image_boxes: dict[str, _ImageBox] = {}
        self.annotations: dict[str, dict[str, Any]] = {}
        self.pluts: dict[str, Dataset] = {}
        self.send_lock = threading.Lock()
        self.misnumber: int | None = None   # answer this Message ID with the wrong one (a fault)
        # request Message ID -> (event, context UID) to send right behind its response
        self.after: dict[int, tuple[tuple[str, str], str]] = {}
        # Message ID -> log entry of an N-EVENT-REPORT sent without waiting for its answer
        self.unanswered: dict[int, dict[str, Any]] = {}


class _EventAnswers(queue.Queue):
    """An association's DIMSE message queue that keeps back the answers to events sent
    without waiting (``claim`` records them): pynetdicom's reactor would take them for
    stray responses."""

    def __init__(self, claim: Callable[[Any], bool]) -> None:
        super().__init__()
        self._claim = claim

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if not self._claim(item[1]):
            super().put(item, block, timeout)


# --------------------------------------------------------------------------- the SCP
class PrinterSimulator:
    """A DICOM Print SCP simulating a film printer (see the module docstring).

    ``start()`` returns once it listens (``port=0`` picks a free port, see
    :attr:`port`); ``stop()`` ends it; it is also a context manager.
    """

    def __init__(
        self,
        port: int = 0,
        ae_title: str = "HCSIM",
        out_dir: Path | str | None = None,
        color: bool = True,
        faults: Iterable[Fault] = (),
        printer_status: tuple[str, str] = ("NORMAL", "NORMAL"),
        max_pdu: int = 131072,
        bind: str = "127.0.0.1",
        *,
        refuse: tuple[int, int, int] | None = None,
        accept_contexts: bool = True,
        supports_12bit: bool = True,
        check_called_ae: bool = False,
        network_timeout: float | None = 60.0,
        dimse_timeout: float = 30.0,
        tls_cert_file: Path | str | None = None,
        tls_key_file: Path | str | None = None,
        tls_ca_file: Path | str | None = None,
        random_events: float = 0.0,
        random_event: tuple[str, str] | None = None,
        seed: int | None = None,
    ) -> None:
        self.bind = bind
        self.port = int(port)
        self.ae_title = ae_title
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.color = color
        self.max_pdu = max_pdu
        self.refuse = tuple(refuse) if refuse else None
        self.accept_contexts = accept_contexts
        self.supports_12bit = supports_12bit
        self.check_called_ae = check_called_ae
        self.network_timeout = network_timeout
        self.dimse_timeout = dimse_timeout
        if (tls_key_file or tls_ca_file) and not tls_cert_file:
            raise ValueError("TLS needs the simulator's certificate (tls_cert_file)")
        self.tls_cert_file = tls_cert_file
        self.tls_key_file = tls_key_file
        self.tls_ca_file = tls_ca_file     # given: clients must present a certificate it signed
        if random_events < 0:
            raise ValueError("random_events is a rate (events per second), not negative")
        self.random_events = float(random_events)   # N-EVENT-REPORTs per second, at random moments
        # what they report (default: the current printer status)
        self.random_event = parse_printer_status(":".join(random_event)) if random_event else None
        self.seed = seed
        self._random_thread: threading.Thread | None = None

        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._faults: list[Fault] = list(faults)
        self._printer_status = parse_printer_status(":".join(printer_status))
        self._films: list[dict[str, Any]] = []
        self._log: list[dict[str, Any]] = []
        self._states: dict[Any, _AssocState] = {}
        self._print_jobs: dict[str, Dataset] = {}
        self._film_no = 0
        self._msg_ids = itertools.count(1)
        self._stopping = threading.Event()
        self._ae: AE | None = None
        self._server: Any = None
        self.associations = 0
        self.peak_open_associations = 0   # most associations in use (sending requests) at once
        self.releases = 0          # associations the SCU released (A-RELEASE)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> PrinterSimulator:
        if self._server is not None:
            return self
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            existing = [int(m.group(1)) for p in self.out_dir.glob("film_*.json")
                        if (m := re.fullmatch(r"film_(\d+)\.json", p.name))]
            self._film_no = max(existing, default=0)
        ae = AE(ae_title=self.ae_title)
        ae.maximum_pdu_size = self.max_pdu
        ae.network_timeout = self.network_timeout
        ae.dimse_timeout = self.dimse_timeout
        ae.acse_timeout = 30
        ae.maximum_associations = 32
        ae.require_called_aet = self.check_called_ae
        ts = [ImplicitVRLittleEndian, ExplicitVRLittleEndian]
        uids = [Verification, BasicGrayscalePrintManagementMeta, BasicFilmSession, BasicFilmBox,
                BasicGrayscaleImageBox, Printer, PrinterConfigurationRetrieval, PresentationLUT,
                BasicAnnotationBox, PrintJob]
        if self.color:
            uids += [BasicColorPrintManagementMeta, BasicColorImageBox]
        for uid in uids:
            ae.add_supported_context(uid, ts)
        handlers = [
            (evt.EVT_CONN_OPEN, self._on_conn_open),
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_RELEASED, self._on_released),
            (evt.EVT_ABORTED, self._on_gone),
            (evt.EVT_CONN_CLOSE, self._on_gone),
            (evt.EVT_C_ECHO, self._on_c_echo),
            (evt.EVT_N_GET, self._on_n_get),
            (evt.EVT_N_CREATE, self._on_n_create),
            (evt.EVT_N_SET, self._on_n_set),
            (evt.EVT_N_ACTION, self._on_n_action),
            (evt.EVT_N_DELETE, self._on_n_delete),
            (evt.EVT_DIMSE_SENT, self._on_dimse_sent),
        ]
        self._stopping.clear()
        ssl_context = None
        if self.tls_cert_file:
            ssl_context = server_tls_context(self.tls_cert_file, self.tls_key_file, self.tls_ca_file)
        self._server = ae.start_server((self.bind, self.port), block=False, evt_handlers=handlers,
                                       ssl_context=ssl_context)
        self._ae = ae
        self.port = int(self._server.server_address[1])
        if self.random_events > 0:
            self._random_thread = threading.Thread(target=self._random_events_loop,
                                                   name="simulator-random-events", daemon=True)
            self._random_thread.start()
        LOG.info("printer simulator %s listening on %s:%d%s", self.ae_title, self.bind, self.port,
                 " (TLS)" if ssl_context else "")
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()           # releases stalled handlers
        try:
            if self._random_thread is not None:
                self._random_thread.join(5)
                self._random_thread = None
            assert self._ae is not None
            self._ae.shutdown()
        finally:
            self._server = None
            self._ae = None
            with self._lock:
                self._states.clear()

    def __enter__(self) -> PrinterSimulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        return self.bind, self.port

    # ------------------------------------------------------------------ runtime control
    def add_fault(self, fault: Fault | str | None = None, **kwargs: Any) -> Fault:
        """Add a rule: a :class:`Fault`, its command-line form, or Fault keywords."""
        if isinstance(fault, str):
            fault = parse_fault(fault)
        elif fault is None:
            fault = Fault(**kwargs)
        fault.seen = fault.fired = 0
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    @property
    def printer_status(self) -> tuple[str, str]:
        with self._lock:
            return self._printer_status

    def set_printer_status(self, status: str, info: str = "", notify: bool = False) -> None:
        """Set what N-GET Printer answers; ``notify`` also sends an
        N-EVENT-REPORT to every open association."""
        with self._lock:
            self._printer_status = parse_printer_status(f"{status}:{info}")
        if notify:
            self.send_event_report()

    def send_event_report(self, status: str | None = None, info: str | None = None,
                          wait: bool = True) -> int:
        """Send a Printer N-EVENT-REPORT to every open association now (from
        the caller's thread); returns how many were sent (answered, with ``wait``).
        ``wait=False`` does not wait for the answers (see "Printer events")."""
        event = self.printer_status if status is None else parse_printer_status(f"{status}:{info or ''}")
        ae = self._ae
        if ae is None:
            return 0
        sent = 0
        for assoc in list(ae.active_associations):
            if not assoc.is_established:
                continue
            st = self._state(assoc)
            if (self._send_event(assoc, st, None, event) if wait
                    else self._queue_event(assoc, st, event, None, assoc.dimse.send_msg)):
                sent += 1
        return sent

    def drop_associations(self, close: bool = False) -> int:
        """A-ABORT every open association now (a printer restarting), or with ``close``
        close their connections without one (a printer switched off); returns how many."""
        ae = self._ae
        dropped = 0
        for assoc in list(ae.active_associations) if ae is not None else []:
            if not assoc.is_established:
                continue
            if close:
                self._close_connection(assoc)
            else:
                # A blocking abort() from outside the association's thread ends its reactor,
                # which closes the connection, racing the A-ABORT out: let it out first.
                assoc.abort(block=False)
                deadline = time.monotonic() + 2.0
                while (assoc.dul.state_machine.current_state == "Sta6"
                       and time.monotonic() < deadline):
                    time.sleep(0.005)
                assoc.kill()
            dropped += 1
        return dropped

    # ------------------------------------------------------------------ records
    @property
    def films(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._films)

    @property
    def log(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._log)

    def received_count(self, operation: str | None = None, sop_class: str | None = None) -> int:
        """How many DIMSE requests were received (by operation / SOP class name or UID)."""
        names = SOP_ALIASES.get(sop_class, frozenset({sop_class})) if sop_class else None
        with self._lock:
            return sum(1 for e in self._log
                       if e.get("direction") == "in"
                       and (e["operation"] == operation.upper() if operation
                            else e["operation"] != "A-ASSOCIATE")
                       and (names is None or e["sop_class_uid"] in names))

    def wait_for_films(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until at least ``count`` films were printed."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._films) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def reset_records(self) -> None:
        """Forget the in-memory films and log (files are left alone)."""
        with self._lock:
            self._films.clear()
            self._log.clear()

    def _add_log(self, entry: dict[str, Any]) -> None:
        entry.setdefault("time", datetime.now(UTC).isoformat(timespec="milliseconds"))
        with self._changed:
            self._log.append(entry)
            self._changed.notify_all()
        status = entry.get("status")
        LOG.info("%s %s %s %s %s -> %s%s",
                 entry.get("calling_ae") or "-",
                 "<-" if entry.get("direction") == "out" else "->",
                 entry["operation"], entry.get("sop_class") or "-",
                 entry.get("instance_uid") or "-",
                 "no answer" if status is None else f"0x{status:04X}",
                 f" [fault: {entry['fault']}]" if entry.get("fault") else "")

    # ------------------------------------------------------------------ faults
    def _take_fault(self, operation: str, sop_class_uid: str | None) -> Fault | None:
        with self._lock:
            chosen = None
            for fault in self._faults:
                if fault.exhausted or not fault.matches(operation, sop_class_uid):
                    continue
                fault.seen += 1
                if chosen is None and fault.seen >= fault.nth:
                    fault.fired += 1
                    chosen = fault
            return chosen

    def _state(self, assoc: Any) -> _AssocState:
        with self._lock:
            st = self._states.get(assoc)
            if st is None:
                st = self._states[assoc] = _AssocState(assoc)
                self.peak_open_associations = max(self.peak_open_associations, len(self._states))
            return st

    def _assoc_gone(self, assoc: Any) -> bool:
        try:
            return (assoc.is_aborted or not assoc.dul.is_alive() or assoc.acse.is_aborted()
                    or assoc.dul.state_machine.current_state == "Sta1")
        except Exception:  # pragma: no cover
            return True

    def _wait(self, assoc: Any, seconds: float | None) -> bool:
        """Sleep ``seconds`` (None: until the peer goes away or we stop).
        True if the association is still there afterwards."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            if self._stopping.is_set() or self._assoc_gone(assoc):
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return True
            self._stopping.wait(0.02)

    def _close_connection(self, assoc: Any) -> None:
        sock = assoc.dul.socket.socket if assoc.dul.socket else None
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and not self._assoc_gone(assoc):
            time.sleep(0.01)

    # ------------------------------------------------------------------ association events
    def _on_conn_open(self, event: Any) -> None:
        try:
            event.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except Exception:  # pragma: no cover - e.g. TLS wrapped
            pass
        self._prepare_for_events(event.assoc)

    def _prepare_for_events(self, assoc: Any) -> None:
        """Before the association starts: queue every outgoing message whole, send the events
        due right behind a response, keep the answers to events sent without waiting."""
        dimse = assoc.dimse
        send = dimse.send_msg
        lock = threading.Lock()

        def send_msg(primitive: Any, context_id: int) -> None:
            with lock:
                send(primitive, context_id)
                responding_to = getattr(primitive, "MessageIDBeingRespondedTo", None)
                if responding_to is None:
                    return
                with self._lock:
                    st = self._states.get(assoc)
                    due = st.after.pop(int(responding_to), None) if st is not None else None
                if due is not None:
                    assert st is not None
                    self._queue_event(assoc, st, due[0], due[1], send)

        def claim(msg: Any) -> bool:
            if not isinstance(msg, N_EVENT_REPORT) or msg.MessageIDBeingRespondedTo is None:
                return False
            with self._lock:
                st = self._states.get(assoc)
                entry = st.unanswered.pop(int(msg.MessageIDBeingRespondedTo), None) if st else None
            if entry is None:
                return False          # an answer send_n_event_report() waits for
            entry["status"] = None if msg.Status is None else int(msg.Status)
            self._add_log(entry)
            return True

        dimse.send_msg = send_msg
        dimse.msg_queue = _EventAnswers(claim)

    def _on_requested(self, event: Any) -> None:
        assoc = event.assoc
        with self._lock:
            self.associations += 1
        prim = assoc.requestor.primitive
        calling = str(getattr(prim, "calling_ae_title", "") or "").strip()
        entry = {"direction": "in", "operation": "A-ASSOCIATE", "calling_ae": calling,
                 "sop_class": None, "sop_class_uid": None, "instance_uid": None, "status": None}
        fault = self._take_fault("A-ASSOCIATE", None)
        if fault is not None:
            entry["fault"] = fault.behaviour
            if fault.behaviour == "reject":
                self._reject(assoc, fault.reject, entry)
                return
            if fault.behaviour == "no-contexts":
                assoc.acceptor.supported_contexts = []
            elif fault.behaviour == "abort":
                entry["result"] = "aborted"
                self._add_log(entry)
                assoc.abort()
                # See the module notes: let the A-ABORT out before pynetdicom closes the socket.
                deadline = time.monotonic() + 2.0
                while (assoc.dul.state_machine.current_state == "Sta3"
                       and time.monotonic() < deadline):
                    time.sleep(0.005)
                return
            elif fault.behaviour == "close":
                entry["result"] = "closed"
                self._add_log(entry)
                self._close_connection(assoc)
                assoc.is_aborted = True        # pynetdicom then skips its negotiation
                return
            elif fault.behaviour == "stall":
                if not self._wait(assoc, fault.stall_s):
                    entry["result"] = "peer gone"
                    self._add_log(entry)
                    assoc.is_aborted = True
                    return
        if self.refuse:
            self._reject(assoc, self.refuse, entry)
            return
        if not self.accept_contexts:
            assoc.acceptor.supported_contexts = []
        entry["result"] = "accepted"
        self._add_log(entry)

    def _reject(self, assoc: Any, rsd: tuple[int, ...], entry: dict[str, Any]) -> None:
        entry["result"] = "rejected {}/{}/{}".format(*rsd)
        self._add_log(entry)
        assoc.acse.send_reject(*rsd)
        evt.trigger(assoc, evt.EVT_REJECTED, {})
        # Like pynetdicom's own rejection: wait until the peer closed the connection.
        assoc.kill()

    def _on_gone(self, event: Any) -> None:
        with self._lock:
            st = self._states.pop(event.assoc, None)
            if st is not None:        # events the association ended before answering
                for entry in st.unanswered.values():
                    self._add_log(entry)
                st.unanswered.clear()

    def _on_released(self, event: Any) -> None:
        with self._lock:
            self.releases += 1
        self._on_gone(event)

    @property
    def open_associations(self) -> int:
        """Associations established and not yet released, aborted or closed."""
        with self._lock:
            return len(self._states)

    # ------------------------------------------------------------------ DIMSE events
    def _on_c_echo(self, event: Any) -> Any:
        return self._serve("C-ECHO", event)

    def _on_n_get(self, event: Any) -> Any:
        return self._serve("N-GET", event)

    def _on_n_create(self, event: Any) -> Any:
        return self._serve("N-CREATE", event)

    def _on_n_set(self, event: Any) -> Any:
        return self._serve("N-SET", event)

    def _on_n_action(self, event: Any) -> Any:
        return self._serve("N-ACTION", event)

    def _on_n_delete(self, event: Any) -> Any:
        return self._serve("N-DELETE", event)

    def _serve(self, op: str, event: Any) -> Any:
        req = event.request
        if op in ("N-CREATE", "C-ECHO"):
            sop = str(req.AffectedSOPClassUID or Verification)
            inst = req.AffectedSOPInstanceUID if op == "N-CREATE" else None
        else:
            sop = str(req.RequestedSOPClassUID)
            inst = req.RequestedSOPInstanceUID
        inst = str(inst) if inst else None
        assoc = event.assoc
        st = self._state(assoc)
        fault = self._take_fault(op, sop)
        entry: dict[str, Any] = {
            "direction": "in", "operation": op, "calling_ae": st.calling_ae,
            "sop_class": SOP_NAMES.get(sop, sop), "sop_class_uid": sop,
            "instance_uid": inst, "context": SOP_NAMES.get(str(event.context.abstract_syntax),
                                                          str(event.context.abstract_syntax)),
            "message_id": req.MessageID, "fault": fault.behaviour if fault else None,
        }
        if op == "N-ACTION":
            entry["action_type"] = req.ActionTypeID
        try:
            res = self._with_fault(op, event, st, sop, inst, fault)
        except Exception as exc:  # a bug or a malformed request: answer, don't abort
            LOG.exception("simulator failed on %s %s", op, SOP_NAMES.get(sop, sop))
            res = _Result(0x0110, comment=f"{type(exc).__name__}: {exc}"[:64])
        if res is None:
            entry["status"] = None
            self._add_log(entry)
            return 0x0110 if op in ("N-DELETE", "C-ECHO") else (0x0110, None)
        entry["status"] = res.status
        if res.instance_uid and not inst:
            entry["instance_uid"] = res.instance_uid
        if res.comment:
            entry["comment"] = res.comment
        if fault is not None and fault.behaviour == "malformed":
            res.ds = malform(res.ds, fault.omit, fault.empty)
        if fault is not None and fault.behaviour == "wrong-message-id":
            st.misnumber = int(req.MessageID)     # see _on_dimse_sent
        if fault is not None and fault.behaviour == "event-after":
            with self._lock:                      # sent by _prepare_for_events' send_msg
                st.after[int(req.MessageID)] = (fault.event or self.printer_status,
                                                str(event.context.abstract_syntax))
        self._add_log(entry)
        return self._respond(op, req, res)

    def _on_dimse_sent(self, event: Any) -> None:
        """A ``wrong-message-id`` fault: renumber the response before it is encoded."""
        with self._lock:
            st = self._states.get(event.assoc)
        if st is None or st.misnumber is None:
            return
        cs = event.message.command_set
        if cs.get("MessageIDBeingRespondedTo") == st.misnumber:
            cs.MessageIDBeingRespondedTo = (st.misnumber + 1) % 65536
            st.misnumber = None

    def _write_raw(self, assoc: Any, st: _AssocState, fault: Fault, context_id: int) -> None:
        """``garbage`` and ``half-pdu``: bytes straight on the connection instead of an answer."""
        assoc.is_established = False      # keep pynetdicom from answering after us
        if fault.behaviour == "garbage":
            data = GARBAGE if fault.payload is None else fault.payload
        else:
            data = partial_pdata(context_id)
        with st.send_lock:
            try:
                assoc.dul.socket.socket.sendall(data)
            except OSError as exc:
                LOG.warning("could not write to %s: %s", st.calling_ae, exc)
        if fault.behaviour == "garbage":
            self._wait(assoc, 10.0 if fault.stall_s is None else fault.stall_s)
        elif fault.stall_s:
            self._wait(assoc, fault.stall_s)
        self._close_connection(assoc)

    def _respond(self, op: str, req: Any, res: _Result) -> Any:
        cat = _category(res.status)
        status = Dataset()
        status.Status = res.status
        if res.comment and cat not in ("Success",):
            # LO: a backslash would split the value
            status.ErrorComment = res.comment.replace("\\", "/")[:64]
        ds = res.ds if cat in ("Success", "Warning") else None
        if op == "N-CREATE" and res.instance_uid and cat in ("Success", "Warning"):
            # pynetdicom copies status-dataset elements onto the response primitive
            status.AffectedSOPInstanceUID = res.instance_uid
            if cat == "Success" and req.AffectedSOPInstanceUID is None:
                # ...and on success insists on finding the UID in the attribute list
                ds = ds if ds is not None else Dataset()
                ds.AffectedSOPInstanceUID = res.instance_uid
        if op in ("N-DELETE", "C-ECHO"):
            return status
        return status, ds

    def _with_fault(self, op: str, event: Any, st: _AssocState, sop: str, inst: str | None,
                    fault: Fault | None) -> _Result | None:
        if fault is None:
            return self._perform(op, event, st, sop, inst, None)
        assoc = event.assoc
        b = fault.behaviour
        if b in ("garbage", "half-pdu"):
            if fault.perform:
                self._perform(op, event, st, sop, inst, None)
            self._write_raw(assoc, st, fault, event.context.context_id)
            return None
        if b in ("abort", "close"):
            if fault.perform:
                self._perform(op, event, st, sop, inst, None)
            if b == "abort":
                assoc.abort()
            else:
                self._close_connection(assoc)
                assoc.is_established = False     # keep pynetdicom from answering
            return None
        if b == "stall":
            if not self._wait(assoc, fault.stall_s):
                assoc.is_established = False
                return None
        elif b == "event-report":
            self._send_event(assoc, st, str(event.context.abstract_syntax), fault.event or self.printer_status)
        if fault.status is None:
            return self._perform(op, event, st, sop, inst, None)
        cat = _category(fault.status)
        perform = fault.perform if fault.perform is not None else cat in ("Success", "Warning")
        if not perform:
            return _Result(fault.status, comment=fault.comment or "injected fault")
        res = self._perform(op, event, st, sop, inst, fault.status)
        if _category(res.status) == "Failure":
            return res            # the operation itself failed: say so
        res.status = fault.status
        res.comment = fault.comment or res.comment
        return res

    @staticmethod
    def _event_meta(assoc: Any, st: _AssocState, context_uid: str | None) -> tuple[bool, str | None]:
        """(whether a Printer N-EVENT-REPORT can be sent, the Meta SOP Class it goes under)."""
        accepted = {str(cx.abstract_syntax) for cx in assoc.accepted_contexts}
        if context_uid in (BasicGrayscalePrintManagementMeta, BasicColorPrintManagementMeta):
            return True, context_uid
        if Printer in accepted:
            return True, None
        for meta in (BasicGrayscalePrintManagementMeta, BasicColorPrintManagementMeta):
            if meta in accepted:
                return True, meta
        LOG.warning("no presentation context for a Printer N-EVENT-REPORT to %s", st.calling_ae)
        return False, None

    @staticmethod
    def _event_entry(st: _AssocState, event: tuple[str, str]) -> tuple[dict[str, Any], Dataset | None]:
        """The log entry of a Printer N-EVENT-REPORT, and its Event Information."""
        status, info = event
        ev_type = EVENT_TYPES[status]
        ds = None                      # never an empty Dataset: see the module notes
        if ev_type != 1:
            ds = Dataset()
            ds.PrinterStatusInfo = info or status
        entry = {"direction": "out", "operation": "N-EVENT-REPORT", "calling_ae": st.calling_ae,
                 "sop_class": "printer", "sop_class_uid": Printer, "instance_uid": PrinterInstance,
                 "event_type": ev_type, "event": [status, info], "status": None}
        return entry, ds

    def _queue_event(self, assoc: Any, st: _AssocState, event: tuple[str, str], context_uid: str | None,
                     send: Callable[[Any, int], None]) -> bool:
        """Queue a Printer N-EVENT-REPORT without waiting for its answer (see "Printer events");
        ``send`` is the association's message sender. True if it was queued."""
        ok, meta = self._event_meta(assoc, st, context_uid)
        if not ok or assoc.dul.state_machine.current_state != "Sta6":
            return False              # not (or no longer) in data transfer
        entry, ds = self._event_entry(st, event)
        context = assoc._get_valid_context(meta or Printer, "", None)
        ts = context.transfer_syntax[0]
        req = N_EVENT_REPORT()
        req.AffectedSOPClassUID = Printer
        req.AffectedSOPInstanceUID = PrinterInstance
        req.EventTypeID = entry["event_type"]
        if ds is not None:
            req.EventInformation = BytesIO(encode(ds, ts.is_implicit_VR, ts.is_little_endian,
                                                  ts.is_deflated))
        with self._lock:
            msg_id = next(self._msg_ids) % 65536
            req.MessageID = msg_id
            entry["message_id"] = msg_id
            st.unanswered[msg_id] = entry
        try:
            send(req, int(context.context_id))
        except Exception as exc:  # pragma: no cover - the association went away meanwhile
            LOG.warning("N-EVENT-REPORT to %s failed: %s", st.calling_ae, exc)
            with self._lock:
                st.unanswered.pop(msg_id, None)
            return False
        return True

    def _random_events_loop(self) -> None:
        """``random_events``: an N-EVENT-REPORT to one association in use, at random moments."""
        rng = random.Random(self.seed)
        while not self._stopping.wait(rng.expovariate(self.random_events)):
            with self._lock:
                in_use = [(a, st) for a, st in self._states.items() if a.is_established]
            if not in_use:
                continue
            assoc, st = in_use[rng.randrange(len(in_use))]
            self._queue_event(assoc, st, self.random_event or self.printer_status, None,
                              assoc.dimse.send_msg)

    def _send_event(self, assoc: Any, st: _AssocState, context_uid: str | None,
                    event: tuple[str, str]) -> bool:
        ok, meta = self._event_meta(assoc, st, context_uid)
        if not ok:
            return False
        entry, ds = self._event_entry(st, event)
        ev_type = entry["event_type"]
        with st.send_lock:
            msg_id = next(self._msg_ids) % 65536
            try:
                rsp, _ = assoc.send_n_event_report(ds, ev_type, Printer, PrinterInstance,
                                                   msg_id=msg_id, meta_uid=meta)
            except Exception as exc:
                LOG.warning("N-EVENT-REPORT to %s failed: %s", st.calling_ae, exc)
                rsp = Dataset()
        entry["status"] = rsp.get("Status")
        self._add_log(entry)
        return "Status" in rsp

    # ------------------------------------------------------------------ operations
    def _perform(self, op: str, event: Any, st: _AssocState, sop: str, inst: str | None,
                 answer: int | None) -> _Result:
        context = str(event.context.abstract_syntax)
        if context in META_MEMBERS:
            if sop not in META_MEMBERS[context]:
                return _Result(0x0118, comment=f"{SOP_NAMES.get(sop, sop)} is not in this meta class")
        elif context != sop:
            return _Result(0x0119, comment="SOP class differs from the presentation context")
        if op == "C-ECHO":
            return _Result(0x0000)
        handler = self._OPS.get((op, sop))
        if handler is None:
            return _Result(0x0211, comment=f"{op} not supported on {SOP_NAMES.get(sop, sop)}")
        return handler(self, event, st, inst, answer)

    # N-GET ---------------------------------------------------------------
    def _get_printer(self, event: Any, st: _AssocState, inst: str | None, answer: int | None) -> _Result:
        if inst != PrinterInstance:
            return _Result(0x0112, comment="Printer SOP Instance is 1.2.840.10008.5.1.1.17")
        status, info = self.printer_status
        ds = Dataset()
        ds.PrinterStatus = status
        ds.PrinterStatusInfo = info or status
        ds.PrinterName = self.ae_title
        ds.Manufacturer = "hcserver"
        ds.ManufacturerModelName = "Printer Simulator"
        ds.DeviceSerialNumber = "SIM-0001"
        ds.SoftwareVersions = "1.0"
        ds.DateOfLastCalibration = "20240101"
        ds.TimeOfLastCalibration = "080000"
        return _Result(0x0000, self._only(ds, event.attribute_identifiers))

    def _get_printer_config(self, event: Any, st: _AssocState, inst: str | None,
                            answer: int | None) -> _Result:
        if inst != PrinterConfigurationRetrievalInstance:
            return _Result(0x0112)
        item = Dataset()
        item.SOPClassesSupported = [BasicGrayscalePrintManagementMeta, PresentationLUT, BasicAnnotationBox,
                                    PrintJob] + ([BasicColorPrintManagementMeta] if self.color else [])
        item.MaximumMemoryAllocation = 0
        item.MemoryBitDepth = 12 if self.supports_12bit else 8
        item.PrintingBitDepth = 12 if self.supports_12bit else 8
        item.MinDensity = 20
        item.MaxDensity = 300
        ds = Dataset()
        ds.PrinterConfigurationSequence = Sequence([item])
        return _Result(0x0000, self._only(ds, event.attribute_identifiers))

    def _get_print_job(self, event: Any, st: _AssocState, inst: str | None, answer: int | None) -> _Result:
        with self._lock:
            job = self._print_jobs.get(inst or "")
        if job is None:
            return _Result(0x0112, comment="no such print job")
        return _Result(0x0000, self._only(_copy_ds(job), event.attribute_identifiers))

    @staticmethod
    def _only(ds: Dataset, tags: list[Any]) -> Dataset:
        if not tags:
            return ds
        out = Dataset()
        for tag in tags:
            if tag in ds:
                out.add(ds[tag])
        return out

    # N-CREATE ------------------------------------------------------------
    @staticmethod
    def _new_uid(st: _AssocState, inst: str | None) -> tuple[str | None, _Result | None]:
        if inst:
            if inst in st.sessions or inst in st.film_boxes or inst in st.pluts or inst in st.image_boxes:
                return None, _Result(0x0111, comment="duplicate SOP instance")
            return inst, None
        return str(generate_uid()), None

    def _create_film_session(self, event: Any, st: _AssocState, inst: str | None,
                             answer: int | None) -> _Result:
        attrs = _copy_ds(event.attribute_list)
        copies = attrs.get("NumberOfCopies", 1)
        try:
            if copies is not None and int(copies) < 1:
                return _Result(0x0106, comment="Number of Copies must be at least 1")
        except (TypeError, ValueError):
            return _Result(0x0106, comment="bad Number of Copies")
        prio = attrs.get("PrintPriority")
        if prio and str(prio).upper() not in ("HIGH", "MED", "LOW"):
            return _Result(0x0106, comment="Print Priority must be HIGH, MED or LOW")
        err = self._check_plut_ref(st, attrs)
        if err:
            return err
        uid, err = self._new_uid(st, inst)
        if err:
            return err
        assert uid is not None
        st.sessions[uid] = _FilmSession(uid, attrs)
        return _Result(0x0000, _copy_ds(attrs), instance_uid=uid)

    def _check_plut_ref(self, st: _AssocState, attrs: Dataset) -> _Result | None:
        seq = attrs.get("ReferencedPresentationLUTSequence")
        if seq:
            ref = str(seq[0].get("ReferencedSOPInstanceUID", ""))
            if ref not in st.pluts:
                return _Result(0x0106, comment="unknown Presentation LUT")
        return None

    def _create_film_box(self, event: Any, st: _AssocState, inst: str | None, answer: int | None) -> _Result:
        attrs = _copy_ds(event.attribute_list)
        seq = attrs.get("ReferencedFilmSessionSequence")
        if not seq:
            return _Result(0x0120, comment="Referenced Film Session Sequence missing")
        session_uid = str(seq[0].get("ReferencedSOPInstanceUID", ""))
        session = st.sessions.get(session_uid)
        if session is None:
            return _Result(0x0106, comment="Referenced Film Session unknown")
        fmt = attrs.get("ImageDisplayFormat")
        if not fmt:
            return _Result(0x0120, comment="Image Display Format missing")
        try:
            kind, rects = parse_display_format(str(fmt))
        except ValueError as exc:
            return _Result(0x0106, comment=str(exc)[:64])
        orientation = str(attrs.get("FilmOrientation") or "PORTRAIT").upper()
        if orientation not in ("PORTRAIT", "LANDSCAPE"):
            return _Result(0x0106, comment="Film Orientation must be PORTRAIT or LANDSCAPE")
        size = str(attrs.get("FilmSizeID") or "8INX10IN").upper()
        if film_size_mm(size) is None:
            return _Result(0x0106, comment=f"unknown Film Size ID {size}"[:64])
        err = self._check_plut_ref(st, attrs)
        if err:
            return err
        uid, err = self._new_uid(st, inst)
        if err:
            return err
        assert uid is not None
        attrs.FilmOrientation = orientation
        attrs.FilmSizeID = size
        context = str(event.context.abstract_syntax)
        if context == BasicColorPrintManagementMeta:
            color = True
        elif context == BasicGrayscalePrintManagementMeta:
            color = False
        else:
            accepted = {str(cx.abstract_syntax) for cx in event.assoc.accepted_contexts}
            color = BasicColorImageBox in accepted and BasicGrayscaleImageBox not in accepted
        box_class = BasicColorImageBox if color else BasicGrayscaleImageBox
        fb = _FilmBox(uid, session_uid, attrs, kind, rects, color)
        refs = []
        for pos in range(1, len(rects) + 1):
            ib_uid = str(generate_uid())
            st.image_boxes[ib_uid] = _ImageBox(ib_uid, uid, pos, box_class)
            fb.image_boxes.append(ib_uid)
            item = Dataset()
            item.ReferencedSOPClassUID = box_class
            item.ReferencedSOPInstanceUID = ib_uid
            refs.append(item)
        rsp = _copy_ds(attrs)
        rsp.ReferencedImageBoxSequence = Sequence(refs)
        if attrs.get("AnnotationDisplayFormatID"):
            arefs = []
            for pos in range(1, ANNOTATION_BOXES + 1):
                a_uid = str(generate_uid())
                st.annotations[a_uid] = {"uid": a_uid, "film_box": uid, "position": pos, "text": None}
                fb.annotation_boxes.append(a_uid)
                item = Dataset()
                item.ReferencedSOPClassUID = BasicAnnotationBox
                item.ReferencedSOPInstanceUID = a_uid
                arefs.append(item)
            rsp.ReferencedBasicAnnotationBoxSequence = Sequence(arefs)
        st.film_boxes[uid] = fb
        session.film_boxes.append(uid)
        return _Result(0x0000, rsp, instance_uid=uid)

    def _create_plut(self, event: Any, st: _AssocState, inst: str | None, answer: int | None) -> _Result:
        attrs = _copy_ds(event.attribute_list)
        if "PresentationLUTShape" not in attrs and not attrs.get("PresentationLUTSequence"):
            return _Result(0x0120, comment="Presentation LUT Shape or Sequence needed")
        shape = attrs.get("PresentationLUTShape")
        if shape and str(shape).upper() not in ("IDENTITY", "INVERSE", "LIN OD"):
            return _Result(0x0106, comment="Presentation LUT Shape: IDENTITY, INVERSE or LIN OD")
        uid, err = self._new_uid(st, inst)
        if err:
            return err
        assert uid is not None
        st.pluts[uid] = attrs
        return _Result(0x0000, None, instance_uid=uid)

    # N-SET ---------------------------------------------------------------
    def _set_attributes(self, event: Any, st: _AssocState, instance: Any, what: str) -> _Result:
        """N-SET of a film session or film box: its attributes, after the PLUT reference check."""
        if instance is None:
            return _Result(0x0112, comment=f"no such {what}")
        mods = _copy_ds(event.modification_list)
        err = self._check_plut_ref(st, mods)
        if err:
            return err
        instance.attrs.update(mods)
        return _Result(0x0000)

    def _set_film_session(self, event: Any, st: _AssocState, inst: str | None, answer: int | None) -> _Result:
        return self._set_attributes(event, st, st.sessions.get(inst or ""), "film session")

    def _set_film_box(self, event: Any, st: _AssocState, inst: str | None, answer: int | None) -> _Result:
        return self._set_attributes(event, st, st.film_boxes.get(inst or ""), "film box")

    def _set_image_box(self, event: Any, st: _AssocState, inst: str | None, answer: int | None) -> _Result:
        ib = st.image_boxes.get(inst or "")
        if ib is None:
            return _Result(0x0112, comment="no such image box")
        sop = str(event.request.RequestedSOPClassUID)
        if sop != ib.sop_class:
            return _Result(0x0119, comment=f"image box is a {SOP_NAMES[ib.sop_class]}")
        mods = event.modification_list
        color = ib.sop_class == BasicColorImageBox
        seq_kw = "BasicColorImageSequence" if color else "BasicGrayscaleImageSequence"
        seq = mods.get(seq_kw)
        if not seq:
            other = "BasicGrayscaleImageSequence" if color else "BasicColorImageSequence"
            if other in mods:
                return _Result(0x0106, comment=f"{other} sent to a {SOP_NAMES[ib.sop_class]}")
            return _Result(0x0121, comment=f"{seq_kw} missing")
        item = seq[0]
        for kw in ("Rows", "Columns", "PixelData"):
            if item.get(kw) in (None, b"", 0):
                return _Result(0x0121, comment=f"{kw} missing")
        rows, cols = int(item.Rows), int(item.Columns)
        spp = int(item.get("SamplesPerPixel", 3 if color else 1))
        pi = str(item.get("PhotometricInterpretation", "RGB" if color else "MONOCHROME2")).upper()
        ba = int(item.get("BitsAllocated", 8))
        bs = int(item.get("BitsStored", ba))
        hb = int(item.get("HighBit", bs - 1))
        pr = int(item.get("PixelRepresentation", 0))
        planar = int(item.get("PlanarConfiguration", 0) or 0)
        if color:
            if spp != 3 or pi != "RGB" or ba != 8 or bs != 8:
                return _Result(0x0106, comment="colour images: RGB, 3 samples, 8 bits")
            if planar not in (0, 1):
                return _Result(0x0106, comment="Planar Configuration must be 0 or 1")
        else:
            if spp != 1 or pi not in ("MONOCHROME1", "MONOCHROME2"):
                return _Result(0x0106, comment="grayscale images: MONOCHROME1/2, 1 sample")
            if (ba, bs) not in ((8, 8), (16, 12)):
                return _Result(0x0106, comment="Bits Allocated/Stored must be 8/8 or 16/12")
            if bs == 12 and not self.supports_12bit:
                return _Result(0x0106, comment="this printer takes 8-bit images only")
        if hb != bs - 1 or pr != 0:
            return _Result(0x0106, comment="High Bit must be Bits Stored - 1, unsigned")
        expected = rows * cols * spp * (ba // 8)
        pixels = bytes(item.PixelData)
        if len(pixels) < expected:
            return _Result(0x0106, comment=f"Pixel Data {len(pixels)} bytes, expected {expected}")
        pixels = pixels[:expected]
        polarity = str(mods.get("Polarity") or "NORMAL").upper()
        if polarity not in ("NORMAL", "REVERSE"):
            return _Result(0x0106, comment="Polarity must be NORMAL or REVERSE")
        ib.attrs = _copy_ds(mods, skip=(seq_kw,))
        ib.pixels = pixels
        ib.info = {
            "position": ib.position,
            "requested_position": _json_value(mods.get("ImagePosition"), "US"),
            "uid": ib.uid,
            "sop_class": SOP_NAMES[ib.sop_class],
            "rows": rows,
            "columns": cols,
            "samples_per_pixel": spp,
            "photometric_interpretation": pi,
            "planar_configuration": planar if color else None,
            "bits_allocated": ba,
            "bits_stored": bs,
            "high_bit": hb,
            "polarity": polarity,
            "magnification_type": mods.get("MagnificationType"),
            "smoothing_type": mods.get("SmoothingType"),
            "requested_image_size": _json_value(mods.get("RequestedImageSize"), "DS"),
            "requested_decimate_crop_behavior": mods.get("RequestedDecimateCropBehavior"),
            "configuration_information": mods.get("ConfigurationInformation"),
            "presentation_lut": self._plut_ref(st, mods),
            "pixel_bytes": expected,
            "md5": hashlib.md5(pixels).hexdigest(),
        }
        return _Result(0x0000)

    def _set_annotation(self, event: Any, st: _AssocState, inst: str | None, answer: int | None) -> _Result:
        ann = st.annotations.get(inst or "")
        if ann is None:
            return _Result(0x0112, comment="no such annotation box")
        mods = event.modification_list
        ann["text"] = str(mods.get("TextString", "") or "")
        if "AnnotationPosition" in mods:
            ann["requested_position"] = int(mods.AnnotationPosition)
        return _Result(0x0000)

    # N-ACTION ------------------------------------------------------------
    def _action_film_session(self, event: Any, st: _AssocState, inst: str | None,
                             answer: int | None) -> _Result:
        session = st.sessions.get(inst or "")
        if session is None:
            return _Result(0x0112, comment="no such film session")
        if event.action_type != 1:
            return _Result(0x0123, comment="only action 1 (print)")
        if not session.film_boxes:
            return _Result(0xC600, comment="film session has no film box")
        boxes = [st.film_boxes[u] for u in session.film_boxes]
        empty = all(not any(st.image_boxes[i].pixels for i in fb.image_boxes) for fb in boxes)
        natural = 0xB602 if empty else 0x0000
        status = natural if answer is None else answer
        for fb in boxes:
            self._print(event, st, session, fb, status)
        return _Result(natural, self._job_ref(event, st, session, status))

    def _action_film_box(self, event: Any, st: _AssocState, inst: str | None, answer: int | None) -> _Result:
        fb = st.film_boxes.get(inst or "")
        if fb is None:
            return _Result(0x0112, comment="no such film box")
        if event.action_type != 1:
            return _Result(0x0123, comment="only action 1 (print)")
        empty = not any(st.image_boxes[i].pixels for i in fb.image_boxes)
        natural = 0xB603 if empty else 0x0000
        status = natural if answer is None else answer
        session = st.sessions[fb.session_uid]
        self._print(event, st, session, fb, status)
        return _Result(natural, self._job_ref(event, st, session, status))

    def _job_ref(self, event: Any, st: _AssocState, session: _FilmSession, status: int) -> Dataset | None:
        """Create a Print Job if the SCU negotiated Print Job; return the reference."""
        accepted = {str(cx.abstract_syntax) for cx in event.assoc.accepted_contexts}
        if PrintJob not in accepted:
            return None
        uid = str(generate_uid())
        now = datetime.now()
        job = Dataset()
        job.ExecutionStatus = "DONE"
        job.ExecutionStatusInfo = "NORMAL"
        job.CreationDate = now.strftime("%Y%m%d")
        job.CreationTime = now.strftime("%H%M%S")
        job.PrintPriority = str(session.attrs.get("PrintPriority") or "MED")
        job.PrinterName = self.ae_title
        job.Originator = st.calling_ae
        with self._lock:
            self._print_jobs[uid] = job
        item = Dataset()
        item.ReferencedSOPClassUID = PrintJob
        item.ReferencedSOPInstanceUID = uid
        ds = Dataset()
        ds.ReferencedPrintJobSequence = Sequence([item])
        return ds

    # N-DELETE ------------------------------------------------------------
    def _delete_film_session(self, event: Any, st: _AssocState, inst: str | None,
                             answer: int | None) -> _Result:
        session = st.sessions.pop(inst or "", None)
        if session is None:
            return _Result(0x0112, comment="no such film session")
        for fb_uid in session.film_boxes:
            self._drop_film_box(st, fb_uid)
        return _Result(0x0000)

    def _delete_film_box(self, event: Any, st: _AssocState, inst: str | None, answer: int | None) -> _Result:
        fb = st.film_boxes.get(inst or "")
        if fb is None:
            return _Result(0x0112, comment="no such film box")
        session = st.sessions.get(fb.session_uid)
        if session is not None and fb.uid in session.film_boxes:
            session.film_boxes.remove(fb.uid)
        self._drop_film_box(st, fb.uid)
        return _Result(0x0000)

    @staticmethod
    def _drop_film_box(st: _AssocState, uid: str) -> None:
        fb = st.film_boxes.pop(uid, None)
        if fb is None:
            return
        for ib in fb.image_boxes:
            st.image_boxes.pop(ib, None)
        for ab in fb.annotation_boxes:
            st.annotations.pop(ab, None)

    def _delete_plut(self, event: Any, st: _AssocState, inst: str | None, answer: int | None) -> _Result:
        if st.pluts.pop(inst or "", None) is None:
            return _Result(0x0112, comment="no such presentation LUT")
        return _Result(0x0000)

    _OPS: dict[tuple[str, str], Callable[..., _Result]] = {
        ("N-GET", Printer): _get_printer,
        ("N-GET", PrinterConfigurationRetrieval): _get_printer_config,
        ("N-GET", PrintJob): _get_print_job,
        ("N-CREATE", BasicFilmSession): _create_film_session,
        ("N-CREATE", BasicFilmBox): _create_film_box,
        ("N-CREATE", PresentationLUT): _create_plut,
        ("N-SET", BasicFilmSession): _set_film_session,
        ("N-SET", BasicFilmBox): _set_film_box,
        ("N-SET", BasicGrayscaleImageBox): _set_image_box,
        ("N-SET", BasicColorImageBox): _set_image_box,
        ("N-SET", BasicAnnotationBox): _set_annotation,
        ("N-ACTION", BasicFilmSession): _action_film_session,
        ("N-ACTION", BasicFilmBox): _action_film_box,
        ("N-DELETE", BasicFilmSession): _delete_film_session,
        ("N-DELETE", BasicFilmBox): _delete_film_box,
        ("N-DELETE", PresentationLUT): _delete_plut,
    }

    # ------------------------------------------------------------------ printing
    def _plut_ref(self, st: _AssocState, attrs: Dataset) -> dict[str, Any] | None:
        seq = attrs.get("ReferencedPresentationLUTSequence")
        if not seq:
            return None
        uid = str(seq[0].get("ReferencedSOPInstanceUID", ""))
        plut = st.pluts.get(uid)
        out: dict[str, Any] = {"uid": uid}
        if plut is not None:
            if "PresentationLUTShape" in plut:
                out["shape"] = str(plut.PresentationLUTShape)
            if plut.get("PresentationLUTSequence"):
                item = plut.PresentationLUTSequence[0]
                out["lut_descriptor"] = _json_value(item.get("LUTDescriptor"), "US")
                out["lut_explanation"] = item.get("LUTExplanation")
        return out

    def _print(self, event: Any, st: _AssocState, session: _FilmSession, fb: _FilmBox, status: int) -> None:
        """Record one printed film.

        The record (also ``film_NNNN.json`` and a line of ``films.jsonl``)::

            film, time, calling_ae, called_ae, peer, status (answered), color,
            film_session: {uid, number_of_copies, print_priority, medium_type,
                           film_destination, label, presentation_lut, attributes}
            film_box: {uid, image_display_format, layout, image_boxes_total,
                       film_orientation, film_size_id, magnification_type,
                       smoothing_type, border_density, empty_image_density,
                       min_density, max_density, trim, configuration_information,
                       requested_resolution_id, illumination,
                       reflected_ambient_light, presentation_lut, attributes}
            image_boxes: [{position, rows, columns, bits_allocated, bits_stored,
                           high_bit, photometric_interpretation,
                           samples_per_pixel, planar_configuration, polarity,
                           requested_image_size, magnification_type, md5,
                           pixel_bytes, ...}]   (only the boxes that were set)
            annotations: [{position, text}], png, json (file names or None)

        ``md5`` is over the pixel bytes as received, without a padding byte.
        """
        a = fb.attrs
        s = session.attrs
        images = [st.image_boxes[u].info for u in fb.image_boxes if st.image_boxes[u].info]
        record: dict[str, Any] = {
            "film": 0,
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "calling_ae": st.calling_ae,
            "called_ae": st.called_ae,
            "peer": st.peer,
            "status": status,
            "color": fb.color,
            "film_session": {
                "uid": session.uid,
                "number_of_copies": int(s.get("NumberOfCopies", 1) or 1),
                "print_priority": s.get("PrintPriority"),
                "medium_type": s.get("MediumType"),
                "film_destination": s.get("FilmDestination"),
                "label": s.get("FilmSessionLabel"),
                "presentation_lut": self._plut_ref(st, s),
                "attributes": _ds_to_json(s),
            },
            "film_box": {
                "uid": fb.uid,
                "image_display_format": str(a.get("ImageDisplayFormat")),
                "layout": fb.layout_kind,
                "image_boxes_total": len(fb.rects),
                "film_orientation": a.get("FilmOrientation"),
                "film_size_id": a.get("FilmSizeID"),
                "magnification_type": a.get("MagnificationType"),
                "smoothing_type": a.get("SmoothingType"),
                "border_density": a.get("BorderDensity"),
                "empty_image_density": a.get("EmptyImageDensity"),
                "min_density": _json_value(a.get("MinDensity"), "US"),
                "max_density": _json_value(a.get("MaxDensity"), "US"),
                "trim": a.get("Trim"),
                "configuration_information": a.get("ConfigurationInformation"),
                "requested_resolution_id": a.get("RequestedResolutionID"),
                "illumination": _json_value(a.get("Illumination"), "US"),
                "reflected_ambient_light": _json_value(a.get("ReflectedAmbientLight"), "US"),
                "annotation_display_format_id": a.get("AnnotationDisplayFormatID"),
                "presentation_lut": self._plut_ref(st, a),
                "attributes": _ds_to_json(a),
            },
            "image_boxes": [dict(i) for i in images],
            "annotations": [{"position": st.annotations[u]["position"], "text": st.annotations[u]["text"]}
                            for u in fb.annotation_boxes if u in st.annotations],
            "png": None,
            "json": None,
        }
        with self._lock:
            self._film_no += 1
            n = self._film_no
        record["film"] = n
        line = None
        if self.out_dir is not None:
            # the slow part (rendering) outside the lock, so that other
            # associations are not held up
            png = self.out_dir / f"film_{n:04d}.png"
            try:
                self._render(st, fb).save(png)
                record["png"] = png.name
            except Exception:  # the record matters more than the picture
                LOG.exception("could not render film %d", n)
            record["json"] = f"film_{n:04d}.json"
            (self.out_dir / record["json"]).write_text(json.dumps(record, indent=2, sort_keys=True))
            line = json.dumps(record, sort_keys=True)
        with self._changed:
            if line is not None:
                assert self.out_dir is not None
                with open(self.out_dir / "films.jsonl", "a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
            self._films.append(record)
            self._changed.notify_all()
        LOG.info("%s printed film %d: %s %s %s, %d image(s)", st.calling_ae or "-", n,
                 record["film_box"]["image_display_format"], record["film_box"]["film_size_id"],
                 record["film_box"]["film_orientation"], len(images))

    def _render(self, st: _AssocState, fb: _FilmBox) -> Image.Image:
        a = fb.attrs
        w_mm, h_mm = film_size_mm(str(a.get("FilmSizeID") or "8INX10IN")) or (203.2, 254.0)
        if str(a.get("FilmOrientation") or "PORTRAIT").upper() == "LANDSCAPE":
            w_mm, h_mm = h_mm, w_mm
        scale = SHEET_LONG_SIDE_PX / max(w_mm, h_mm)
        width, height = max(1, round(w_mm * scale)), max(1, round(h_mm * scale))

        def density(name: str) -> int:
            return 255 if str(a.get(name) or "BLACK").upper() == "WHITE" else 0

        mode = "RGB" if fb.color else "L"
        border = density("BorderDensity")
        empty = density("EmptyImageDensity")
        sheet = Image.new(mode, (width, height), (border,) * 3 if mode == "RGB" else border)
        draw = ImageDraw.Draw(sheet)
        for ib_uid, (x, y, w, h) in zip(fb.image_boxes, fb.rects):
            x0, y0 = math.floor(x * width), math.floor(y * height)
            x1, y1 = math.floor((x + w) * width), math.floor((y + h) * height)
            cw, ch = max(1, x1 - x0 - 2), max(1, y1 - y0 - 2)
            cell = Image.new(mode, (cw, ch), (empty,) * 3 if mode == "RGB" else empty)
            ib = st.image_boxes[ib_uid]
            if ib.pixels is not None and ib.info is not None:
                img = self._to_image(ib).convert(mode)
                f = min(cw / img.width, ch / img.height)
                size = (max(1, int(img.width * f)), max(1, int(img.height * f)))
                img = img.resize(size, Image.BILINEAR)
                cell.paste(img, ((cw - size[0]) // 2, (ch - size[1]) // 2))
            sheet.paste(cell, (x0 + 1, y0 + 1))
            # a faint outline, so that empty boxes show on a black sheet
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=(64,) * 3 if mode == "RGB" else 64)
        return sheet

    @staticmethod
    def _to_image(ib: _ImageBox) -> Image.Image:
        info = ib.info
        assert info is not None and ib.pixels is not None
        rows, cols = info["rows"], info["columns"]
        if info["samples_per_pixel"] == 3:
            arr = np.frombuffer(ib.pixels, dtype=np.uint8)
            if info["planar_configuration"] == 1:
                arr = arr.reshape(3, rows, cols).transpose(1, 2, 0)
            else:
                arr = arr.reshape(rows, cols, 3)
            out = np.ascontiguousarray(arr)
        else:
            if info["bits_allocated"] == 16:
                arr = np.frombuffer(ib.pixels, dtype="<u2").reshape(rows, cols)
                bs = info["bits_stored"]
                arr = (arr & ((1 << bs) - 1)) >> max(0, bs - 8)
                out = arr.astype(np.uint8)
            else:
                out = np.frombuffer(ib.pixels, dtype=np.uint8).reshape(rows, cols).copy()
            if info["photometric_interpretation"] == "MONOCHROME1":
                out = 255 - out
        if info["polarity"] == "REVERSE":
            out = 255 - out
        return Image.fromarray(out, "RGB" if out.ndim == 3 else "L")


# --------------------------------------------------------------------------- CLI
def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hcserver simulate-printer",
        description="Run a simulated DICOM film printer (Print SCP) in the foreground. "
                    "Every printed film is written to --out as film_NNNN.png/.json and "
                    "a line of films.jsonl. One line per DIMSE request is logged to stderr.",
        epilog=FAULT_SYNTAX,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--port", type=int, default=11112, help="TCP port (0: any free port; default 11112)")
    p.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--ae-title", default="HCSIM", help="the printer's AE title (default HCSIM)")
    p.add_argument("--out", metavar="DIR", type=Path, help="directory for the printed films")
    p.add_argument("--grayscale-only", action="store_true", help="refuse the colour print classes")
    p.add_argument("--no-12bit", action="store_true", help="accept 8-bit images only")
    p.add_argument("--printer-status", default="NORMAL", metavar="STATUS[:INFO]",
                   help='what N-GET Printer answers, e.g. "FAILURE:FILM JAM" (default NORMAL)')
    p.add_argument("--fault", action="append", default=[], metavar="SPEC",
                   help="inject a fault (repeatable; syntax below)")
    p.add_argument("--random-events", type=float, default=0.0, metavar="PER_SECOND",
                   help="send Printer N-EVENT-REPORTs at random moments to the associations in use, "
                        "this many per second on average, not waiting for their answers (default 0)")
    p.add_argument("--random-event", metavar="STATUS[:INFO]",
                   help='what those report, e.g. "WARNING:SUPPLY LOW" (default: the printer status)')
    p.add_argument("--seed", type=int, help="seed of the random moments")
    p.add_argument("--refuse", metavar="RESULT,SOURCE,REASON",
                   help="reject every association with this A-ASSOCIATE-RJ, e.g. 1,1,3")
    p.add_argument("--no-contexts", action="store_true",
                   help="accept associations but no presentation context")
    p.add_argument("--check-called-ae", action="store_true",
                   help="reject associations whose called AE title is not --ae-title")
    p.add_argument("--max-pdu", type=int, default=131072, help="maximum PDU size received (default 131072)")
    p.add_argument("--tls-cert", metavar="PEM", type=Path,
                   help="speak DICOM over TLS with this certificate (and its key, unless --tls-key)")
    p.add_argument("--tls-key", metavar="PEM", type=Path, help="the private key of --tls-cert")
    p.add_argument("--tls-ca", metavar="PEM", type=Path,
                   help="require a client certificate signed by one of these CA certificates")
    p.add_argument("--debug", action="store_true", help="also log pynetdicom's own debug output")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        faults = [parse_fault(spec) for spec in args.fault]
        printer_status = parse_printer_status(args.printer_status)
        random_event = parse_printer_status(args.random_event) if args.random_event else None
        if args.random_events < 0:
            raise ValueError("--random-events takes a rate, not a negative number")
        refuse = tuple(int(v, 0) for v in args.refuse.split(",")) if args.refuse else None
        if refuse is not None and len(refuse) != 3:
            raise ValueError("--refuse takes RESULT,SOURCE,REASON")
        if (args.tls_key or args.tls_ca) and not args.tls_cert:
            raise ValueError("--tls-key and --tls-ca need --tls-cert")
        for path in (args.tls_cert, args.tls_key, args.tls_ca):
            if path is not None and not path.is_file():
                raise ValueError(f"{path}: no such file")
    except ValueError as exc:
        parser.error(str(exc))

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False
    if args.debug:
        from pynetdicom import debug_logger
        debug_logger()

    sim = PrinterSimulator(
        port=args.port, ae_title=args.ae_title, out_dir=args.out, color=not args.grayscale_only,
        faults=faults, printer_status=printer_status, max_pdu=args.max_pdu, bind=args.bind,
        refuse=refuse, accept_contexts=not args.no_contexts, supports_12bit=not args.no_12bit,
        check_called_ae=args.check_called_ae,
        tls_cert_file=args.tls_cert, tls_key_file=args.tls_key, tls_ca_file=args.tls_ca,
        random_events=args.random_events, random_event=random_event, seed=args.seed,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            sim.start()
        except ssl.SSLError as exc:
            print(f"cannot set up TLS with {args.tls_cert}: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:
            print(f"cannot listen on {args.bind}:{args.port}: {exc}", file=sys.stderr)
            return 1
        print(f"printer simulator {args.ae_title} listening on {args.bind}:{sim.port}"
              + (" (TLS)" if args.tls_cert else "")
              + (f", films in {args.out}" if args.out else ""), file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
        print(f"stopping; {len(sim.films)} film(s) printed", file=sys.stderr, flush=True)
    finally:
        sim.stop()
        for sig, prev in previous.items():
            signal.signal(sig, prev)
        LOG.removeHandler(handler)
    return 0
