"""One association with a DICOM Print SCP, as the Print SCU driver uses it.

:class:`PrintAssociation` opens the association (presentation contexts from
the printer config, calling AE title, implementation identity, max PDU,
timeouts, TCP_NODELAY, TLS when the printer has ``tls = true``), turns every
way of *not* getting there into a :class:`~hcserver.drivers.base.PrintFailure` with
``Action.RETRY`` and a reason in words (a permanent rejection: ``STOP_PRINTER``, see
:func:`~hcserver.drivers.dicom.status_policy.rejection_action`), sends DIMSE-N requests,
releases and aborts. A request that gets no usable response (DIMSE timeout, peer abort,
connection closed, association already gone, bytes that are no valid PDU, a
response to another message) raises :class:`ConnectionLost`; statuses are
judged by the caller. :func:`echo` is C-ECHO on an association of its own; it says whether
the printer answered at all (:class:`EchoResult`), so that nothing more waits for one that does not.

Around the lifecycle, each in its module:

* :mod:`~hcserver.drivers.dicom.watchdog`: never wedged. Every call that can
  wait on the printer (associate, a request, release, abort) runs under a
  deadline after which the connection is cut, and the socket gets a timeout
  of ``dimse_timeout_s`` for anything else that blocks in the network thread.
* :mod:`~hcserver.drivers.dicom.wire`: what the network thread saw, and why
  an association ended in words; a response must answer the request's
  Message ID with the matching command.
* :mod:`~hcserver.drivers.dicom.tls`: the TLS context and its handshake errors.
* :mod:`~hcserver.drivers.dicom.reactor`: pynetdicom's reactor kept from taking
  our responses and from losing its pause to an N-EVENT-REPORT.
* :mod:`~hcserver.drivers.dicom.event_reports`: the printer's N-EVENT-REPORTs,
  recorded as they arrive, answered, and collected with
  :meth:`PrintAssociation.take_events`.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, evt

from hcserver.drivers.base import Action, PrintFailure
from hcserver.drivers.dicom.event_reports import EventReports, PrinterEvent
from hcserver.drivers.dicom.reactor import leave_responses_to_the_request, use_reactor_pause
from hcserver.drivers.dicom.status_policy import SOP_CLASS_UIDS, rejection_action
from hcserver.drivers.dicom.tls import tls_args, tls_text
from hcserver.drivers.dicom.watchdog import ABORT_GRACE_S
from hcserver.drivers.dicom.wire import Wire, a_pdu, peer_of
from hcserver.drivers.settings import PrinterConfig, Station

log = logging.getLogger(__name__)

# --- SOP classes ------------------------------------------------------------
VERIFICATION = "1.2.840.10008.1.1"
GRAYSCALE_META = "1.2.840.10008.5.1.1.9"
COLOR_META = "1.2.840.10008.5.1.1.18"
PRINTER_INSTANCE = "1.2.840.10008.5.1.1.17"
PRINTER_CONFIGURATION_INSTANCE = "1.2.840.10008.5.1.1.17.376"

#: short name (as used by the status policy) -> SOP Class UID
# The SOP classes we use, by the status table's short names (one list of UIDs in the project).
SOP_CLASSES: dict[str, str] = dict(SOP_CLASS_UIDS)
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
    SOP_CLASSES["printer-configuration"]: "Printer Configuration Retrieval",
}

# Classes that travel under a Meta SOP Class context.
_META_MEMBERS = {
    GRAYSCALE_META: ("film-session", "film-box", "grayscale-image-box", "printer"),
    COLOR_META: ("film-session", "film-box", "color-image-box", "printer"),
}

TRANSFER_SYNTAXES = [ImplicitVRLittleEndian, ExplicitVRLittleEndian]


class ConnectionLost(PrintFailure):
    """No DIMSE response: timeout, abort, closed connection. Always RETRY.

    ``timed_out`` tells a DIMSE timeout (the peer is alive but silent) from
    a connection that went away; ``sent``, that the request was handed to the
    connection (the printer may have received and carried it out) from one that
    never went out.
    """

    def __init__(self, reason: str, *, operation: str | None = None, timed_out: bool = False,
                 sent: bool = False):
        super().__init__(Action.RETRY, reason, operation=operation)
        self.timed_out = timed_out
        self.sent = sent
        self.seconds = 0.0


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
    # Asked once, for hcq printers and hcq echo; a printer without it rejects just this context.
    syntaxes.append(SOP_CLASSES["printer-configuration"])
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


def _associate(ae: AE, printer: PrinterConfig,
               handlers: list[tuple[Any, Callable]]) -> tuple[Any, Wire, float]:
    """``ae.associate`` with TLS when configured, watched and under a deadline.

    Returns (association, wire, seconds); raises PrintFailure: RETRY when pynetdicom
    raises, STOP_PRINTER when a TLS file cannot be used.
    """
    wire = Wire(printer)
    peer = peer_of(printer)
    kwargs: dict[str, Any] = {}
    if printer.tls:
        try:
            kwargs["tls_args"] = tls_args(printer, wire.tls_handshake_failed)
        except ValueError as exc:
            # Not the job's fault, nor the printer's: stop the printer (its jobs wait) and let
            # the status poll find out when the files are usable.
            raise PrintFailure(Action.STOP_PRINTER, f"cannot set up TLS for printer {peer}: {exc}",
                               operation="A-ASSOCIATE") from exc
    start = time.monotonic()
    budget = printer.connect_timeout_s + printer.acse_timeout_s + ABORT_GRACE_S
    try:
        with wire.deadline(budget):
            assoc = ae.associate(printer.host, printer.port, ae_title=printer.ae_title,
                                 max_pdu=printer.max_pdu,
                                 evt_handlers=[(evt.EVT_CONN_OPEN, use_reactor_pause)]
                                 + handlers + wire.handlers(),
                                 **kwargs)
    except Exception as exc:  # bad address, invalid AE title, ...
        raise PrintFailure(Action.RETRY, f"cannot associate with printer {peer}: {exc}",
                           operation="A-ASSOCIATE") from exc
    return assoc, wire, time.monotonic() - start


def _refusal_action(assoc: Any) -> Action:
    """What a failed association request does: RETRY, unless the printer rejected it
    permanently (the status policy's :func:`rejection_action`)."""
    if not assoc.is_rejected:
        return Action.RETRY
    try:
        return rejection_action(int(assoc.acceptor.primitive.result))
    except Exception:  # pragma: no cover - malformed rejection
        return Action.RETRY


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
                 wire: Wire | None = None, reports: EventReports | None = None):
        self._assoc = assoc
        self.printer = printer
        self.opened_at = opened_at
        self.jobs = 0                       # film sessions run on this association
        self.aborted_here = False           # we aborted it (e.g. close() from another thread)
        self.closed_by_us = False           # a request failed because we had aborted it
        self._wire = wire or Wire(printer)
        self._reports = reports or EventReports()
        self._message_id = 0

    # -- opening -------------------------------------------------------------
    @classmethod
    def open(cls, printer: PrinterConfig, station: Station,
             syntaxes: list[str] | None = None) -> PrintAssociation:
        """Associate with the printer or raise PrintFailure: RETRY with the reason in words,
        FAIL for settings pynetdicom refuses, STOP_PRINTER for TLS files it cannot use and for a
        permanent rejection."""
        syntaxes = syntaxes or requested_contexts(printer)
        try:
            ae = _make_ae(printer, station, syntaxes)
        except ValueError as exc:   # e.g. an invalid implementation class UID or AE title
            raise PrintFailure(Action.FAIL, f"cannot set up the association with printer "
                               f"{peer_of(printer)}: {exc}", operation="A-ASSOCIATE") from exc
        reports = EventReports()
        assoc, wire, elapsed = _associate(ae, printer, reports.handlers())
        if assoc.is_established:
            leave_responses_to_the_request(assoc)
            assoc.network_timeout_response = "A-RELEASE"
            return cls(assoc, printer, time.monotonic(), wire, reports)
        raise PrintFailure(_refusal_action(assoc), cls._why_not(assoc, printer, wire, elapsed, ae.ae_title),
                           operation="A-ASSOCIATE")

    @staticmethod
    def _why_not(assoc: Any, printer: PrinterConfig, wire: Wire, elapsed: float,
                 calling: str = "") -> str:
        peer = peer_of(printer)
        wire.settle(assoc)
        if wire.tls_error is not None:
            return f"TLS handshake with printer {peer} failed: {tls_text(wire.tls_error)}"
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
        seen = f" (the last PDU received was {a_pdu(wire.last_pdu[0])})" if wire.last_pdu else ""
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

    @property
    def last_created_uid(self) -> str | None:
        """The Affected SOP Instance UID of the last N-CREATE response."""
        return self._wire.last_created_uid

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

    def send(self, operation: str, sop: str, meta: str | None,
             call: Callable[[Any, str | None, int], Any]) -> tuple[Any, float]:
        """Run one DIMSE request; return (result, seconds) or raise ConnectionLost.

        ``call(assoc, meta_uid, msg_id)`` performs the pynetdicom ``send_n_*``.
        """
        peer = peer_of(self.printer)
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
        wrong = self._wire.wrong_response(operation, msg_id) if answered or self._wire.last_message else None
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
                                  timed_out=timed_out, sent=True)
            lost.seconds = seconds
            raise lost
        if wrong:
            self.abort()
            lost = ConnectionLost(f"{operation} {sop}: {wrong}, a DICOM protocol error; association "
                                  f"aborted ({peer})", operation=operation, sent=True)
            lost.seconds = seconds
            raise lost
        return result, seconds

    def _lost_before_sending(self, operation: str, sop: str, exc: RuntimeError, seconds: float,
                             limit: float) -> None:
        """Raise ConnectionLost for a request that was never sent: the association had ended,
        or ended while the request waited for the reactor's pause (see reactor.ReactorPause)."""
        peer = peer_of(self.printer)
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
        return self._reports.take()


@dataclass(frozen=True)
class EchoResult:
    """What :func:`echo` found."""

    status: int | None     # the C-ECHO response's status; None without one
    error: str             # what went wrong, in words ("" when the echo was answered)
    seconds: float
    answered: bool         # the printer took part: not refused, unreachable or silent past a timeout


def echo(printer: PrinterConfig, station: Station) -> EchoResult:
    """C-ECHO on a short Verification-only association."""
    start = time.monotonic()

    def result(status: int | None, error: str, answered: bool) -> EchoResult:
        return EchoResult(status, error, time.monotonic() - start, answered)

    try:
        ae = _make_ae(printer, station, [VERIFICATION])
        assoc, wire, elapsed = _associate(ae, printer, [])
    except PrintFailure as exc:
        return result(None, exc.reason, False)
    except Exception as exc:
        return result(None, f"cannot associate with printer {peer_of(printer)}: {exc}", False)
    if not assoc.is_established:
        reason = PrintAssociation._why_not(assoc, printer, wire, elapsed, ae.ae_title)
        # Silent until the ACSE timeout (or not there at all): no point in asking it anything else.
        silent = not wire.connected or (not assoc.is_rejected and elapsed >= printer.acse_timeout_s * 0.9)
        return result(None, reason, not silent)
    leave_responses_to_the_request(assoc)
    try:
        with wire.deadline(printer.dimse_timeout_s + ABORT_GRACE_S):
            status = assoc.send_c_echo()
    except RuntimeError as exc:
        with wire.deadline(ABORT_GRACE_S):
            assoc.abort()
        return result(None, f"C-ECHO: association lost: {exc}", True)
    if "Status" not in status:
        silent = time.monotonic() - start - elapsed >= printer.dimse_timeout_s * 0.95
        with wire.deadline(ABORT_GRACE_S):
            assoc.abort()
        what = wire.describe() or "no response (DIMSE timeout or association aborted)"
        return result(None, f"C-ECHO: {what}", not silent)
    try:
        with wire.deadline(printer.acse_timeout_s + ABORT_GRACE_S):
            assoc.release()
    except RuntimeError:     # the printer ended it first (see reactor.ReactorPause): the echo stands
        with wire.deadline(ABORT_GRACE_S):
            assoc.abort()
    return result(int(status.Status), "", True)
