"""The print route: a Print SCP (Basic Grayscale and Color Print Management, Presentation LUT,
Basic Annotation Box, Print Job) whose print actions become jobs for the route's printer.

One :class:`PrintAssociation` per association holds what its SCU created; nothing of it
outlives the association but the jobs its print actions queued. What is a job: an N-ACTION on
a film box is a job of that one film; an N-ACTION on the film session is one job of its films
that have an image. The answer goes back once the job is committed and its images fsynced;
a film session that ends without a print action (a release, an abort) leaves no job.

Tolerated, as real modalities do them (each is a test): N-ACTION on the film session or the
film box; N-CREATE without an Affected SOP Instance UID (one is assigned) or with the SCU's own
(kept); N-ACTION, N-SET or N-DELETE without a Requested SOP Instance UID (the association's
film session, or its last film box); film boxes of which only some image boxes are set; the
same film sent again after a modality's own retry (the job queued the first time answers:
hcserver.dicom_in.intake ``submit``).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from hcserver.config import PrinterConfig
from hcserver.config_dicom_in import DicomRoute
from hcserver.dicom_in import films as F
from hcserver.dicom_in.intake import Intake, Refused, owner
from hcserver.dicom_in.sop import (
    ANNOTATION_BOX,
    CLASS_INSTANCE_CONFLICT,
    COLOR_IMAGE_BOX,
    COLOR_META,
    DUPLICATE_INSTANCE,
    EMPTY_FILM_BOX,
    EMPTY_SESSION,
    EXECUTION_STATUS,
    FILM_BOX,
    FILM_BOX_QUEUE_FULL,
    FILM_SESSION,
    GRAYSCALE_IMAGE_BOX,
    INVALID_ATTRIBUTE_VALUE,
    MEMORY_ALLOCATION_UNSUPPORTED,
    MISSING_ATTRIBUTE,
    NO_FILM_BOX,
    NO_SUCH_ACTION,
    NO_SUCH_ATTRIBUTE,
    NO_SUCH_CLASS,
    NO_SUCH_INSTANCE,
    PRESENTATION_LUT,
    PRINT_JOB,
    PRINTER,
    PRINTER_INSTANCE,
    RESOURCE_LIMITATION,
    SESSION_QUEUE_FULL,
    SUCCESS,
)

log = logging.getLogger(__name__)

PLUT_SHAPES = ("IDENTITY", "INVERSE", "LIN OD")


@dataclass(frozen=True)
class Answer:
    """What an operation answers: a status (an Error Comment with a failure), the attributes
    of the response, and the instance it created or acted on."""

    status: int
    ds: Dataset | None = None
    instance: str | None = None
    comment: str | None = None


class PrintJobs:
    """The Print Job SOP Instances this listener made, by UID: the job each one is."""

    LIMIT = 10000      # the oldest are forgotten first; an N-GET of one gets 0x0112

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, tuple[int, str, str, datetime]] = {}

    def add(self, job: int, printer: str, priority: str | None) -> str:
        uid = str(generate_uid())
        with self._lock:
            self._jobs[uid] = (job, printer, (priority or "med").upper(), datetime.now())
            while len(self._jobs) > self.LIMIT:
                del self._jobs[next(iter(self._jobs))]
        return uid

    def get(self, uid: str) -> tuple[int, str, str, datetime] | None:
        with self._lock:
            return self._jobs.get(uid)


class PrintAssociation:
    """What one association's Print SCU created, and each operation on it."""

    def __init__(self, intake: Intake, route: DicomRoute, calling_ae: str, print_jobs: PrintJobs,
                 max_bytes: int, print_job_context: bool):
        self.intake, self.route, self.print_jobs = intake, route, print_jobs
        self.owner = owner(calling_ae, route.ae_title)
        self.max_bytes = max_bytes
        self.print_job_context = print_job_context   # the SCU proposed Print Job: it gets its reference
        self.session: F.FilmSession | None = None
        self.film_boxes: dict[str, F.FilmBox] = {}
        self.image_boxes: dict[str, F.ImageBox] = {}
        self.annotations: dict[str, str] = {}        # annotation box UID: its text
        self.pluts: dict[str, str] = {}              # Presentation LUT UID: its shape
        self.spooled = 0                             # image bytes this association put in the spool
        self.jobs: list[tuple[str, int]] = []        # (Print Job UID, job) its print actions queued
        self.held: list[str] = []                    # images it spooled: given up at its end unless printed
        self.charges: dict[str, list[str]] = {}      # film box UID: its images' charges (space.py), till printed

    @property
    def printer(self) -> PrinterConfig:
        return self.intake.config.printers[self.route.printer]

    def end(self) -> None:
        """The association ended (released or aborted): what no job prints leaves the spool."""
        held, self.held = self.held, []
        if held:
            self.intake.give_up(held)
        charges, self.charges = self.charges, {}
        self.intake.space.release([key for keys in charges.values() for key in keys])

    # ---- dispatch --------------------------------------------------------------------
    def n_create(self, sop_class: str, uid: str | None, attrs: Dataset, meta: str) -> Answer:
        if sop_class == FILM_SESSION:
            return self._create_session(uid, attrs)
        if sop_class == FILM_BOX:
            return self._create_film_box(uid, attrs, meta)
        if sop_class == PRESENTATION_LUT:
            return self._create_plut(uid, attrs)
        return Answer(NO_SUCH_CLASS if sop_class else MISSING_ATTRIBUTE,
                      comment="N-CREATE of this SOP class not supported")

    def n_set(self, sop_class: str, uid: str | None, mods: Dataset) -> Answer:
        if sop_class in (GRAYSCALE_IMAGE_BOX, COLOR_IMAGE_BOX):
            return self._set_image_box(sop_class, uid, mods)
        if sop_class == FILM_SESSION:
            return self._set_session(uid, mods)
        if sop_class == FILM_BOX:
            return self._set_film_box(uid, mods)
        if sop_class == ANNOTATION_BOX:
            return self._set_annotation(uid, mods)
        return Answer(NO_SUCH_CLASS, comment="N-SET of this SOP class not supported")

    def n_action(self, sop_class: str, uid: str | None, action: int) -> Answer:
        if action != 1:
            return Answer(NO_SUCH_ACTION, comment="only Action Type 1 (print)")
        if sop_class == FILM_SESSION:
            return self._print_session(uid)
        if sop_class == FILM_BOX:
            return self._print_film_box(uid)
        return Answer(NO_SUCH_CLASS, comment="N-ACTION of this SOP class not supported")

    def n_delete(self, sop_class: str, uid: str | None) -> Answer:
        if sop_class == FILM_SESSION:
            session = self._session(uid)
            for box_uid in list(session.film_boxes):
                self._drop_film_box(box_uid)
            self.session = None
            return Answer(SUCCESS, instance=session.uid)
        if sop_class == FILM_BOX:
            box = self._film_box(uid)
            self._drop_film_box(box.uid)
            return Answer(SUCCESS, instance=box.uid)
        if sop_class == PRESENTATION_LUT:
            if self.pluts.pop(uid or "", None) is None:
                return Answer(NO_SUCH_INSTANCE, comment="no such Presentation LUT")
            return Answer(SUCCESS, instance=uid)
        return Answer(NO_SUCH_CLASS, comment="N-DELETE of this SOP class not supported")

    def n_get(self, sop_class: str, uid: str | None, wanted: list[Any]) -> Answer:
        if sop_class == PRINTER:
            if uid not in (None, "", PRINTER_INSTANCE):
                return Answer(NO_SUCH_INSTANCE, comment="the Printer is 1.2.840.10008.5.1.1.17")
            status, info = self.intake.printer_status(self.route.printer)
            ds = Dataset()
            ds.PrinterStatus, ds.PrinterStatusInfo = status, info
            ds.PrinterName = self.route.printer[:64]
            ds.Manufacturer = "hcserver"
            ds.ManufacturerModelName = "film print spooler"
            return Answer(SUCCESS, _only(ds, wanted), PRINTER_INSTANCE)
        if sop_class == PRINT_JOB:
            return self._get_print_job(uid or "", wanted)
        return Answer(NO_SUCH_CLASS, comment="N-GET of this SOP class not supported")

    # ---- film session ----------------------------------------------------------------
    def _create_session(self, uid: str | None, attrs: Dataset) -> Answer:
        if self.session is not None:   # PS3.4 H.4.1.2.1: one film session per association
            return Answer(DUPLICATE_INSTANCE, comment="a film session exists on this association")
        self.intake.door_room(RESOURCE_LIMITATION)
        _known(attrs, F.SESSION_ATTRIBUTES)
        job = F.session_job(attrs, self.printer, self.route.priority)
        job["plut"] = self._plut_reference(attrs)
        uid = self._new_uid(uid)
        self.session = F.FilmSession(uid, job)
        warning = "MemoryAllocation" in attrs
        ds = _echo(attrs)
        return Answer(MEMORY_ALLOCATION_UNSUPPORTED if warning else SUCCESS, ds, uid)

    def _set_session(self, uid: str | None, mods: Dataset) -> Answer:
        session = self._session(uid)
        _known(mods, F.SESSION_ATTRIBUTES)
        merged = F.session_job(mods, self.printer, self.route.priority)
        session.job.update({k: v for k, v in merged.items() if v is not None and k in mods_keys(mods)})
        if "ReferencedPresentationLUTSequence" in mods:
            session.job["plut"] = self._plut_reference(mods)
        return Answer(SUCCESS, instance=session.uid)

    def _print_session(self, uid: str | None) -> Answer:
        session = self._session(uid)
        if not session.film_boxes:
            return Answer(NO_FILM_BOX, comment="the film session has no film box")
        films = [f for f in (self._film(self.film_boxes[b]) for b in session.film_boxes) if f is not None]
        if not films:
            return Answer(EMPTY_SESSION, instance=session.uid)
        return self._queue(films, session, SESSION_QUEUE_FULL, session.uid, list(session.film_boxes))

    # ---- film box --------------------------------------------------------------------
    def _create_film_box(self, uid: str | None, attrs: Dataset, meta: str) -> Answer:
        _known(attrs, F.FILM_BOX_ATTRIBUTES)
        seq = attrs.get("ReferencedFilmSessionSequence")
        if not seq:
            return Answer(MISSING_ATTRIBUTE, comment="Referenced Film Session Sequence missing")
        session_uid = str(seq[0].get("ReferencedSOPInstanceUID", ""))
        if self.session is None or session_uid != self.session.uid:
            return Answer(INVALID_ATTRIBUTE_VALUE, comment="no such film session on this association")
        film = F.film_options(attrs, self.printer)
        film_plut = self._plut_reference(attrs)
        uid = self._new_uid(uid)
        color = meta == COLOR_META
        box_class = COLOR_IMAGE_BOX if color else GRAYSCALE_IMAGE_BOX
        box = F.FilmBox(uid, session_uid, film)
        box.film["_plut"] = film_plut
        refs = []
        for position in range(1, F.box_count(film["layout"]) + 1):
            ib = F.ImageBox(str(generate_uid()), uid, position, box_class)
            self.image_boxes[ib.uid] = ib
            box.image_boxes.append(ib.uid)
            refs.append(_reference(box_class, ib.uid))
        rsp = _echo(attrs)
        rsp.ImageDisplayFormat = film["layout"]
        rsp.FilmOrientation, rsp.FilmSizeID = film["orientation"], film["film_size"]
        rsp.ReferencedImageBoxSequence = Sequence(refs)
        if attrs.get("AnnotationDisplayFormatID"):
            annotation_refs = []
            for _ in range(F.ANNOTATION_BOXES):
                a_uid = str(generate_uid())
                self.annotations[a_uid] = ""
                box.annotation_boxes.append(a_uid)
                annotation_refs.append(_reference(ANNOTATION_BOX, a_uid))
            rsp.ReferencedBasicAnnotationBoxSequence = Sequence(annotation_refs)
        self.film_boxes[uid] = box
        self.session.film_boxes.append(uid)
        return Answer(SUCCESS, rsp, uid)

    def _set_film_box(self, uid: str | None, mods: Dataset) -> Answer:
        box = self._film_box(uid)
        _known(mods, F.FILM_BOX_ATTRIBUTES - {"ImageDisplayFormat", "FilmSizeID", "FilmOrientation",
                                              "ReferencedFilmSessionSequence", "AnnotationDisplayFormatID"})
        current = Dataset()
        for key, keyword in (("magnification", "MagnificationType"), ("smoothing", "SmoothingType"),
                             ("border_density", "BorderDensity"), ("empty_image_density", "EmptyImageDensity"),
                             ("min_density", "MinDensity"), ("max_density", "MaxDensity"), ("trim", "Trim"),
                             ("configuration_information", "ConfigurationInformation")):
            value = mods.get(keyword, box.film.get(key))
            if value is not None:
                setattr(current, keyword, value)
        current.ImageDisplayFormat = box.film["layout"]
        current.FilmSizeID, current.FilmOrientation = box.film["film_size"], box.film["orientation"]
        box.film.update(F.film_options(current, self.printer))
        if "ReferencedPresentationLUTSequence" in mods:
            box.film["_plut"] = self._plut_reference(mods)
        return Answer(SUCCESS, instance=box.uid)

    def _print_film_box(self, uid: str | None) -> Answer:
        box = self._film_box(uid)
        film = self._film(box)
        if film is None:
            return Answer(EMPTY_FILM_BOX, instance=box.uid)
        assert self.session is not None
        return self._queue([film], self.session, FILM_BOX_QUEUE_FULL, box.uid, [box.uid])

    def _drop_film_box(self, uid: str) -> None:
        box = self.film_boxes.pop(uid)
        for ib in box.image_boxes:
            self.image_boxes.pop(ib, None)
        for ab in box.annotation_boxes:
            self.annotations.pop(ab, None)
        if self.session is not None and uid in self.session.film_boxes:
            self.session.film_boxes.remove(uid)

    # ---- image box, annotation box, Presentation LUT ---------------------------------
    def _set_image_box(self, sop_class: str, uid: str | None, mods: Dataset) -> Answer:
        ib = self.image_boxes.get(uid or "")
        if ib is None:
            return Answer(NO_SUCH_INSTANCE, comment="no such image box")
        if ib.sop_class != sop_class:
            return Answer(CLASS_INSTANCE_CONFLICT, comment="the image box is of the other SOP class")
        _known(mods, F.IMAGE_BOX_ATTRIBUTES)
        position = mods.get("ImageBoxPosition")
        if position not in (None, "") and int(position) != ib.position:
            return Answer(INVALID_ATTRIBUTE_VALUE, comment=f"Image Box Position is {ib.position}")
        polarity = str(mods.get("Polarity") or ib.polarity).strip().upper()
        if polarity not in ("NORMAL", "REVERSE"):
            return Answer(INVALID_ATTRIBUTE_VALUE, comment="Polarity must be NORMAL or REVERSE")
        magnification = F.magnification_type(mods, self.printer) if "MagnificationType" in mods else ib.magnification
        smoothing = F.smoothing(mods, self.printer) if "SmoothingType" in mods else ib.smoothing
        requested = mods.get("RequestedImageSize")
        try:
            size = float(requested) if requested not in (None, "") else None
        except (TypeError, ValueError):
            return Answer(INVALID_ATTRIBUTE_VALUE, comment="Requested Image Size is not a number")
        if size is not None and not 0 < size <= 1000:
            return Answer(INVALID_ATTRIBUTE_VALUE, comment="Requested Image Size: 0 to 1000 mm")
        if "BasicGrayscaleImageSequence" in mods or "BasicColorImageSequence" in mods:
            self.intake.room(RESOURCE_LIMITATION)
            image, bits = F.image_pixels(mods, sop_class, self.intake.config.max_image_pixels)
            data = F.image_file(image, self.intake.config.implementation_class_uid)
            if self.spooled + len(data) > self.max_bytes:
                return Answer(RESOURCE_LIMITATION, comment="too many image bytes on one association")
            key = f"dicom-in:{ib.uid}:{self.spooled}"
            self.intake.charge(self.owner, key, len(data), RESOURCE_LIMITATION)
            try:
                ib.digest = self.intake.put(data, INVALID_ATTRIBUTE_VALUE, hold=True)
            except Refused:
                self.intake.space.release([key])
                raise
            self.charges.setdefault(ib.film_box, []).append(key)
            self.held.append(ib.digest)
            ib.bits = bits
            self.spooled += len(data)
        ib.polarity, ib.requested_size_mm = polarity, size
        ib.magnification, ib.smoothing = magnification, smoothing
        return Answer(SUCCESS, instance=ib.uid)

    def _set_annotation(self, uid: str | None, mods: Dataset) -> Answer:
        if (uid or "") not in self.annotations:
            return Answer(NO_SUCH_INSTANCE, comment="no such annotation box")
        text = str(mods.get("TextString") or "")
        self.annotations[uid or ""] = "".join(c if c.isascii() and c.isprintable() else "?" for c in text)[:64]
        return Answer(SUCCESS, instance=uid)

    def _create_plut(self, uid: str | None, attrs: Dataset) -> Answer:
        shape = str(attrs.get("PresentationLUTShape") or "").strip().upper()
        if not shape and not attrs.get("PresentationLUTSequence"):
            return Answer(MISSING_ATTRIBUTE, comment="Presentation LUT Shape or Sequence needed")
        if shape and shape not in PLUT_SHAPES:
            return Answer(INVALID_ATTRIBUTE_VALUE, comment="Presentation LUT Shape: IDENTITY, INVERSE or LIN OD")
        uid = self._new_uid(uid)
        self.pluts[uid] = shape or "SEQUENCE"
        return Answer(SUCCESS, None, uid)

    def _plut_reference(self, attrs: Dataset) -> str | None:
        seq = attrs.get("ReferencedPresentationLUTSequence")
        if not seq:
            return None
        ref = str(seq[0].get("ReferencedSOPInstanceUID", ""))
        if ref not in self.pluts:
            raise Refused(INVALID_ATTRIBUTE_VALUE, "no such Presentation LUT")
        return ref

    # ---- print jobs ------------------------------------------------------------------
    def _film(self, box: F.FilmBox) -> dict[str, Any] | None:
        """The film of a job spec for a film box (None if empty); an INVERSE Presentation LUT
        (the film box's, else the session's) turns each box's polarity round."""
        assert self.session is not None
        plut = box.film.get("_plut") or self.session.job.get("plut")
        stripped = F.FilmBox(box.uid, box.session, {k: v for k, v in box.film.items() if k != "_plut"},
                             box.image_boxes, box.annotation_boxes)
        film = F.film_of(stripped, self.image_boxes, self.printer, self.annotations)
        if film is not None and plut is not None and self.pluts.get(plut) == "INVERSE":
            for frame in film["frames"]:
                frame["polarity"] = "NORMAL" if frame["polarity"] == "REVERSE" else "REVERSE"
        return film

    def _queue(self, films: list[dict], session: F.FilmSession, queue_full: int, instance: str,
               boxes: list[str]) -> Answer:
        spec = {**{k: v for k, v in session.job.items() if k != "plut"}, "films": films}
        queued = self.intake.submit(self.owner, spec, status=INVALID_ATTRIBUTE_VALUE, queue_full=queue_full,
                                    details={"origin": self.owner, "route": self.route.ae_title})
        # the films' images are the job's now: charged to it until it ends
        self.intake.space.queued([key for box in boxes for key in self.charges.pop(box, [])], [queued.job])
        uid = self.print_jobs.add(queued.job, self.route.printer, session.job.get("priority"))
        self.jobs.append((uid, queued.job))
        ds = None
        if self.print_job_context:
            ds = Dataset()
            ds.ReferencedPrintJobSequence = Sequence([_reference(PRINT_JOB, uid)])
        return Answer(SUCCESS, ds, instance)

    def _get_print_job(self, uid: str, wanted: list[Any]) -> Answer:
        known = self.print_jobs.get(uid)
        if known is None:
            return Answer(NO_SUCH_INSTANCE, comment="no such Print Job")
        job, printer, priority, created = known
        state = self.intake.job_state(job)
        ds = Dataset()
        ds.ExecutionStatus = EXECUTION_STATUS[state.value] if state is not None else "DONE"
        ds.ExecutionStatusInfo = "NORMAL" if state is None or state.value != "failed" else "UNKNOWN"
        ds.PrintPriority = priority
        ds.CreationDate, ds.CreationTime = created.strftime("%Y%m%d"), created.strftime("%H%M%S")
        ds.PrinterName = printer[:64]
        ds.Originator = self.owner.split(":", 1)[1].split("@", 1)[0][:16]
        return Answer(SUCCESS, _only(ds, wanted), uid)

    # ---- lookups ---------------------------------------------------------------------
    def _new_uid(self, uid: str | None) -> str:
        """The SCU's UID for a new instance (kept), or a new one."""
        if not uid:
            return str(generate_uid())
        taken = (self.session and self.session.uid == uid) or uid in self.film_boxes or uid in self.pluts
        if taken:
            raise Refused(DUPLICATE_INSTANCE, "an instance with this UID exists")
        return uid

    def _session(self, uid: str | None) -> F.FilmSession:
        if self.session is None or (uid and uid != self.session.uid):
            raise Refused(NO_SUCH_INSTANCE, "no such film session")
        return self.session

    def _film_box(self, uid: str | None) -> F.FilmBox:
        if not uid and self.film_boxes:
            return self.film_boxes[next(reversed(self.film_boxes))]
        box = self.film_boxes.get(uid or "")
        if box is None:
            raise Refused(NO_SUCH_INSTANCE, "no such film box")
        return box


def mods_keys(ds: Dataset) -> set[str]:
    """The job fields an N-SET of the film session names."""
    names = {"NumberOfCopies": "copies", "PrintPriority": "priority", "MediumType": "medium_type",
             "FilmDestination": "film_destination", "FilmSessionLabel": "label"}
    return {names[elem.keyword] for elem in ds if elem.keyword in names}


def _known(ds: Dataset, allowed: set[str]) -> None:
    unknown = F.unknown_attribute(ds, allowed)
    if unknown is not None:
        raise Refused(NO_SUCH_ATTRIBUTE, f"{unknown} not supported here")


def _reference(sop_class: str, uid: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = uid
    return item


def _echo(attrs: Dataset) -> Dataset:
    """The attributes of an N-CREATE as the response gives them back (some SCUs need the data set)."""
    out = Dataset()
    for elem in attrs:
        if elem.tag.group != 0 and elem.keyword != "MemoryAllocation":
            out.add(elem)
    return out


def _only(ds: Dataset, wanted: list[Any]) -> Dataset:
    """The attributes an N-GET asked for (all of them when it named none)."""
    if not wanted:
        return ds
    tags = {int(t) for t in wanted}
    out = Dataset()
    for elem in ds:
        if int(elem.tag) in tags:
            out.add(elem)
    return out
