"""One job's film session on a DICOM printer: what :meth:`DicomDriver.session` yields.

:class:`DicomFilmSession` creates the film session (and the Presentation LUT), prints each film
(:meth:`DicomFilmSession.print_film`: film box, image boxes, annotation boxes, the print action)
and deletes what it created when the job's block ends (:meth:`DicomFilmSession.finish`). Every
request goes through the driver's :meth:`~hcserver.drivers.dicom.scu.DicomDriver._exchange`,
which applies the status policy.

The print action (N-ACTION, Action Type ID 1) goes where the printer's ``print_action`` says:

* ``film-box`` (the default): to each film box, which is then deleted;
* ``film-session``: to the film session, which prints every film box in it at once (for printers
  that print only that way; they answer a film box's N-ACTION with 0xC616, or refuse it). The
  films wait in the film session (``print_film`` returns :data:`~hcserver.drivers.base.HELD`)
  until the job's last film or ``session_films`` of them; after that N-ACTION the film session
  is deleted and the next films go to a new one, so that no film box is printed twice. What
  counts as printed is what the printer accepted: all the films of a film session whose
  N-ACTION succeeded, and none of one whose N-ACTION failed; all of them are in doubt when it
  went out and no answer came (``PrintFailure.in_doubt`` and ``in_doubt_count``).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import generate_uid

from hcserver.drivers.base import HELD, Action, Held, JobObserver, JobTicket, PrintFailure
from hcserver.drivers.dicom.association import SOP_CLASSES, SOP_NAMES, ConnectionLost, PrintAssociation
from hcserver.drivers.dicom.datasets import (
    ANNOTATION_BOX,
    COLOR_IMAGE_BOX,
    FILM_BOX,
    FILM_SESSION,
    GRAYSCALE_IMAGE_BOX,
    PRESENTATION_LUT,
    PRINT_ACTION,
    AnnotationInputs,
    FilmBoxInputs,
    ImageBoxInputs,
    Pixels,
    SessionInputs,
    build,
)
from hcserver.drivers.dicom.print_jobs import PrintJobs
from hcserver.drivers.dicom.status_policy import category_of
from hcserver.drivers.settings import PrinterConfig
from hcserver.formatter.film import FilmSheet, ImageBox
from hcserver.formatter.plut import PresentationLUT, burn_in

if TYPE_CHECKING:
    from hcserver.drivers.dicom.scu import DicomDriver

log = logging.getLogger(__name__)

#: The Presentation LUT of a film that asks for none, on a printer configured with the SOP class.
IDENTITY = PresentationLUT(shape="IDENTITY")

#: "There is an existing Film Box that has not been printed and N-ACTION at the Film Session level
#: is not supported": what a printer that prints only film sessions may answer a film box's N-ACTION.
C616 = 0xC616


def text_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, MultiValue)):
        return "\\".join(str(v) for v in value)
    return str(value)


def _deleted(status: Dataset) -> bool:
    """Whether an N-DELETE's response says the instance is gone (success or a warning)."""
    return category_of(int(status.Status)) in ("success", "warning")


def _n_set(ds: Dataset, class_uid: str, instance_uid: str, *,
           in_meta: bool = True) -> Callable[[Any, str | None, int], Any]:
    """The N-SET of one object, as the call :meth:`DicomFilmSession._x` makes."""
    return lambda a, m, i: a.send_n_set(ds, class_uid, instance_uid, msg_id=i, meta_uid=m if in_meta else None)


def _n_delete_plut(uid: str) -> Callable[[Any, str | None, int], Any]:
    return lambda a, m, i: a.send_n_delete(SOP_CLASSES["presentation-lut"], uid, msg_id=i)


class DicomFilmSession:
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
        self._plut = False                           # the printer takes Presentation LUTs (see open)
        self._pluts: dict[PresentationLUT, str] = {}  # those created, by content: their UIDs
        self._session_plut: str | None = None        # the one the film session references
        self._broken = False
        self._deferred: PrintFailure | None = None   # raised by the next call (see print_film)
        self._held: list[tuple[int, str]] = []      # (film, film box UID) in the film session, not printed yet
        self._kept: list[str] = []                  # what the printer did not delete (see finish)
        self.print_jobs = PrintJobs(self)           # the printer's print jobs for the films, followed

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

    def take_events(self) -> None:
        """Hand the N-EVENT-REPORTs received meanwhile to the job (a printer FAILURE raises)."""
        self.driver._drain(self.association, self.observer, in_job=True)

    # -- session ----------------------------------------------------------------
    def open(self) -> None:
        p = self.printer
        self._plut = bool(p.presentation_lut and not self.color
                          and self.association.accepts(SOP_CLASSES["presentation-lut"]))
        if p.presentation_lut and not self.color and not self._plut:
            self.observer.warning("N-CREATE", None, "the printer did not accept the Presentation "
                                  "LUT SOP class; printing without a Presentation LUT")
        if not (self._plut and p.plut_in_film_session):
            self._create_film_session()    # one that references a Presentation LUT waits for its first film

    def _plut_uid(self, sheet: FilmSheet) -> str | None:
        """The Presentation LUT the film references (N-CREATE the first time it is needed; IDENTITY
        for a film that asks for none), when the printer takes one."""
        if not self._plut:
            return None
        lut = sheet.presentation_lut or IDENTITY
        uid = self._pluts.get(lut)
        if uid is None:
            plut = build(PRESENTATION_LUT, lut, self.printer)
            uid = generate_uid()
            self._x("N-CREATE", "presentation-lut",
                    lambda a, m, i: a.send_n_create(plut, SOP_CLASSES["presentation-lut"], uid, msg_id=i))
            uid = self._pluts[lut] = self.association.last_created_uid or uid
        return uid

    def _create_film_session(self, sheet: FilmSheet | None = None) -> None:
        in_session = self._plut and self.printer.plut_in_film_session
        plut_uid = self._plut_uid(sheet) if in_session and sheet is not None else None
        fs = build(FILM_SESSION, SessionInputs(self.printer, self.ticket, plut_uid), self.printer)
        uid = generate_uid()
        self._x("N-CREATE", "film-session",
                lambda a, m, i: a.send_n_create(fs, SOP_CLASSES["film-session"], uid, msg_id=i,
                                                meta_uid=m))
        self.film_session_uid = self.association.last_created_uid or uid
        self._session_plut = plut_uid

    def _delete_film_session(self) -> None:
        uid, self.film_session_uid = self.film_session_uid, None
        if uid and not _deleted(self._x("N-DELETE", "film-session",
                                        lambda a, m, i: a.send_n_delete(SOP_CLASSES["film-session"], uid,
                                                                        msg_id=i, meta_uid=m))):
            self._kept.append("film session")

    def finish(self) -> None:
        """The job's block ended normally: N-DELETE the film session (and the PLUT).

        A failed N-DELETE only warns (the films are printed), but the printer still holds what
        it did not delete, and one that keeps one film session per association would refuse the
        next job's: the association is then released, and the next job starts on a new one.
        Films still held in the film session (printing stopped before their N-ACTION) were not
        printed: the printer drops them with it. The printer's print jobs for the films are
        followed to their end first (print_jobs)."""
        self._raise_deferred()
        self.print_jobs.follow()
        self._delete_film_session()
        while self._pluts:
            _, uid = self._pluts.popitem()
            if not _deleted(self._x("N-DELETE", "presentation-lut", _n_delete_plut(uid))):
                self._kept.append("Presentation LUT")
        self.association.jobs += 1
        if self._kept:
            log.info("printer %s kept the %s it did not delete: releasing the association",
                     self.printer.name, " and ".join(self._kept))
            self.driver._forget(self.association, abort=False)

    # -- films ------------------------------------------------------------------
    def _raise_deferred(self) -> None:
        if self._deferred is not None:
            failure, self._deferred = self._deferred, None
            raise failure

    def print_film(self, sheet: FilmSheet) -> str | Held:
        """Film box N-CREATE, image box N-SETs, then the print action (see the module docstring);
        returns the film box UID, or HELD while the film waits in the film session.

        Once an N-ACTION has succeeded its films count as printed: a failure after it (a
        printer FAILURE report, a lost N-DELETE) is raised by the next call instead. An N-ACTION
        sent without an answer coming back raises with ``in_doubt`` set to its (first) film.
        """
        self._raise_deferred()
        if self.film_session_uid is None:      # the last one was printed and deleted, or waits for its LUT
            self._create_film_session(sheet)
        film_box_uid = self._fill_film_box(sheet)
        if self.printer.print_action != "film-session":
            self._print_film_box(sheet.index, film_box_uid)
            return film_box_uid
        self._held.append((sheet.index, film_box_uid))
        last = sheet.index + 1 >= self.ticket.films_total
        if not last and len(self._held) != self.printer.session_films:
            return HELD
        self._print_film_session(last)
        return film_box_uid

    def _print_film_box(self, index: int, film_box_uid: str) -> None:
        """N-ACTION print on the film box, then its N-DELETE."""
        reply = None
        try:
            _, reply = self._x("N-ACTION", "film-box",
                               lambda a, m, i: a.send_n_action(None, PRINT_ACTION, SOP_CLASSES["film-box"],
                                                               film_box_uid, msg_id=i, meta_uid=m))
        except PrintFailure as failure:
            if isinstance(failure, ConnectionLost) and failure.sent:
                # The request went out and no answer came: the printer may have printed the film.
                failure.in_doubt = index
            if failure.status == C616:
                raise PrintFailure(failure.action, f"{failure.reason} (a printer that prints only whole film "
                                   "sessions answers this: set print_action = \"film-session\")",
                                   operation=failure.operation, status=failure.status) from failure
            if failure.operation != "N-EVENT-REPORT":
                raise
            # The print action succeeded; a printer report that came with it must not make
            # the caller think this film was not printed (it would be printed again).
            self._deferred = failure
        self.observer.film_accepted(index, film_box_uid)   # recorded while we clean up
        self.print_jobs.add((index,), reply)
        try:
            self._x("N-DELETE", "film-box",
                    lambda a, m, i: a.send_n_delete(SOP_CLASSES["film-box"], film_box_uid, msg_id=i,
                                                    meta_uid=m))
        except PrintFailure as failure:
            self._deferred = self._deferred or failure  # the film is printed all the same

    def _print_film_session(self, last: bool) -> None:
        """N-ACTION print on the film session: the films held in it are accepted together. Unless
        the job's last film was among them, the film session is deleted (its film boxes would be
        printed again by the next N-ACTION) and the next film creates a new one."""
        held, self._held = self._held, []
        uid = self.film_session_uid
        reply = None
        try:
            _, reply = self._x("N-ACTION", "film-session",
                               lambda a, m, i: a.send_n_action(None, PRINT_ACTION, SOP_CLASSES["film-session"],
                                                               uid, msg_id=i, meta_uid=m))
        except PrintFailure as failure:
            if isinstance(failure, ConnectionLost) and failure.sent:
                # No answer: the printer may have printed any or all of them.
                failure.in_doubt, failure.in_doubt_count = held[0][0], len(held)
            if failure.operation != "N-EVENT-REPORT":
                raise
            self._deferred = failure    # as for a film box's (see _print_film_box)
        for index, film_box_uid in held:
            self.observer.film_accepted(index, film_box_uid)
        self.print_jobs.add(tuple(index for index, _ in held), reply)
        if not last:
            try:
                self._delete_film_session()
            except PrintFailure as failure:
                self._deferred = self._deferred or failure  # the films are printed all the same

    def _fill_film_box(self, sheet: FilmSheet) -> str:
        """N-CREATE the film's film box, N-SET its image (and annotation) boxes; its UID."""
        assert self.film_session_uid is not None
        annotate = self._annotation_texts(sheet)
        burn = self._burnt_in_lut(sheet)
        if self.printer.plut_in_film_session:
            plut_uid = None
            if self._plut and self._plut_uid(sheet) != self._session_plut:
                self._broken = True
                raise PrintFailure(Action.FAIL, f"film {sheet.index + 1}: its Presentation LUT is not the film "
                                   "session's (the printer takes it on the film session: every film of a job must "
                                   "have the same one)", operation="N-CREATE")
        else:
            plut_uid = self._plut_uid(sheet)
        fb = build(FILM_BOX, FilmBoxInputs(self.printer, sheet, self.film_session_uid, plut_uid,
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
            class_uid = text_of(item.get("ReferencedSOPClassUID")).strip()
            instance_uid = text_of(item.get("ReferencedSOPInstanceUID")).strip()
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
                                               ImageBoxInputs(box, self._pixels(box, color, sheet, burn)),
                                               self.printer),
                                         class_uid, instance_uid))
        if annotate:
            self._set_annotations(annotate, attrs)
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
            class_uid = text_of(item.get("ReferencedSOPClassUID")).strip() or SOP_CLASSES["annotation-box"]
            instance_uid = text_of(item.get("ReferencedSOPInstanceUID")).strip()
            self._x("N-SET", "annotation-box", _n_set(ds, class_uid, instance_uid, in_meta=False))

    def _burnt_in_lut(self, sheet: FilmSheet) -> PresentationLUT | None:
        """The film's Presentation LUT when the printer was to take it and the association did not
        accept the SOP class: burnt into the pixels (with a warning), or the job fails (LIN OD)."""
        lut = sheet.presentation_lut
        if lut is None or lut.identity or self._plut or not self.printer.presentation_lut or self.color:
            return None
        if lut.shape is not None:
            self._broken = True
            raise PrintFailure(Action.FAIL, f"film {sheet.index + 1}: the printer did not accept the Presentation "
                               f"LUT SOP class, and {lut.shape} cannot be burnt into the pixels without the "
                               "printer's densities", operation="N-CREATE")
        self.observer.warning("N-SET", None, "the printer did not accept the Presentation LUT SOP class: the "
                                             "film's Presentation LUT is burnt into its pixels")
        return lut

    def _pixels(self, box: ImageBox, color: bool, sheet: FilmSheet, burn: PresentationLUT | None = None) -> Pixels:
        """The box's pixels as the image box takes them (``burn``: with that Presentation LUT
        applied); what cannot be sent fails the job."""
        px = box.pixels
        where = f"film {sheet.index + 1} box {box.position}"
        if burn is not None and px.ndim == 2:
            px = burn_in(px, burn, box.polarity)
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
