"""One association with a DICOM Print SCP, as the Print SCU driver uses it.

:class:`PrintAssociation` opens the association (presentation contexts from
the printer config, calling AE title, implementation identity, max PDU,
timeouts, TCP_NODELAY), turns every way of *not* getting there into a
:class:`~drivers.base.PrintFailure` with ``Action.RETRY`` and a reason in
words, and sends DIMSE-N requests. A request that gets no response (DIMSE
timeout, peer abort, connection closed, association already gone) raises
:class:`ConnectionLost`; statuses are judged by the caller.

N-EVENT-REPORTs the printer sends are recorded synchronously in the network
thread the moment they arrive (so they are visible by the time the response
to the request in progress is), answered by a handler bound at associate
time, and collected with :meth:`PrintAssociation.take_events`.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from io import BytesIO
from dataclasses import dataclass
from typing import Any, Callable

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.dsutils import decode

from drivers.base import Action, PrintFailure
from hcserver.config import PrinterConfig, ServerConfig

log = logging.getLogger(__name__)

# --- SOP classes ------------------------------------------------------------
VERIFICATION = "1.2.840.10008.1.1"
GRAYSCALE_META = "1.2.840.10008.5.1.1.9"
COLOR_META = "1.2.840.10008.5.1.1.18"
PRINTER_INSTANCE = "1.2.840.10008.5.1.1.17"

#: short name (as used by the status policy) -> SOP Class UID
SOP_CLASSES: dict[str, str] = {
    "film-session": "1.2.840.10008.5.1.1.1",
    "film-box": "1.2.840.10008.5.1.1.2",
    "grayscale-image-box": "1.2.840.10008.5.1.1.4",
    "color-image-box": "1.2.840.10008.5.1.1.4.1",
    "annotation-box": "1.2.840.10008.5.1.1.15",
    "print-job": "1.2.840.10008.5.1.1.14",
    "printer": "1.2.840.10008.5.1.1.16",
    "presentation-lut": "1.2.840.10008.5.1.1.23",
}
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


def _make_ae(printer: PrinterConfig, server: ServerConfig, syntaxes: list[str]) -> AE:
    ae = AE(ae_title=printer.calling_ae_title or server.ae_title)
    if server.implementation_class_uid:
        ae.implementation_class_uid = server.implementation_class_uid
    if server.implementation_version_name:
        ae.implementation_version_name = server.implementation_version_name
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


class PrintAssociation:
    """An established association with one printer (see module docstring)."""

    def __init__(self, assoc: Any, printer: PrinterConfig, opened_at: float):
        self._assoc = assoc
        self.printer = printer
        self.opened_at = opened_at
        self.jobs = 0                       # film sessions run on this association
        self._events: list[PrinterEvent] = []
        self._events_lock = threading.Lock()
        self.last_created_uid: str | None = None
        self.aborted_here = False           # we aborted it (e.g. close() from another thread)
        self.closed_by_us = False           # a request failed because we had aborted it

    # -- opening -------------------------------------------------------------
    @classmethod
    def open(cls, printer: PrinterConfig, server: ServerConfig,
             syntaxes: list[str] | None = None) -> "PrintAssociation":
        """Associate with the printer or raise PrintFailure(RETRY, reason)."""
        syntaxes = syntaxes or requested_contexts(printer)
        try:
            ae = _make_ae(printer, server, syntaxes)
        except ValueError as exc:   # e.g. an invalid implementation class UID or AE title
            raise PrintFailure(Action.FAIL, f"cannot set up the association with printer "
                               f"{_peer(printer)}: {exc}", operation="A-ASSOCIATE") from exc
        holder: dict[str, Any] = {"connected": False}
        self_ref: list[PrintAssociation] = []

        def on_conn_open(event: evt.Event) -> None:
            holder["connected"] = True

        def on_dimse_recv(event: evt.Event) -> None:
            if self_ref:
                self_ref[0]._on_dimse_recv(event)

        def on_event_report(event: evt.Event) -> tuple[int, Dataset | None]:
            if self_ref:
                return self_ref[0]._answer_event_report(event)
            return 0x0110, None

        handlers: list[tuple[Any, Callable]] = [
            (evt.EVT_CONN_OPEN, on_conn_open),
            (evt.EVT_DIMSE_RECV, on_dimse_recv),
            (evt.EVT_N_EVENT_REPORT, on_event_report),
        ]
        start = time.monotonic()
        try:
            assoc = ae.associate(printer.host, printer.port, ae_title=printer.ae_title,
                                 max_pdu=printer.max_pdu, evt_handlers=handlers)
        except Exception as exc:  # bad address, invalid AE title, ...
            raise PrintFailure(Action.RETRY, f"cannot associate with printer {_peer(printer)}: {exc}",
                               operation="A-ASSOCIATE") from exc
        elapsed = time.monotonic() - start
        if assoc.is_established:
            link = cls(assoc, printer, time.monotonic())
            self_ref.append(link)
            try:
                assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (AttributeError, OSError) as exc:  # pragma: no cover - platform specific
                log.debug("could not set TCP_NODELAY: %s", exc)
            assoc.network_timeout_response = "A-RELEASE"
            return link
        raise PrintFailure(Action.RETRY, cls._why_not(assoc, printer, holder["connected"], elapsed),
                           operation="A-ASSOCIATE")

    @staticmethod
    def _why_not(assoc: Any, printer: PrinterConfig, connected: bool, elapsed: float) -> str:
        peer = _peer(printer)
        if not connected:
            if elapsed >= printer.connect_timeout_s * 0.9:
                return (f"cannot connect to printer {peer}: no answer within "
                        f"{printer.connect_timeout_s:g} s (connect timeout)")
            return f"cannot connect to printer {peer}: connection refused or host unreachable"
        if assoc.is_rejected:
            rsp = assoc.acceptor.primitive
            try:
                detail = f"{rsp.result_str}, source: {rsp.source_str}, reason: {rsp.reason_str}"
            except Exception:  # pragma: no cover - malformed rejection
                detail = "no details"
            return f"association rejected by printer {peer}: {detail}"
        if assoc.is_aborted and assoc.rejected_contexts and not assoc.accepted_contexts:
            names = ", ".join(UID_TITLES.get(str(cx.abstract_syntax), str(cx.abstract_syntax))
                              for cx in assoc.rejected_contexts)
            return f"printer {peer} accepted none of the proposed presentation contexts ({names})"
        if elapsed >= printer.acse_timeout_s * 0.9:
            return (f"printer {peer} did not answer the association request within "
                    f"{printer.acse_timeout_s:g} s (ACSE timeout)")
        return f"association with printer {peer} aborted or closed during negotiation"

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
                self._assoc.release()
        except Exception as exc:  # pragma: no cover - defensive
            log.debug("release failed: %s", exc)
            self.abort()

    def abort(self) -> None:
        """A-ABORT; also wakes a thread waiting for a response on this association."""
        self.aborted_here = True
        try:
            if not self._assoc.is_released:
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

    def send(self, operation: str, sop: str, meta: str | None,
             call: Callable[[Any, str | None], Any]) -> tuple[Any, float]:
        """Run one DIMSE request; return (result, seconds) or raise ConnectionLost.

        ``call(assoc, meta_uid)`` performs the pynetdicom ``send_n_*``.
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
        start = time.monotonic()
        try:
            result = call(self._assoc, meta_uid)
        except RuntimeError as exc:  # association no longer established
            self.abort()
            raise ConnectionLost(f"{operation} {sop}: association with printer {peer} was lost: {exc}",
                                 operation=operation) from exc
        except ValueError as exc:    # pynetdicom could not encode the request's dataset
            self.abort()
            raise PrintFailure(Action.FAIL, f"{operation} {sop}: the request could not be encoded: {exc}",
                               operation=operation) from exc
        seconds = time.monotonic() - start
        status = result[0] if isinstance(result, tuple) else result
        if status is None or "Status" not in status:
            timed_out = seconds >= self.printer.dimse_timeout_s * 0.95
            closed_here = self.aborted_here
            self.closed_by_us = closed_here
            self.abort()
            if closed_here:
                why = "association aborted by this server (driver closed)"
            elif timed_out:
                why = (f"no response within {self.printer.dimse_timeout_s:g} s (DIMSE timeout); "
                       "association aborted")
            else:
                why = "association aborted by the printer or connection closed"
            lost = ConnectionLost(f"{operation} {sop}: {why} ({peer})", operation=operation,
                                  timed_out=timed_out)
            lost.seconds = seconds
            raise lost
        return result, seconds

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


def echo(printer: PrinterConfig, server: ServerConfig) -> tuple[int | None, str, float, bool]:
    """C-ECHO on a short Verification-only association.

    Returns (status or None, error text, seconds, whether a TCP connection was made).
    """
    holder = {"connected": False}

    def on_conn_open(event: evt.Event) -> None:
        holder["connected"] = True

    start = time.monotonic()
    try:
        ae = _make_ae(printer, server, [VERIFICATION])
        assoc = ae.associate(printer.host, printer.port, ae_title=printer.ae_title,
                             max_pdu=printer.max_pdu, evt_handlers=[(evt.EVT_CONN_OPEN, on_conn_open)])
    except Exception as exc:
        return (None, f"cannot associate with printer {_peer(printer)}: {exc}",
                time.monotonic() - start, holder["connected"])
    if not assoc.is_established:
        reason = PrintAssociation._why_not(assoc, printer, holder["connected"],
                                           time.monotonic() - start)
        return None, reason, time.monotonic() - start, holder["connected"]
    try:
        assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (AttributeError, OSError):  # pragma: no cover
        pass
    try:
        status = assoc.send_c_echo()
    except RuntimeError as exc:
        assoc.abort()
        return None, f"C-ECHO: association lost: {exc}", time.monotonic() - start, True
    seconds = time.monotonic() - start
    if "Status" not in status:
        assoc.abort()
        return None, "C-ECHO: no response (DIMSE timeout or association aborted)", seconds, True
    assoc.release()
    return int(status.Status), "", seconds, True
