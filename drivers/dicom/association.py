"""One association with a DICOM Print SCP, as the Print SCU driver uses it.

:class:`PrintAssociation` opens the association (presentation contexts from
the printer config, calling AE title, implementation identity, max PDU,
timeouts, TCP_NODELAY, TLS when the printer has ``tls = true``), turns every
way of *not* getting there into a :class:`~hcserver.drivers.base.PrintFailure` with
``Action.RETRY`` and a reason in words, and sends DIMSE-N requests. A request
that gets no usable response (DIMSE timeout, peer abort, connection closed,
association already gone, bytes that are no valid PDU, a response to another
message) raises :class:`ConnectionLost`; statuses are judged by the caller.

Never wedged
------------
pynetdicom reads a PDU with blocking socket calls and no timeout: a printer
that sends half a PDU and then nothing (or stops reading what we send) holds
its network thread, and pynetdicom's abort waits for that thread without a
limit. So every call that can wait on the printer (associate, a request,
release, abort) runs under a deadline (:meth:`_Wire.deadline`) after which
the connection is cut, and the socket gets a timeout of ``dimse_timeout_s``
for anything else that blocks in the network thread.

Responses go to the request
---------------------------
A pynetdicom requestor keeps running its association reactor, which takes
requests from the peer off the DIMSE message queue; ``send_n_*()`` pauses it
while waiting for the response, but the pause has a race (it reads a flag the
reactor sets before it actually waits), so under load the reactor can take the
response itself, drop it as "unexpected", and the request waits for the DIMSE
timeout. :func:`_leave_responses_to_the_request` keeps the reactor's hands off
anything in the queue that is not a valid request.

The reactor's pause
-------------------
``send_n_*()`` clears the reactor's checkpoint and spins until the flag
``_is_paused`` says the reactor has stopped there. pynetdicom serves an
incoming N-EVENT-REPORT in a thread of its own, and that thread sets the same
flag around the handler and then clears it: when the clearing lands after
the reactor has stopped at its checkpoint, the request spins for good (the
reactor waits for the request, the request for a flag nobody sets again, and
neither a deadline nor an A-ABORT reaches that loop). A printer that reports
its status right after a response hits this as we send the next request.
:class:`_ReactorPause` (pynetdicom's ``Association`` with only the reactor's
own writes counting, and the wait given up once the association has ended)
is what every association we request is turned into, before it can send or
receive anything (:func:`_use_reactor_pause`); the issue text for pynetdicom
is docs/upstream-pynetdicom-event-report-pause.md. Every exchange also runs
under a deadline from the moment it starts, before the wait for the pause: a
wait that does not end has its connection cut, and the job is retried.

Why it ended
------------
pynetdicom tells only *that* an association ended. :class:`_Wire` watches
the connection (the PDU headers read, a PDU cut short, socket and TLS errors,
the state machine event that ended it, the last DIMSE message received), so
that the reason can say what happened: "the printer closed the connection in
the middle of a P-DATA-TF PDU (20 of 206 bytes received)", "unknown PDU type
0xA5", "A-ABORT, source: service-provider, reason: unexpected PDU", "TLS
handshake ... failed: the printer's certificate was not accepted: self-signed
certificate". Requests carry increasing Message IDs, and a
response must answer the request's (Message ID Being Responded To, PS3.7
9.3.1) with the matching command.

N-EVENT-REPORTs the printer sends are recorded synchronously in the network
thread the moment they arrive (so they are visible by the time the response
to the request in progress is), answered by a handler bound at associate
time, and collected with :meth:`PrintAssociation.take_events`.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.dsutils import decode

from hcserver.drivers.base import Action, PrintFailure
from hcserver.drivers.dicom.status_policy import SOP_CLASS_UIDS
from hcserver.drivers.settings import PrinterConfig, Station

log = logging.getLogger(__name__)

# --- SOP classes ------------------------------------------------------------
VERIFICATION = "1.2.840.10008.1.1"
GRAYSCALE_META = "1.2.840.10008.5.1.1.9"
COLOR_META = "1.2.840.10008.5.1.1.18"
PRINTER_INSTANCE = "1.2.840.10008.5.1.1.17"

#: short name (as used by the status policy) -> SOP Class UID
# The SOP classes we use, by the status table's short names (one list of UIDs in the project).
SOP_CLASSES: dict[str, str] = {name: uid for name, uid in SOP_CLASS_UIDS.items()
                               if name != "printer-configuration"}
SOP_NAMES: dict[str, str] = {uid: name for name, uid in SOP_CLASSES.items()}

UID_TITLES: dict[str, str] = {
    VERIFICATION: "Verification",
    GRAYSCALE_META: "Basic Grayscale Print Management Meta",
    COLOR_META: "Basic Color Print Management Meta",
    SOP_CLASSES["film-session"]: "Basic Film Session",
    SOP_CLASSES["film-box"]: "Basic Film Box",
    SOP_CLASSES["grayscale-image-box"]: "Basic Grayscale Image Box",
    SOP_CLASSES["color-image-box"]: "Basic Color Image Box",
    SOP_CLASSES["annotation-box"]: "Basic Annotation Box",
    SOP_CLASSES["print-job"]: "Print Job",
    SOP_CLASSES["printer"]: "Printer",
    SOP_CLASSES["presentation-lut"]: "Presentation LUT",
}

# Classes that travel under a Meta SOP Class context.
_META_MEMBERS = {
    GRAYSCALE_META: ("film-session", "film-box", "grayscale-image-box", "printer"),
    COLOR_META: ("film-session", "film-box", "color-image-box", "printer"),
}

TRANSFER_SYNTAXES = [ImplicitVRLittleEndian, ExplicitVRLittleEndian]

# DIMSE command fields we look at in received messages.
_N_EVENT_REPORT_RQ = 0x0100
_N_CREATE_RSP = 0x8140
#: request operation -> the command field of its response (PS3.7 E.1)
_RESPONSE_FIELDS = {"C-ECHO": 0x8030, "N-GET": 0x8110, "N-SET": 0x8120, "N-ACTION": 0x8130,
                    "N-CREATE": 0x8140, "N-DELETE": 0x8150}
_COMMAND_NAMES = {0x0001: "C-STORE-RQ", 0x8001: "C-STORE-RSP", 0x0030: "C-ECHO-RQ", 0x8030: "C-ECHO-RSP",
                  0x0100: "N-EVENT-REPORT-RQ", 0x8100: "N-EVENT-REPORT-RSP", 0x0110: "N-GET-RQ",
                  0x8110: "N-GET-RSP", 0x0120: "N-SET-RQ", 0x8120: "N-SET-RSP", 0x0130: "N-ACTION-RQ",
                  0x8130: "N-ACTION-RSP", 0x0140: "N-CREATE-RQ", 0x8140: "N-CREATE-RSP",
                  0x0150: "N-DELETE-RQ", 0x8150: "N-DELETE-RSP", 0x0FFF: "C-CANCEL-RQ"}

# PDU types (PS3.8 9.3.1) and A-ABORT source/reason (PS3.8 table 9-26).
PDU_NAMES = {1: "A-ASSOCIATE-RQ", 2: "A-ASSOCIATE-AC", 3: "A-ASSOCIATE-RJ", 4: "P-DATA-TF",
             5: "A-RELEASE-RQ", 6: "A-RELEASE-RP", 7: "A-ABORT"}
_ABORT_SOURCES = {0: "service-user", 1: "reserved source", 2: "service-provider"}
_ABORT_REASONS = {0: "reason not specified", 1: "unrecognized PDU", 2: "unexpected PDU",
                  4: "unrecognized PDU parameter", 5: "unexpected PDU parameter",
                  6: "invalid PDU parameter value"}
# State machine events (PS3.8 table 9-10) that end an association: we abort, an A-ABORT
# arrives, the connection closes, the ARTIM timer expires, an invalid PDU arrives; and the
# events of PDUs that are valid but may arrive in some states only (-> PDU type).
_ENDING_EVENTS = frozenset({"Evt15", "Evt16", "Evt17", "Evt18", "Evt19"})
_UNEXPECTED_PDU_EVENTS = {"Evt3": 2, "Evt4": 3, "Evt6": 1, "Evt10": 4, "Evt12": 5, "Evt13": 6}


def _a_pdu(pdu_type: int | None) -> str:
    """'a P-DATA-TF PDU', 'an A-ABORT PDU', 'a PDU'."""
    name = PDU_NAMES.get(pdu_type or 0)
    if name is None:
        return "a PDU"
    return f"{'an' if name.startswith('A-') else 'a'} {name} PDU"

ABORT_GRACE_S = 2.0      # how long an A-ABORT or a release may take before the connection is cut

# Printer SOP Class event types (PS3.4 H.4.10.1.2) and Print Job event types.
PRINTER_EVENTS = {1: "NORMAL", 2: "WARNING", 3: "FAILURE"}
PRINT_JOB_EVENTS = {1: "PENDING", 2: "PRINTING", 3: "DONE", 4: "FAILURE"}


class ConnectionLost(PrintFailure):
    """No DIMSE response: timeout, abort, closed connection. Always RETRY.

    ``timed_out`` tells a DIMSE timeout (the peer is alive but silent) from
    a connection that went away.
    """

    def __init__(self, reason: str, *, operation: str | None = None, timed_out: bool = False):
        super().__init__(Action.RETRY, reason, operation=operation)
        self.timed_out = timed_out
        self.seconds = 0.0


@dataclass(frozen=True)
class PrinterEvent:
    """An N-EVENT-REPORT received from the printer."""

    sop_class: str          # short name: "printer", "print-job", or the UID if unknown
    event_type: int
    status: str             # NORMAL/WARNING/FAILURE, PENDING/PRINTING/DONE/FAILURE, or ""
    info: str               # Printer Status Info / Execution Status Info
    answered: int           # the status we answered with
    meaning: str


def requested_contexts(printer: PrinterConfig) -> list[str]:
    """Abstract syntaxes proposed for a printer's print association."""
    metas = [GRAYSCALE_META, COLOR_META] if printer.color else [GRAYSCALE_META]
    syntaxes = list(metas)
    if not printer.meta_sop_only:
        for meta in metas:
            for name in _META_MEMBERS[meta]:
                uid = SOP_CLASSES[name]
                if uid not in syntaxes:
                    syntaxes.append(uid)
    if printer.presentation_lut:
        syntaxes.append(SOP_CLASSES["presentation-lut"])
    if printer.annotation_box:
        syntaxes.append(SOP_CLASSES["annotation-box"])
    if printer.print_job:
        syntaxes.append(SOP_CLASSES["print-job"])
    return syntaxes


def _make_ae(printer: PrinterConfig, station: Station, syntaxes: list[str]) -> AE:
    ae = AE(ae_title=printer.calling_ae_title or station.ae_title)
    if station.implementation_class_uid:
        ae.implementation_class_uid = station.implementation_class_uid
    if station.implementation_version_name:
        ae.implementation_version_name = station.implementation_version_name
    ae.connection_timeout = printer.connect_timeout_s
    ae.acse_timeout = printer.acse_timeout_s
    ae.dimse_timeout = printer.dimse_timeout_s
    ae.network_timeout = printer.network_timeout_s
    ae.maximum_pdu_size = printer.max_pdu
    for uid in syntaxes:
        ae.add_requested_context(uid, TRANSFER_SYNTAXES)
    return ae


def _peer(printer: PrinterConfig) -> str:
    return f"{printer.ae_title}@{printer.host}:{printer.port}"


def _tls_text(exc: BaseException) -> str:
    """An ssl error in words: the verification message, or OpenSSL's reason."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the printer's certificate was not accepted: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        reason = (exc.reason or "").replace("_", " ").lower()
        return reason or str(exc)
    if isinstance(exc, TimeoutError):
        return "no answer within the connect timeout"
    return str(exc) or type(exc).__name__


def tls_context(printer: PrinterConfig) -> ssl.SSLContext:
    """The client TLS context for a printer with ``tls = true`` (TLS 1.2 or later).

    ``tls_verify`` checks the printer's certificate against ``tls_ca_file`` and
    its name against ``tls_server_name`` (default: the host); ``tls_cert_file``
    (and ``tls_key_file``) is the client certificate for printers that ask
    for one. The files are read each time (a renewed certificate is used at
    once); ValueError says which one cannot be used and why.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if printer.tls_verify:
        if printer.tls_ca_file:
            _load_tls_file("tls_ca_file", printer.tls_ca_file, "no CA certificate could be read from it",
                           lambda: ctx.load_verify_locations(cafile=printer.tls_ca_file))
        else:                          # the configuration asks for a CA file; just in case
            ctx.load_default_certs()
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if printer.tls_cert_file:
        # never OpenSSL's passphrase prompt on the terminal: an encrypted key just fails
        _load_tls_file("tls_cert_file", printer.tls_cert_file,
                       "the certificate and its key could not be read (a key that needs a passphrase "
                       "is not supported)",
                       lambda: ctx.load_cert_chain(printer.tls_cert_file, printer.tls_key_file or None,
                                                   password=lambda: b""))
    return ctx


def _load_tls_file(key: str, path: str, unusable: str, load: Callable[[], None]) -> None:
    try:
        load()
    except ssl.SSLError as exc:
        raise ValueError(f"{key} {path}: {unusable}: {_tls_text(exc)}") from exc
    except OSError as exc:
        raise ValueError(f"{key} {path}: {exc.strerror or exc}") from exc


class _Watchdog:
    """One thread that runs every deadline of every association (a timer thread started
    per request cost a few milliseconds each, several times per film)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._cancelled: set[int] = set()
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float, callback: Callable[[], None]) -> int:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="dicom-deadlines", daemon=True)
                self._thread.start()
            token = next(self._tokens)
            entry = (time.monotonic() + seconds, token, callback)
            heapq.heappush(self._heap, entry)
            if self._heap[0] is entry:   # only an earlier deadline needs the thread to wake
                self._cond.notify()
            return token

    def disarm(self, token: int) -> None:
        with self._cond:
            self._cancelled.add(token)

    def _due(self) -> Callable[[], None]:
        with self._cond:
            while True:
                while self._heap and self._heap[0][1] in self._cancelled:
                    self._cancelled.discard(heapq.heappop(self._heap)[1])
                if not self._heap:
                    self._cond.wait()
                    continue
                remaining = self._heap[0][0] - time.monotonic()
                if remaining <= 0:
                    return heapq.heappop(self._heap)[2]
                self._cond.wait(remaining)

    def _run(self) -> None:
        while True:
            callback = self._due()
            try:
                callback()
            except Exception:  # a deadline must never stop the others
                log.exception("deadline callback failed")


_WATCHDOG = _Watchdog()


class _Wire:
    """What the network thread saw on one association's connection, to tell why it
    ended (see the module docstring); also cuts the connection when a deadline passes.

    Written by pynetdicom's network thread (event handlers, the socket's ``recv``
    wrapped at connection time, the TLS handshake); read by the requesting thread
    after its call has returned. Only the first of each kind of finding is kept:
    what follows the first fault is usually its consequence.
    """

    def __init__(self, printer: PrinterConfig):
        self.printer = printer
        self.connected = False                              # TCP (and TLS) connection made
        self.socket: Any = None                             # pynetdicom's AssociationSocket
        self.was_cut = False                                # we cut the connection (a deadline)
        self.tls_error: OSError | None = None               # the TLS handshake failed
        self.error: OSError | None = None                   # reading from the connection failed
        self.error_mid_pdu: tuple[int, int] | None = None   # ...while reading this (type, length)
        self.bad_type: int | None = None                    # an unknown PDU type was read
        self.last_pdu: tuple[int, int] | None = None        # (type, length) of the last whole PDU
        self.short: tuple[int | None, int, int] | None = None  # (type, got, total): PDU cut short
        self.abort_pdu: tuple[int, int] | None = None       # (source, reason) of an A-ABORT received
        self.ended_by: str | None = None                    # state machine event that ended it
        self.ended_action: str | None = None
        self.last_message: tuple[int, int | None] | None = None  # (command field, responding to)
        self._reading: tuple[int, int] | None = None        # header of the PDU being read

    # -- hooks -----------------------------------------------------------------
    def handlers(self) -> list[tuple[Any, Callable]]:
        return [(evt.EVT_CONN_OPEN, self._on_conn_open),
                (evt.EVT_FSM_TRANSITION, self._on_transition)]

    def ssl_socket_class(self) -> type[ssl.SSLSocket]:
        """An SSLSocket that records why its handshake failed (``SSLContext.sslsocket_class``)."""
        wire = self

        class _SSLSocket(ssl.SSLSocket):
            def do_handshake(self, *args: Any, **kwargs: Any) -> None:
                try:
                    super().do_handshake(*args, **kwargs)
                except OSError as exc:
                    wire.tls_error = exc
                    raise

        return _SSLSocket

    def _on_conn_open(self, event: evt.Event) -> None:
        """Runs in the network thread right after the connection (and TLS handshake)."""
        self.connected = True
        sock = event.assoc.dul.socket
        self.socket = sock
        try:
            sock.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # pynetdicom reads and writes without a timeout once connected: a PDU that
            # stops half way would hold the network thread for good.
            sock.socket.settimeout(self.printer.dimse_timeout_s)
        except (AttributeError, OSError) as exc:  # pragma: no cover - platform specific
            log.debug("could not set socket options: %s", exc)
        inner = sock.recv

        def recv(nr_bytes: int) -> bytearray:
            try:
                data = inner(nr_bytes)
            except OSError as exc:
                if self.error is None:
                    self.error, self.error_mid_pdu = exc, self._reading or (0, 0)
                raise
            self._saw(data)
            return data

        sock.recv = recv

    def _saw(self, data: bytearray) -> None:
        """Follow pynetdicom's reads: a 6-byte PDU header, then (for a known type) its body."""
        if self._reading is None:
            if len(data) == 6:
                pdu_type, _, length = struct.unpack(">BBL", bytes(data))
                if pdu_type in PDU_NAMES:
                    self._reading = (pdu_type, length)
                elif self.bad_type is None:
                    self.bad_type = pdu_type
            elif data and self.short is None:
                self.short = (data[0], len(data), 6)
            return
        pdu_type, length = self._reading
        self._reading = None
        if len(data) < length:
            if self.short is None:
                self.short = (pdu_type, 6 + len(data), 6 + length)
            return
        self.last_pdu = (pdu_type, length)
        if pdu_type == 7 and len(data) >= 4 and self.abort_pdu is None:
            self.abort_pdu = (data[2], data[3])

    def _on_transition(self, event: evt.Event) -> None:
        if self.ended_by is None and (event.fsm_event in _ENDING_EVENTS or event.action == "AA-8"):
            self.ended_by, self.ended_action = event.fsm_event, event.action
        if event.action == "AA-8":
            # An invalid or unexpected PDU: pynetdicom sends an A-ABORT but does not wake a
            # request waiting for its response, which would then wait for the DIMSE timeout.
            try:
                event.assoc.dimse.msg_queue.put((None, None))
            except Exception:  # pragma: no cover - defensive
                pass

    # -- deadlines ---------------------------------------------------------------
    @contextmanager
    def deadline(self, seconds: float) -> Iterator[None]:
        """Cut the connection if the block has not ended within ``seconds``."""
        token = _WATCHDOG.arm(seconds, self.cut)
        try:
            yield
        finally:
            _WATCHDOG.disarm(token)

    def cut(self) -> None:
        """Shut the connection down under pynetdicom's feet: a blocked read or write in
        the network thread returns, the state machine sees the connection closed."""
        sock = getattr(self.socket, "socket", None)
        if sock is None:
            return
        self.was_cut = True
        log.warning("connection to printer %s cut: it did not finish a PDU or an abort in time",
                    _peer(self.printer))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- words -----------------------------------------------------------------
    @staticmethod
    def settle(assoc: Any) -> None:
        """Wait (a little) for the network thread of an association that ended to finish,
        so that what it saw is all recorded: pynetdicom wakes the requesting thread before
        its state machine reports the transition."""
        try:
            assoc.dul.join(ABORT_GRACE_S)
        except (AttributeError, RuntimeError):   # never started
            pass

    def describe(self) -> str | None:
        """What the printer did that ended the association, in words; None if it was
        not the printer (we aborted, a deadline) or nothing was seen."""
        ev = self.ended_by
        if ev == "Evt19":
            if self.bad_type is not None:
                return (f"the printer sent data that is not a DICOM PDU (unknown PDU type "
                        f"0x{self.bad_type:02X})")
            name = PDU_NAMES.get(self.last_pdu[0], "") if self.last_pdu else ""
            return f"the printer sent an invalid {name} PDU that could not be decoded".replace("  ", " ")
        if self.ended_action == "AA-8":
            return (f"the printer sent {_a_pdu(_UNEXPECTED_PDU_EVENTS.get(ev or ''))}, which is not "
                    "allowed at this point")
        if ev == "Evt16":
            text = "the printer aborted the association (A-ABORT"
            if self.abort_pdu is not None:
                source, reason = self.abort_pdu
                text += f", source: {_ABORT_SOURCES.get(source, source)}"
                if source == 2:
                    text += f", reason: {_ABORT_REASONS.get(reason, f'0x{reason:02X}')}"
            return text + ")"
        if ev == "Evt17" and not self.was_cut:
            if self.short is not None:
                pdu_type, got, total = self.short
                if total == 6:
                    return f"the printer closed the connection in the middle of a PDU header ({got} of 6 bytes)"
                return (f"the printer closed the connection in the middle of {_a_pdu(pdu_type)} "
                        f"({got} of {total} bytes received)")
            if isinstance(self.error, ssl.SSLError):
                return f"the TLS connection failed: {_tls_text(self.error)}"
            if isinstance(self.error, TimeoutError):
                pdu_type, length = self.error_mid_pdu or (0, 0)
                what = f"{_a_pdu(pdu_type)} of {6 + length} bytes" if pdu_type else "a PDU"
                return (f"the printer stopped sending in the middle of {what} (nothing more for "
                        f"{self.printer.dimse_timeout_s:g} s)")
            if self.error is not None:
                return f"the connection failed: {self.error}"
            return "the printer closed the connection without an A-ABORT"
        if ev == "Evt18":
            return "the printer did not close the connection after the association ended (ARTIM timeout)"
        return None

    def partial(self) -> str:
        """' (a P-DATA-TF PDU had arrived only in part: 20 of 206 bytes)' or ''."""
        if self.short is None or self.short[2] == 6:
            return ""
        pdu_type, got, total = self.short
        return f" ({_a_pdu(pdu_type)} had arrived only in part: {got} of {total} bytes)"


def _leave_responses_to_the_request(assoc: Any) -> None:
    """Let the association's reactor take only requests off the DIMSE message queue
    (see the module docstring); responses and wake-ups stay for the waiting request."""
    dimse = assoc.dimse
    messages = dimse.msg_queue
    take = dimse.get_msg

    def get_msg(block: bool = False) -> Any:
        if not block:
            with messages.mutex:
                head = messages.queue[0][1] if messages.queue else None
                if messages.queue and (head is None or not head.is_valid_request):
                    return None, None
        return take(block)

    dimse.get_msg = get_msg


# The association whose incoming request the current thread is serving (see _ReactorPause).
_SERVING = threading.local()


class _ReactorPause(Association):
    """pynetdicom 3.0's ``Association`` with its pause handshake fixed (module docstring,
    "The reactor's pause").

    * ``_is_paused`` is only what the reactor thread (the association itself) says:
      a write made while another thread serves an incoming request (an N-EVENT-REPORT)
      is ignored. That thread takes nothing off the message queue and our handler sends
      nothing, so there is nothing for it to pause; a handler that did send would wait
      for the reactor's real pause, which comes.
    * A thread waiting for the pause gives up once the association has ended (A-ABORT
      from either side, connection closed or cut, killed): its reactor will never pause
      again. It gets the RuntimeError ``send_*()`` raise for an association that is not
      established; the request was not sent.
    """

    @property  # type: ignore[override]
    def _is_paused(self) -> bool:
        if threading.current_thread() is not self and self._has_ended():
            raise RuntimeError("the association ended while the request waited to be sent")
        return self.__dict__.get("_is_paused", False)

    @_is_paused.setter
    def _is_paused(self, value: bool) -> None:
        if getattr(_SERVING, "assoc", None) is self:
            return
        self.__dict__["_is_paused"] = value

    def _serve_request(self, msg: Any, context_id: int) -> None:
        if threading.current_thread() is self:
            super()._serve_request(msg, context_id)
            return
        _SERVING.assoc = self
        try:
            super()._serve_request(msg, context_id)
        finally:
            _SERVING.assoc = None

    def _has_ended(self) -> bool:
        return bool(self._kill or self._sent_abort or not self.is_established
                    or self.dul.state_machine.current_state in ("Sta1", "Sta13")
                    or not self.dul.is_alive() or self.acse.is_aborted())


def _use_reactor_pause(event: evt.Event) -> None:
    """EVT_CONN_OPEN: make the association being requested a :class:`_ReactorPause`.

    ``AE.associate()`` creates a plain ``Association`` and starts it before returning;
    this event is the first public hook that gets hold of it, in the network thread,
    while the association request is still going on: before any DIMSE message can be
    sent or received. The instance's ``_is_paused`` entry is shadowed by the property
    (a data descriptor on the class wins) and read through it.
    """
    if type(event.assoc) is Association:
        event.assoc.__class__ = _ReactorPause


def _associate(ae: AE, printer: PrinterConfig,
               handlers: list[tuple[Any, Callable]]) -> tuple[Any, _Wire, float]:
    """``ae.associate`` with TLS when configured, watched and under a deadline.

    Returns (association, wire, seconds); raises PrintFailure: RETRY when pynetdicom
    raises, STOP_PRINTER when a TLS file cannot be used.
    """
    wire = _Wire(printer)
    peer = _peer(printer)
    kwargs: dict[str, Any] = {}
    if printer.tls:
        try:
            ctx = tls_context(printer)
        except ValueError as exc:
            # Not the job's fault, nor the printer's: stop the printer (its jobs wait) and let
            # the status poll find out when the files are usable.
            raise PrintFailure(Action.STOP_PRINTER, f"cannot set up TLS for printer {peer}: {exc}",
                               operation="A-ASSOCIATE") from exc
        ctx.sslsocket_class = wire.ssl_socket_class()
        kwargs["tls_args"] = (ctx, printer.tls_server_name or printer.host)
    start = time.monotonic()
    budget = printer.connect_timeout_s + printer.acse_timeout_s + ABORT_GRACE_S
    try:
        with wire.deadline(budget):
            assoc = ae.associate(printer.host, printer.port, ae_title=printer.ae_title,
                                 max_pdu=printer.max_pdu,
                                 evt_handlers=[(evt.EVT_CONN_OPEN, _use_reactor_pause)]
                                 + handlers + wire.handlers(),
                                 **kwargs)
    except Exception as exc:  # bad address, invalid AE title, ...
        raise PrintFailure(Action.RETRY, f"cannot associate with printer {peer}: {exc}",
                           operation="A-ASSOCIATE") from exc
    return assoc, wire, time.monotonic() - start


def _reject_hint(source: int, reason: int, printer: PrinterConfig, calling: str) -> str:
    """A hint for the A-ASSOCIATE-RJ reasons that point at an AE title in our configuration."""
    if source == 1 and reason == 3:
        return f" (our calling AE title is {calling!r})"
    if source == 1 and reason == 7:
        return f" (we called it {printer.ae_title!r})"
    return ""


class PrintAssociation:
    """An established association with one printer (see module docstring)."""

    def __init__(self, assoc: Any, printer: PrinterConfig, opened_at: float,
                 wire: _Wire | None = None):
        self._assoc = assoc
        self.printer = printer
        self.opened_at = opened_at
        self.jobs = 0                       # film sessions run on this association
        self._events: list[PrinterEvent] = []
        self._events_lock = threading.Lock()
        self.last_created_uid: str | None = None
        self.aborted_here = False           # we aborted it (e.g. close() from another thread)
        self.closed_by_us = False           # a request failed because we had aborted it
        self._wire = wire or _Wire(printer)
        self._message_id = 0

    # -- opening -------------------------------------------------------------
    @classmethod
    def open(cls, printer: PrinterConfig, station: Station,
             syntaxes: list[str] | None = None) -> PrintAssociation:
        """Associate with the printer or raise PrintFailure: RETRY with the reason in words,
        FAIL for settings pynetdicom refuses, STOP_PRINTER for TLS files it cannot use."""
        syntaxes = syntaxes or requested_contexts(printer)
        try:
            ae = _make_ae(printer, station, syntaxes)
        except ValueError as exc:   # e.g. an invalid implementation class UID or AE title
            raise PrintFailure(Action.FAIL, f"cannot set up the association with printer "
                               f"{_peer(printer)}: {exc}", operation="A-ASSOCIATE") from exc
        self_ref: list[PrintAssociation] = []

        def on_dimse_recv(event: evt.Event) -> None:
            if self_ref:
                self_ref[0]._on_dimse_recv(event)

        def on_event_report(event: evt.Event) -> tuple[int, Dataset | None]:
            if self_ref:
                return self_ref[0]._answer_event_report(event)
            return 0x0110, None

        handlers: list[tuple[Any, Callable]] = [
            (evt.EVT_DIMSE_RECV, on_dimse_recv),
            (evt.EVT_N_EVENT_REPORT, on_event_report),
        ]
        assoc, wire, elapsed = _associate(ae, printer, handlers)
        if assoc.is_established:
            _leave_responses_to_the_request(assoc)
            link = cls(assoc, printer, time.monotonic(), wire)
            self_ref.append(link)
            assoc.network_timeout_response = "A-RELEASE"
            return link
        raise PrintFailure(Action.RETRY, cls._why_not(assoc, printer, wire, elapsed, ae.ae_title),
                           operation="A-ASSOCIATE")

    @staticmethod
    def _why_not(assoc: Any, printer: PrinterConfig, wire: _Wire, elapsed: float,
                 calling: str = "") -> str:
        peer = _peer(printer)
        wire.settle(assoc)
        if wire.tls_error is not None:
            return f"TLS handshake with printer {peer} failed: {_tls_text(wire.tls_error)}"
        if not wire.connected:
            if elapsed >= printer.connect_timeout_s * 0.9:
                return (f"cannot connect to printer {peer}: no answer within "
                        f"{printer.connect_timeout_s:g} s (connect timeout)")
            return f"cannot connect to printer {peer}: connection refused or host unreachable"
        if assoc.is_rejected:
            rsp = assoc.acceptor.primitive
            try:
                detail = f"{rsp.result_str}, source: {rsp.source_str}, reason: {rsp.reason_str}"
                detail += _reject_hint(int(rsp.result_source), int(rsp.diagnostic), printer, calling)
            except Exception:  # pragma: no cover - malformed rejection
                detail = "no details"
            return f"association rejected by printer {peer}: {detail}"
        if assoc.is_aborted and assoc.rejected_contexts and not assoc.accepted_contexts:
            names = ", ".join(UID_TITLES.get(str(cx.abstract_syntax), str(cx.abstract_syntax))
                              for cx in assoc.rejected_contexts)
            return f"printer {peer} accepted none of the proposed presentation contexts ({names})"
        what = wire.describe()
        if what:
            if (not printer.tls and wire.ended_by == "Evt17" and wire.last_pdu is None
                    and wire.short is None and wire.error is None):
                what += " and without answering the association request (if the printer expects TLS, set tls = true)"
            return f"association with printer {peer} failed during negotiation: {what}"
        if elapsed >= printer.acse_timeout_s * 0.9:
            return (f"printer {peer} did not answer the association request within "
                    f"{printer.acse_timeout_s:g} s (ACSE timeout)" + wire.partial())
        seen = f" (the last PDU received was {_a_pdu(wire.last_pdu[0])})" if wire.last_pdu else ""
        return f"association with printer {peer} aborted or closed during negotiation{seen}"

    # -- state ---------------------------------------------------------------
    @property
    def is_alive(self) -> bool:
        a = self._assoc
        return bool(a.is_established and not a.is_aborted and not a.is_released)

    def accepts(self, uid: str) -> bool:
        return any(str(cx.abstract_syntax) == uid for cx in self._assoc.accepted_contexts)

    @property
    def accepted(self) -> list[str]:
        return [str(cx.abstract_syntax) for cx in self._assoc.accepted_contexts]

    def release(self) -> None:
        """Release (A-RELEASE); bounded by the ACSE timeout, aborts if unanswered."""
        try:
            if self._assoc.is_established:
                with self._wire.deadline(self.printer.acse_timeout_s + ABORT_GRACE_S):
                    self._assoc.release()
        except Exception as exc:  # pragma: no cover - defensive
            log.debug("release failed: %s", exc)
            self.abort()

    def abort(self) -> None:
        """A-ABORT; also wakes a thread waiting for a response on this association.

        Never takes much longer than :data:`ABORT_GRACE_S`: a printer that neither
        closes the connection nor lets the A-ABORT out has it cut."""
        self.aborted_here = True
        try:
            with self._wire.deadline(ABORT_GRACE_S):
                if (self._wire.ended_by is not None
                        or self._assoc.dul.state_machine.current_state in ("Sta1", "Sta13")):
                    # Already ending (an A-ABORT went out, or the connection is gone): another
                    # A-ABORT request is an invalid event there; wait for the end instead.
                    self._assoc.kill()
                elif not self._assoc.is_released:
                    self._assoc.abort()
        except Exception as exc:  # pragma: no cover - defensive
            log.debug("abort failed: %s", exc)
        # pynetdicom only wakes a waiting send_n_*() when the *peer* aborts.
        try:
            self._assoc.dimse.msg_queue.put((None, None))
        except Exception:  # pragma: no cover - defensive
            pass

    # -- DIMSE ---------------------------------------------------------------
    def context_uid(self, sop: str, meta: str | None) -> str | None:
        """The abstract syntax a request for ``sop`` (short name) goes under."""
        if meta and self.accepts(meta) and sop in _META_MEMBERS.get(meta, ()):
            return meta
        uid = SOP_CLASSES[sop]
        if self.accepts(uid):
            return uid
        for other in (GRAYSCALE_META, COLOR_META):
            if sop in _META_MEMBERS[other] and self.accepts(other):
                return other
        return None

    def _next_message_id(self) -> int:
        """1, 2, ... 65535, 1, ...: one request is outstanding at a time, so never a clash."""
        self._message_id = self._message_id % 65535 + 1
        return self._message_id

    def _wrong_response(self, operation: str, msg_id: int) -> str | None:
        """Why the last DIMSE message received is not the response to request ``msg_id``."""
        got = self._wire.last_message
        want = _RESPONSE_FIELDS[operation]
        if got is None:   # what came was queued before the request went out
            return f"the printer's {_COMMAND_NAMES[want]} had arrived before the request was sent"
        field, responding_to = got
        if field != want:
            name = _COMMAND_NAMES.get(field, f"command 0x{field:04X}")
            return f"the printer sent {name} instead of the {_COMMAND_NAMES[want]}"
        if responding_to != msg_id:
            return (f"the printer's response answers Message ID {responding_to}, not the request's "
                    f"{msg_id} (Message ID Being Responded To)")
        return None

    def send(self, operation: str, sop: str, meta: str | None,
             call: Callable[[Any, str | None, int], Any]) -> tuple[Any, float]:
        """Run one DIMSE request; return (result, seconds) or raise ConnectionLost.

        ``call(assoc, meta_uid, msg_id)`` performs the pynetdicom ``send_n_*``.
        """
        peer = _peer(self.printer)
        cx = self.context_uid(sop, meta)
        if cx is None:
            self.abort()
            title = UID_TITLES.get(SOP_CLASSES[sop], sop)
            raise ConnectionLost(f"{operation} {sop}: printer {peer} accepted no presentation context "
                                 f"for {title}", operation=operation)
        meta_uid = cx if cx in (GRAYSCALE_META, COLOR_META) else None
        if not self._assoc.is_established:
            raise ConnectionLost(f"{operation} {sop}: association with printer {peer} was lost "
                                 f"before the request", operation=operation)
        msg_id = self._next_message_id()
        self._wire.last_message = None
        start = time.monotonic()
        limit = self.printer.dimse_timeout_s + ABORT_GRACE_S
        try:
            # From the start of the exchange, before pynetdicom waits for its reactor to
            # pause: pynetdicom waits dimse_timeout_s for the response, then aborts (which
            # waits for its network thread); cut the connection if anything is stuck.
            with self._wire.deadline(limit):
                result = call(self._assoc, meta_uid, msg_id)
        except RuntimeError as exc:  # not established, or it ended before the request went out
            self._lost_before_sending(operation, sop, exc, time.monotonic() - start, limit)
        except ValueError as exc:    # pynetdicom could not encode the request's dataset
            self.abort()
            raise PrintFailure(Action.FAIL, f"{operation} {sop}: the request could not be encoded: {exc}",
                               operation=operation) from exc
        seconds = time.monotonic() - start
        status = result[0] if isinstance(result, tuple) else result
        answered = status is not None and "Status" in status
        wrong = self._wrong_response(operation, msg_id) if answered or self._wire.last_message else None
        if not answered:
            closed_here = self.aborted_here
            self.closed_by_us = closed_here
            self.abort()
            self._wire.settle(self._assoc)
            what = None if closed_here else (self._wire.describe() or wrong)
            timed_out = not closed_here and what is None and seconds >= self.printer.dimse_timeout_s * 0.95
            if closed_here:
                why = "association aborted by this server (driver closed)"
            elif what:
                why = f"{what}; association ended"
            elif timed_out:
                why = (f"no response within {self.printer.dimse_timeout_s:g} s (DIMSE timeout); "
                       f"association aborted{self._wire.partial()}")
            else:
                why = "association aborted by the printer or connection closed"
            lost = ConnectionLost(f"{operation} {sop}: {why} ({peer})", operation=operation,
                                  timed_out=timed_out)
            lost.seconds = seconds
            raise lost
        if wrong:
            self.abort()
            lost = ConnectionLost(f"{operation} {sop}: {wrong}, a DICOM protocol error; association "
                                  f"aborted ({peer})", operation=operation)
            lost.seconds = seconds
            raise lost
        return result, seconds

    def _lost_before_sending(self, operation: str, sop: str, exc: RuntimeError, seconds: float,
                             limit: float) -> None:
        """Raise ConnectionLost for a request that was never sent: the association had ended,
        or ended while the request waited for the reactor's pause (see _ReactorPause)."""
        peer = _peer(self.printer)
        closed_here = self.aborted_here
        self.closed_by_us = closed_here
        self.abort()
        self._wire.settle(self._assoc)
        what = None if closed_here else self._wire.describe()
        cut = not closed_here and what is None and self._wire.was_cut
        if closed_here:
            text = f"association aborted by this server (driver closed) ({peer})"
        elif what:
            text = f"{what}; association ended ({peer})"
        elif cut:
            text = (f"the request could not be sent within {limit:g} s (the association's reactor did "
                    f"not pause for it); association aborted ({peer})")
        else:
            text = f"association with printer {peer} was lost: {exc}"
        lost = ConnectionLost(f"{operation} {sop}: {text}", operation=operation, timed_out=cut)
        lost.seconds = seconds
        raise lost from exc

    # -- N-EVENT-REPORT ------------------------------------------------------
    def take_events(self) -> list[PrinterEvent]:
        with self._events_lock:
            events, self._events = self._events, []
        return events

    def _decode_event(self, event: evt.Event) -> PrinterEvent:
        msg = event.message
        cs = msg.command_set
        class_uid = str(cs.get("AffectedSOPClassUID", "") or "")
        event_type = int(cs.get("EventTypeID", 0) or 0)
        info_ds = None
        raw = msg.data_set.getvalue() if getattr(msg, "data_set", None) is not None else b""
        if raw:
            try:
                cx = self._assoc._accepted_cx[msg.context_id]
                ts = cx.transfer_syntax[0]
                info_ds = decode(BytesIO(raw), ts.is_implicit_VR, ts.is_little_endian, ts.is_deflated)
            except Exception as exc:  # undecodable Event Information: keep the event
                log.debug("undecodable N-EVENT-REPORT information: %s", exc)
        sop = SOP_NAMES.get(class_uid, class_uid)
        if sop == "printer":
            status = PRINTER_EVENTS.get(event_type, "")
            info = str(info_ds.get("PrinterStatusInfo", "") or "") if info_ds is not None else ""
            if not status:
                return PrinterEvent(sop, event_type, "", info, 0x0113, "No such event type")
            if info_ds is not None and info_ds.get("PrinterStatus"):
                status = str(info_ds.PrinterStatus)
            return PrinterEvent(sop, event_type, status, info, 0x0000, f"printer status {status}")
        if sop == "print-job":
            status = PRINT_JOB_EVENTS.get(event_type, "")
            info = str(info_ds.get("ExecutionStatusInfo", "") or "") if info_ds is not None else ""
            if not status:
                return PrinterEvent(sop, event_type, "", info, 0x0113, "No such event type")
            return PrinterEvent(sop, event_type, status, info, 0x0000, f"print job {status}")
        return PrinterEvent(sop, event_type, "", "", 0x0118, "No such SOP class")

    def _on_dimse_recv(self, event: evt.Event) -> None:
        """Runs in the network thread, before the message is queued or served."""
        try:
            cs = event.message.command_set
            field = cs.get("CommandField")
            if field != _N_EVENT_REPORT_RQ:
                responding_to = cs.get("MessageIDBeingRespondedTo")
                self._wire.last_message = (int(field or 0),
                                           None if responding_to is None else int(responding_to))
            if field == _N_EVENT_REPORT_RQ:
                ev = self._decode_event(event)
                with self._events_lock:
                    self._events.append(ev)
            elif field == _N_CREATE_RSP:
                uid = cs.get("AffectedSOPInstanceUID")
                self.last_created_uid = str(uid) if uid else None
        except Exception as exc:  # never break the network thread
            log.warning("could not inspect a received DIMSE message: %s", exc)

    def _answer_event_report(self, event: evt.Event) -> tuple[int, Dataset | None]:
        """EVT_N_EVENT_REPORT handler: the response status (recorded in _on_dimse_recv)."""
        try:
            req = event.request
            sop = SOP_NAMES.get(str(req.AffectedSOPClassUID), "")
            etype = int(req.EventTypeID or 0)
        except Exception:
            return 0x0110, None
        if sop == "printer":
            return (0x0000 if etype in PRINTER_EVENTS else 0x0113), None
        if sop == "print-job":
            return (0x0000 if etype in PRINT_JOB_EVENTS else 0x0113), None
        return 0x0118, None


def echo(printer: PrinterConfig, station: Station) -> tuple[int | None, str, float, bool]:
    """C-ECHO on a short Verification-only association.

    Returns (status or None, error text, seconds, whether a connection was made).
    """
    start = time.monotonic()
    try:
        ae = _make_ae(printer, station, [VERIFICATION])
        assoc, wire, elapsed = _associate(ae, printer, [])
    except PrintFailure as exc:
        return None, exc.reason, time.monotonic() - start, False
    except Exception as exc:
        return None, f"cannot associate with printer {_peer(printer)}: {exc}", time.monotonic() - start, False
    if not assoc.is_established:
        reason = PrintAssociation._why_not(assoc, printer, wire, elapsed, ae.ae_title)
        return None, reason, time.monotonic() - start, wire.connected
    _leave_responses_to_the_request(assoc)
    try:
        with wire.deadline(printer.dimse_timeout_s + ABORT_GRACE_S):
            status = assoc.send_c_echo()
    except RuntimeError as exc:
        with wire.deadline(ABORT_GRACE_S):
            assoc.abort()
        return None, f"C-ECHO: association lost: {exc}", time.monotonic() - start, True
    seconds = time.monotonic() - start
    if "Status" not in status:
        with wire.deadline(ABORT_GRACE_S):
            assoc.abort()
        what = wire.describe() or "no response (DIMSE timeout or association aborted)"
        return None, f"C-ECHO: {what}", seconds, True
    try:
        with wire.deadline(printer.acse_timeout_s + ABORT_GRACE_S):
            assoc.release()
    except RuntimeError:     # the printer ended it first (see _ReactorPause): the echo stands
        with wire.deadline(ABORT_GRACE_S):
            assoc.abort()
    return int(status.Status), "", seconds, True
