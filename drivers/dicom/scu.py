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

import numpy as np
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import generate_uid

from hcserver.drivers.base import Action, Driver, FilmSession, JobObserver, JobTicket, PrinterStatus, PrintFailure
from hcserver.drivers.dicom.association import (
    COLOR_META,
    GRAYSCALE_META,
    PRINTER_INSTANCE,
    SOP_CLASSES,
    SOP_NAMES,
    UID_TITLES,
    ConnectionLost,
    PrintAssociation,
)
from hcserver.drivers.dicom.association import echo as c_echo
from hcserver.drivers.dicom.datasets import (
    ANNOTATION_BOX,
    COLOR_IMAGE_BOX,
    FILM_BOX,
    FILM_SESSION,
    GRAYSCALE_IMAGE_BOX,
    PRESENTATION_LUT,
    PRINT_ACTION,
    PRINTER_STATUS,
    AnnotationInputs,
    FilmBoxInputs,
    ImageBoxInputs,
    Pixels,
    SessionInputs,
    build,
)
from hcserver.drivers.dicom.event_reports import PrinterEvent
from hcserver.drivers.dicom.status_policy import category_of, decide, printer_status_action
from hcserver.drivers.settings import PrinterConfig, Station
from hcserver.formatter.film import FilmSheet, ImageBox

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


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, MultiValue)):
        return "\\".join(str(v) for v in value)
    return str(value)


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


def _deleted(status: Dataset) -> bool:
    """Whether an N-DELETE's response says the instance is gone (success or a warning)."""
    return category_of(int(status.Status)) in ("success", "warning")


def _n_set(ds: Dataset, class_uid: str, instance_uid: str, *,
           in_meta: bool = True) -> Callable[[Any, str | None, int], Any]:
    """The N-SET of one object, as the call :meth:`_DicomFilmSession._x` makes."""
    return lambda a, m, i: a.send_n_set(ds, class_uid, instance_uid, msg_id=i, meta_uid=m if in_meta else None)


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
            with self._lock:
                self._in_session = False
                self._busy -= 1

    def status(self) -> PrinterStatus:
        """N-GET Printer on the held association, or on a new one released afterwards."""
        observer = _NullObserver()
        with self._lock:
            self._busy += 1
        try:
            link, reused = self._acquire()
            try:
                status = self._printer_status_with_reconnect(link, reused, observer)
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
                status = self.status()
            except PrintFailure as exc:
                result.setdefault("error", exc.reason)
            else:
                result["printer_status"] = status.status
                result["printer_status_info"] = status.info
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
        comment = _text(status.get("ErrorComment", "")).strip()
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
        status = PrinterStatus(_text(attrs.get("PrinterStatus", "")).strip(),
                               _text(attrs.get("PrinterStatusInfo", "")).strip())
        self.last_status = status
        observer.printer_status(status)
        return status

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

    def _start(self, ticket: JobTicket, observer: JobObserver) -> _DicomFilmSession:
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
            session = _DicomFilmSession(self, link, observer, ticket, meta, color)
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


class _DicomFilmSession:
    """One film session on the printer; :meth:`print_film` prints one film."""

    def __init__(self, driver: DicomDriver, link: PrintAssociation, observer: JobObserver,
                 ticket: JobTicket, meta: str | None, color: bool):
        self.driver = driver
        self.association = link
        self.observer = observer
        self.ticket = ticket
        self.meta = meta
        self.color = color
        self.film_session_uid: str | None = None
        self.plut_uid: str | None = None
        self._broken = False
        self._deferred: PrintFailure | None = None   # raised by the next call (see print_film)

    # -- plumbing ---------------------------------------------------------------
    def _x(self, operation: str, sop: str, call: Callable[[Any, str | None, int], Any]) -> Any:
        if self._broken:
            raise PrintFailure(Action.RETRY, f"{operation} {sop}: the film session was already "
                               "abandoned after an earlier failure", operation=operation)
        try:
            return self.driver._exchange(self.association, self.observer, operation, sop, self.meta,
                                         call)
        except BaseException:
            self._broken = True
            raise

    @property
    def printer(self) -> PrinterConfig:
        return self.driver.printer

    # -- session ----------------------------------------------------------------
    def open(self) -> None:
        p = self.printer
        if p.presentation_lut:
            if self.association.accepts(SOP_CLASSES["presentation-lut"]):
                plut = build(PRESENTATION_LUT, None, p)
                uid = generate_uid()
                self._x("N-CREATE", "presentation-lut",
                        lambda a, m, i: a.send_n_create(plut, SOP_CLASSES["presentation-lut"], uid,
                                                        msg_id=i))
                self.plut_uid = self.association.last_created_uid or uid
            else:
                self.observer.warning("N-CREATE", None, "the printer did not accept the Presentation "
                                      "LUT SOP class; printing without a Presentation LUT")
        fs = build(FILM_SESSION, SessionInputs(p, self.ticket, self.plut_uid), p)
        uid = generate_uid()
        self._x("N-CREATE", "film-session",
                lambda a, m, i: a.send_n_create(fs, SOP_CLASSES["film-session"], uid, msg_id=i,
                                                meta_uid=m))
        self.film_session_uid = self.association.last_created_uid or uid

    def finish(self) -> None:
        """The job's block ended normally: N-DELETE the film session (and the PLUT).

        A failed N-DELETE only warns (the films are printed), but the printer still holds what
        it did not delete, and one that keeps one film session per association would refuse the
        next job's: the association is then released, and the next job starts on a new one."""
        self._raise_deferred()
        left: list[str] = []
        if self.film_session_uid:
            uid = self.film_session_uid
            if not _deleted(self._x("N-DELETE", "film-session",
                                    lambda a, m, i: a.send_n_delete(SOP_CLASSES["film-session"], uid,
                                                                    msg_id=i, meta_uid=m))):
                left.append("film session")
            self.film_session_uid = None
        if self.plut_uid:
            uid = self.plut_uid
            if not _deleted(self._x("N-DELETE", "presentation-lut",
                                    lambda a, m, i: a.send_n_delete(SOP_CLASSES["presentation-lut"], uid,
                                                                    msg_id=i))):
                left.append("Presentation LUT")
            self.plut_uid = None
        self.association.jobs += 1
        if left:
            log.info("printer %s kept the %s it did not delete: releasing the association",
                     self.printer.name, " and ".join(left))
            self.driver._forget(self.association, abort=False)

    # -- films ------------------------------------------------------------------
    def _raise_deferred(self) -> None:
        if self._deferred is not None:
            failure, self._deferred = self._deferred, None
            raise failure

    def print_film(self, sheet: FilmSheet) -> str | None:
        """Film box N-CREATE, image box N-SETs, N-ACTION print, N-DELETE; returns the film box UID.

        Once the N-ACTION has succeeded the film counts as printed: a failure after it (a
        printer FAILURE report, a lost N-DELETE) is raised by the next call instead. An N-ACTION
        sent without an answer coming back raises with ``in_doubt`` set to the film's index.
        """
        self._raise_deferred()
        assert self.film_session_uid is not None, "open() creates the film session first"
        annotate = self._annotation_texts(sheet)
        fb = build(FILM_BOX, FilmBoxInputs(self.printer, sheet, self.film_session_uid, self.plut_uid,
                                                      bool(annotate)), self.printer)
        uid = generate_uid()
        _, attrs = self._x("N-CREATE", "film-box",
                           lambda a, m, i: a.send_n_create(fb, SOP_CLASSES["film-box"], uid, msg_id=i,
                                                           meta_uid=m))
        film_box_uid = self.association.last_created_uid or uid
        refs = attrs.get("ReferencedImageBoxSequence") if attrs is not None else None
        if not refs:
            self._broken = True
            what = "holds no Referenced Image Box Sequence" if refs is None else \
                "holds an empty Referenced Image Box Sequence (no image boxes)"
            raise PrintFailure(Action.FAIL, f"N-CREATE film-box: the printer's response for "
                               f"{sheet.display_format} {what}", operation="N-CREATE")
        for box in sheet.boxes:
            if box.pixels is None or box.pixels.size == 0:
                continue
            if not 1 <= box.position <= len(refs):
                self._broken = True
                raise PrintFailure(Action.FAIL, f"N-SET: image box position {box.position} is outside "
                                   f"the {len(refs)} boxes the printer created for "
                                   f"{sheet.display_format}", operation="N-SET")
            item = refs[box.position - 1]
            class_uid = _text(item.get("ReferencedSOPClassUID")).strip()
            instance_uid = _text(item.get("ReferencedSOPInstanceUID")).strip()
            if not instance_uid:
                self._broken = True
                raise PrintFailure(Action.FAIL, f"N-CREATE film-box: item {box.position} of the "
                                   f"Referenced Image Box Sequence in the printer's response for "
                                   f"{sheet.display_format} has no Referenced SOP Instance UID",
                                   operation="N-CREATE")
            sop = SOP_NAMES.get(class_uid, "color-image-box" if self.color else "grayscale-image-box")
            class_uid = class_uid or SOP_CLASSES[sop]
            color = sop == "color-image-box"
            # No local name keeps the box's pixels alive after its N-SET.
            self._x("N-SET", sop, _n_set(build(COLOR_IMAGE_BOX if color else GRAYSCALE_IMAGE_BOX,
                                               ImageBoxInputs(box, self._pixels(box, color, sheet)), self.printer),
                                         class_uid, instance_uid))
        if annotate:
            self._set_annotations(annotate, attrs)
        try:
            self._x("N-ACTION", "film-box",
                    lambda a, m, i: a.send_n_action(None, PRINT_ACTION, SOP_CLASSES["film-box"],
                                                    film_box_uid, msg_id=i, meta_uid=m))
        except PrintFailure as failure:
            if isinstance(failure, ConnectionLost) and failure.sent:
                # The request went out and no answer came: the printer may have printed the film.
                failure.in_doubt = sheet.index
            if failure.operation != "N-EVENT-REPORT":
                raise
            # The print action succeeded; a printer report that came with it must not make
            # the caller think this film was not printed (it would be printed again).
            self._deferred = failure
        self.observer.film_accepted(sheet.index, film_box_uid)   # recorded while we clean up
        try:
            self._x("N-DELETE", "film-box",
                    lambda a, m, i: a.send_n_delete(SOP_CLASSES["film-box"], film_box_uid, msg_id=i,
                                                    meta_uid=m))
        except PrintFailure as failure:
            self._deferred = self._deferred or failure  # the film is printed all the same
        return film_box_uid

    def _annotation_texts(self, sheet: FilmSheet) -> tuple[str, ...]:
        """The film's annotation box texts, if this printer and association can take them."""
        if not sheet.annotation_boxes:
            return ()
        if not (self.printer.annotation_box and self.association.accepts(SOP_CLASSES["annotation-box"])):
            self.observer.warning("N-SET", None, "the printer did not accept Basic Annotation Box: the "
                                                 "film's annotation texts are not printed")
            return ()
        return sheet.annotation_boxes

    def _set_annotations(self, texts: tuple[str, ...], attrs: Dataset) -> None:
        """N-SET the annotation boxes the printer created, in position order."""
        refs = attrs.get("ReferencedBasicAnnotationBoxSequence") or []
        if len(refs) < len(texts):
            self.observer.warning("N-CREATE", None, f"the printer created {len(refs)} annotation boxes for "
                                                    f"{len(texts)} texts: the rest are not printed")
        for position, (text, item) in enumerate(zip(texts, refs), start=1):
            ds = build(ANNOTATION_BOX, AnnotationInputs(self.printer, position, text), self.printer)
            class_uid = _text(item.get("ReferencedSOPClassUID")).strip() or SOP_CLASSES["annotation-box"]
            instance_uid = _text(item.get("ReferencedSOPInstanceUID")).strip()
            self._x("N-SET", "annotation-box", _n_set(ds, class_uid, instance_uid, in_meta=False))

    def _pixels(self, box: ImageBox, color: bool, sheet: FilmSheet) -> Pixels:
        """The box's pixels as the image box takes them; what cannot be sent fails the job."""
        px = box.pixels
        where = f"film {sheet.index + 1} box {box.position}"
        if color:
            if px.ndim == 2:        # a grey film on a colour-only printer: R = G = B
                grey = px if px.dtype == np.uint8 else (px >> 4).astype(np.uint8)
                px = np.repeat(grey[:, :, None], 3, axis=2)
            if px.ndim != 3 or px.shape[2] != 3 or px.dtype != np.uint8:
                self._broken = True
                raise PrintFailure(Action.FAIL, f"N-SET: {where}: colour pixels must be (rows, cols, 3) "
                                   f"uint8, got {px.shape} {px.dtype}", operation="N-SET")
            return Pixels(px, 8)
        if px.ndim != 2:
            self._broken = True
            raise PrintFailure(Action.FAIL, f"N-SET: {where}: RGB pixels on a grayscale film "
                               "session (the printer is not set up for colour)", operation="N-SET")
        if px.dtype == np.uint16 and self.printer.bit_depth < 12:
            px = (px >> 4).astype(np.uint8)
            self.observer.warning("N-SET", None, f"{where}: 12-bit pixels sent as 8-bit "
                                  "(the printer's bit_depth is 8)")
        if px.dtype == np.uint8:
            return Pixels(px, 8)
        if px.dtype == np.uint16:
            return Pixels(px, 12)
        self._broken = True
        raise PrintFailure(Action.FAIL, f"N-SET: {where}: unsupported pixel type {px.dtype}",
                           operation="N-SET")
