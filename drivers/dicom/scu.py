"""The DICOM Print Management SCU driver.

One :class:`DicomDriver` per printer. It holds at most one association with
the printer, opened by the first :meth:`DicomDriver.session` and reused by
the next ones; :meth:`DicomDriver.idle` and :meth:`DicomDriver.close`
release it. A dead association (released or aborted by the printer, idle
network timeout) is replaced by a new one before a job starts.

A job is (the attributes of each request are the specs of
:mod:`hcserver.drivers.dicom.datasets`)::

    N-GET    Printer (Printer Status, Printer Status Info)
   [N-CREATE Presentation LUT (IDENTITY), when enabled and accepted]
    N-CREATE Basic Film Session
    per film:
        N-CREATE Basic Film Box (with Referenced Film Session Sequence)
        N-SET    each image box that has pixels
        N-ACTION print (Action Type ID 1) on the film box
        N-DELETE film box
    N-DELETE Basic Film Session   (when the job's block ends normally)
   [N-DELETE Presentation LUT]

or, with ``print_action = "film-session"``, one N-ACTION print on the film session for the job's
films (or every ``session_films`` of them, each group in a film session of its own): see
:mod:`hcserver.drivers.dicom.film_session`.

Every response status is judged by :func:`hcserver.drivers.dicom.status_policy.decide`
with the printer's overrides: ok and warn go on (a warning is reported to
the observer), anything else raises :class:`~hcserver.drivers.base.PrintFailure` with
the decided action. No response, a lost or refused connection, a rejected
association, a missing presentation context, a failed TLS handshake and a
protocol error (bytes that are no valid PDU, a PDU cut short, a response to
another Message ID) raise ``PrintFailure(RETRY)`` with what happened in words
(see :mod:`hcserver.drivers.dicom.association`); a permanent rejection raises
``PrintFailure(STOP_PRINTER)``. A film box response the film cannot
be printed from (no, or no usable, Referenced Image Box Sequence) raises
``PrintFailure(FAIL)``; an N-GET Printer response without Printer Status is a
warning (the status is unknown, which the status policy lets print).
When anything leaves a job's block with an exception the association is
aborted (the printer then discards the film session) and nothing more is
sent on it.

N-EVENT-REPORTs are answered at once (:mod:`hcserver.drivers.dicom.event_reports`)
and handed to the job's observer after the operation in progress; a printer
FAILURE then raises ``PrintFailure(STOP_PRINTER)``.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from hcserver.drivers.base import Action, Driver, FilmSession, JobObserver, JobTicket, PrinterStatus, PrintFailure
from hcserver.drivers.dicom.association import (
    COLOR_META,
    GRAYSCALE_META,
    PRINTER_CONFIGURATION_INSTANCE,
    PRINTER_INSTANCE,
    SOP_CLASSES,
    UID_TITLES,
    ConnectionLost,
    PrintAssociation,
)
from hcserver.drivers.dicom.association import echo as c_echo
from hcserver.drivers.dicom.datasets import PRINTER_STATUS
from hcserver.drivers.dicom.event_reports import PrinterEvent
from hcserver.drivers.dicom.film_session import DicomFilmSession, text_of
from hcserver.drivers.dicom.printer_configuration import items as configuration_items
from hcserver.drivers.dicom.status_policy import decide, printer_status_action
from hcserver.drivers.settings import PrinterConfig, Station

log = logging.getLogger(__name__)

PRINTER_STATUS_TAGS = [tag_for_keyword(a.keyword) for a in PRINTER_STATUS.attributes]


class _NullObserver:
    """Observer for calls made outside a job (status, echo)."""

    def warning(self, operation: str, status: int | None, meaning: str) -> None:
        log.info("%s warning %s: %s", operation, "" if status is None else f"0x{status:04X}", meaning)

    def printer_status(self, status: PrinterStatus) -> None:
        pass

    def dimse(self, operation: str, sop_class: str, status: int | None, meaning: str,
              seconds: float) -> None:
        pass

    def film_accepted(self, index: int, output: str | None) -> None:
        pass

    def print_job(self, films: tuple[int, ...], status: str, info: str) -> None:
        pass


def _printer_status_failure(status: PrinterStatus, observer: JobObserver,
                            operation: str) -> PrintFailure | None:
    """What a Printer Status from N-GET Printer or an N-EVENT-REPORT does (``printer_status_action``
    decides): a warning is recorded; anything else but ok (FAILURE) is the failure to raise."""
    action = Action(printer_status_action(status.status))
    if action is Action.OK:
        return None
    if status.status:
        text = f"printer status {status.status}" + (f": {status.info}" if status.info else "")
    else:   # required in the N-GET response (PS3.4 H.4.10.1.1); unknown is a warning
        text = ("printer status unknown: the N-GET Printer response holds no Printer Status "
                "(2110,0010)" + (f" (Printer Status Info: {status.info})" if status.info else ""))
    if action is Action.WARN:
        observer.warning(operation, None, text)
        return None
    if operation == "N-EVENT-REPORT":    # it came with the response to another request
        text += " (N-EVENT-REPORT)"
    return PrintFailure(action, text, operation=operation)


class DicomDriver(Driver):
    """Print SCU for one DICOM printer (see the module docstring)."""

    def __init__(self, printer: PrinterConfig, station: Station):
        self.printer = printer
        self.station = station
        self._lock = threading.Lock()
        self._link: PrintAssociation | None = None
        self._generation = 0          # bumped by close(): an open racing with it is dropped
        self._in_session = False      # a job's session block is running
        self._busy = 0                # session/status calls on the network right now
        self.last_status: PrinterStatus | None = None
        self.associations_opened = 0  # print associations opened so far (not echo's)
        self._film_session: DicomFilmSession | None = None   # the job's, while its block runs
        self._configuration: list[dict] | None = None        # Printer Configuration Retrieval's answer
        self._configuration_asked = False                     # at the first job (hcq echo asks again)

    # ------------------------------------------------------------------ public
    @contextmanager
    def session(self, ticket: JobTicket, observer: JobObserver) -> Iterator[FilmSession]:
        with self._lock:
            if self._in_session:
                raise RuntimeError("a session is already open on this driver")
            self._in_session = True
            self._busy += 1
        try:
            film_session = self._start(ticket, observer)
            try:
                yield film_session
                film_session.finish()
            except BaseException:
                # Mid-job (or a failed N-DELETE): abort; the printer discards the film session.
                self._forget(film_session.association, abort=True)
                raise
        finally:
            self._film_session = None
            with self._lock:
                self._in_session = False
                self._busy -= 1

    def status(self) -> PrinterStatus:
        """N-GET Printer on the held association, or on a new one released afterwards."""
        return self._status(configuration=False)

    def configuration(self) -> list[dict] | None:
        return self._configuration

    def _status(self, *, configuration: bool) -> PrinterStatus:
        """:meth:`status`; with ``configuration``, Printer Configuration Retrieval after it."""
        observer = _NullObserver()
        with self._lock:
            self._busy += 1
        try:
            link, reused = self._acquire()
            try:
                status = self._printer_status_with_reconnect(link, reused, observer)
                current = self._current()
                if configuration and current is not None:
                    self._ask_configuration(current, observer, in_job=False)
                    current = self._current()
                self._drain(current, observer, in_job=False)
            except BaseException:
                self._forget(self._current(), abort=True)
                raise
            if not reused:
                # Opened only to ask: do not hold the printer's association between polls.
                self._forget(current, abort=False)
            return status
        finally:
            with self._lock:
                self._busy -= 1

    def echo(self) -> dict:
        result: dict[str, Any] = {"ok": False, "echo_status": None, "printer_status": None,
                                  "printer_status_info": None, "seconds": None}
        # A single-threaded printer serves one association at a time: let go of ours first.
        with self._lock:
            held = None if self._busy else self._link
            if held is not None:
                self._link = None
        if held is not None:
            held.release()
        start = time.monotonic()
        echoed = c_echo(self.printer, self.station)
        result["echo_status"] = echoed.status
        if echoed.error:
            result["error"] = echoed.error
        if echoed.answered:         # no second wait for a printer that is not there, or silent
            try:
                status = self._status(configuration=True)
            except PrintFailure as exc:
                result.setdefault("error", exc.reason)
            else:
                result["printer_status"] = status.status
                result["printer_status_info"] = status.info
                result["printer_configuration"] = self._configuration
        result["seconds"] = round(time.monotonic() - start, 4)
        result["ok"] = echoed.status == 0x0000 and result["printer_status"] is not None
        return result

    def association_state(self) -> str:
        with self._lock:
            link = self._link
        return "open" if link is not None and link.is_alive else "closed"

    def idle(self) -> None:
        with self._lock:
            if self._busy or self._link is None:
                return
            link, self._link = self._link, None
        link.release()

    def close(self) -> None:
        with self._lock:
            link, self._link = self._link, None
            self._generation += 1
            busy = self._busy
        if link is not None:
            # During a job the worker may be waiting on this association: abort
            # wakes it at once (its operation then raises PrintFailure(RETRY)).
            if busy:
                link.abort()
            else:
                link.release()

    # ---------------------------------------------------------- associations
    def _current(self) -> PrintAssociation | None:
        with self._lock:
            return self._link

    def _acquire(self) -> tuple[PrintAssociation, bool]:
        """The held association if it is alive, else a new one: (link, reused)."""
        with self._lock:
            link = self._link
            generation = self._generation
            if link is not None and link.is_alive:
                return link, True
            self._link = None
        if link is not None:
            link.abort()
        new = PrintAssociation.open(self.printer, self.station)
        with self._lock:
            self.associations_opened += 1
            if self._generation != generation:
                stale = True
            else:
                stale = False
                self._link = new
        if stale:
            new.abort()
            raise PrintFailure(Action.RETRY, "the driver was closed while connecting to the printer",
                               operation="A-ASSOCIATE")
        return new, False

    def _forget(self, link: PrintAssociation | None, *, abort: bool) -> None:
        if link is None:
            return
        with self._lock:
            if self._link is link:
                self._link = None
        if abort:
            link.abort()
        else:
            link.release()

    # ---------------------------------------------------------------- DIMSE
    def _exchange(self, link: PrintAssociation, observer: JobObserver, operation: str, sop: str,
                  meta: str | None, call: Callable[[Any, str | None, int], Any], *,
                  in_job: bool = True) -> Any:
        """Send one request, report it, apply the status policy; return pynetdicom's result."""
        try:
            result, seconds = link.send(operation, sop, meta, call)
        except ConnectionLost as exc:
            self._forget(link, abort=True)
            observer.dimse(operation, sop, None, exc.reason, exc.seconds)
            raise
        status = result[0] if isinstance(result, tuple) else result
        code = int(status.Status)
        decision = decide(sop, operation, code, self.printer.status_policy)
        action = Action(decision.action)
        comment = text_of(status.get("ErrorComment", "")).strip()
        observer.dimse(operation, sop, code, decision.meaning, seconds)
        if action is Action.WARN:
            observer.warning(operation, code, f"{decision.meaning} ({comment})" if comment
                             else decision.meaning)
        self._drain(link, observer, in_job=in_job)
        if action in (Action.OK, Action.WARN):
            return result
        reason = f"{operation} {sop}: status 0x{code:04X} {decision.meaning}"
        if not decision.listed:
            reason += f" (a {decision.category} status not listed for this operation)"
        if comment:
            reason += f"; printer says: {comment}"
        if decision.overridden:
            reason += f" [printer status_policy: {action.value}]"
        raise PrintFailure(action, reason, operation=operation, status=code)

    def _drain(self, link: PrintAssociation | None, observer: JobObserver, *, in_job: bool) -> None:
        """Hand N-EVENT-REPORTs received so far to the observer; FAILURE in a job raises."""
        if link is None:
            return
        failure: PrintFailure | None = None
        for ev in link.take_events():
            failure = self._on_event(ev, observer, in_job) or failure
        if failure is not None:
            raise failure

    def _on_event(self, ev: PrinterEvent, observer: JobObserver, in_job: bool) -> PrintFailure | None:
        observer.dimse("N-EVENT-REPORT", ev.sop_class if ev.sop_class in SOP_CLASSES else "printer",
                       ev.answered, f"event type {ev.event_type}: {ev.meaning}"
                       + (f" ({ev.info})" if ev.info else ""), 0.0)
        if ev.answered != 0x0000:
            observer.warning("N-EVENT-REPORT", ev.answered,
                             f"{ev.sop_class} event type {ev.event_type}: {ev.meaning}; answered "
                             f"0x{ev.answered:04X}")
            return None
        if ev.sop_class == "print-job":
            session = self._film_session
            if session is not None and session.print_jobs.event(ev):
                return None     # the job's own print job: followed there
            if ev.status == "FAILURE":
                observer.warning("N-EVENT-REPORT", None, "print job FAILURE"
                                 + (f": {ev.info}" if ev.info else ""))
            return None
        status = PrinterStatus(ev.status, ev.info)
        self.last_status = status
        observer.printer_status(status)
        failure = _printer_status_failure(status, observer, "N-EVENT-REPORT")
        return failure if in_job else None

    # ------------------------------------------------------------ job start
    def _get_printer_status(self, link: PrintAssociation, observer: JobObserver, meta: str | None,
                            *, in_job: bool) -> PrinterStatus:
        status_ds, attrs = self._exchange(
            link, observer, "N-GET", "printer", meta,
            lambda a, m, i: a.send_n_get(PRINTER_STATUS_TAGS, SOP_CLASSES["printer"], PRINTER_INSTANCE,
                                         msg_id=i, meta_uid=m),
            in_job=in_job)
        attrs = attrs if attrs is not None else Dataset()
        status = PrinterStatus(text_of(attrs.get("PrinterStatus", "")).strip(),
                               text_of(attrs.get("PrinterStatusInfo", "")).strip())
        self.last_status = status
        observer.printer_status(status)
        return status

    def _ask_configuration(self, link: PrintAssociation, observer: JobObserver, *, in_job: bool) -> None:
        """N-GET Printer Configuration Retrieval, if the printer accepted it; kept for
        :meth:`configuration`. Information only: outside a job a failure is only logged."""
        self._configuration_asked = True
        if not link.accepts(SOP_CLASSES["printer-configuration"]):
            return
        try:
            status, attrs = self._exchange(
                link, observer, "N-GET", "printer-configuration", None,
                # No Attribute Identifier List: all attributes, which for this class is the one sequence
                # (and pynetdicom 3.0 cannot log a list of one tag).
                lambda a, m, i: a.send_n_get([], SOP_CLASSES["printer-configuration"],
                                             PRINTER_CONFIGURATION_INSTANCE, msg_id=i),
                in_job=in_job)
        except PrintFailure as exc:
            if in_job:
                raise
            log.info("printer %s: no printer configuration: %s", self.printer.name, exc.reason)
            return
        if int(status.Status) in (0x0000, 0x0107):
            self._configuration = configuration_items(attrs)

    def _printer_status_with_reconnect(self, link: PrintAssociation, reused: bool,
                                       observer: JobObserver, meta: str | None = None,
                                       *, in_job: bool = False) -> PrinterStatus:
        try:
            return self._get_printer_status(link, observer, meta, in_job=in_job)
        except ConnectionLost as exc:
            # A held association the printer dropped while we were idle: once more, afresh.
            if not reused or exc.timed_out or link.closed_by_us:
                raise   # a close() from another thread aborted it: do not open a new one
            log.info("held association to %s was lost (%s); reconnecting", self.printer.name, exc.reason)
            fresh, _ = self._acquire()
            return self._get_printer_status(fresh, observer, meta, in_job=in_job)

    def _start(self, ticket: JobTicket, observer: JobObserver) -> DicomFilmSession:
        link, reused = self._acquire()
        if reused:
            link.take_events()    # stale events from between jobs: N-GET below is authoritative
        try:
            meta, color = self._choose_meta(link, ticket)
            status = self._printer_status_with_reconnect(link, reused, observer, meta, in_job=True)
            link = self._current() or link
            failure = _printer_status_failure(status, observer, "N-GET")
            if failure is not None:
                # No film session yet: release politely, the printer is not at fault for talking.
                self._forget(link, abort=False)
                raise failure
            if not self._configuration_asked:
                self._ask_configuration(link, observer, in_job=True)
            session = DicomFilmSession(self, link, observer, ticket, meta, color)
            self._film_session = session
            session.open()
            return session
        except BaseException:
            self._forget(self._current(), abort=True)
            raise

    def _choose_meta(self, link: PrintAssociation, ticket: JobTicket) -> tuple[str | None, bool]:
        """The Meta SOP class (or None for individual classes) and whether boxes are colour."""
        want_color = ticket.color and self.printer.color
        gray_box, color_box = SOP_CLASSES["grayscale-image-box"], SOP_CLASSES["color-image-box"]
        choices = ([(COLOR_META, True), (color_box, True)] if want_color else
                   [(GRAYSCALE_META, False), (gray_box, False), (COLOR_META, True), (color_box, True)])
        for uid, color in choices:
            if link.accepts(uid):
                return (uid if uid in (GRAYSCALE_META, COLOR_META) else None), color
        wanted = UID_TITLES[COLOR_META if want_color else GRAYSCALE_META]
        self._forget(link, abort=True)
        raise PrintFailure(Action.RETRY, f"printer {self.printer.ae_title}@{self.printer.host}:"
                           f"{self.printer.port} did not accept {wanted}", operation="A-ASSOCIATE")
