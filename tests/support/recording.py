"""A stand-in for the printer's association that records every request the Print SCU makes.

:class:`RecordingLink` replaces :class:`hcserver.drivers.dicom.association.PrintAssociation`
(see :func:`record_driver`; print with :func:`tests.support.scu.run_job`); each request is kept
as a :class:`Request` and answered with success, as a printer that creates what it is asked to
would answer. No network.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from hcserver.drivers.dicom import association
from hcserver.drivers.settings import PrinterConfig, Station


@dataclass
class Request:
    operation: str
    class_uid: str
    instance_uid: str | None
    meta_uid: str | None
    dataset: Dataset | None = None      # N-CREATE / N-SET attributes
    extra: object = None                # N-GET attribute tags, N-ACTION action type


def _status(code: int = 0x0000) -> Dataset:
    status = Dataset()
    status.Status = code
    return status


def _refs(class_uid: str, count: int, prefix: str) -> Sequence:
    items = []
    for i in range(count):
        item = Dataset()
        item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = class_uid, f"{prefix}.{i + 1}"
        items.append(item)
    return Sequence(items)


class _RecordingAssoc:
    """Stands for pynetdicom's association: records each request, answers success."""

    def __init__(self, link: RecordingLink):
        self.link = link

    def send_n_get(self, tags, class_uid, instance_uid, msg_id=None, meta_uid=None):
        self.link.sent.append(Request("N-GET", class_uid, instance_uid, meta_uid, extra=[int(t) for t in tags]))
        attrs = Dataset()
        attrs.PrinterStatus, attrs.PrinterStatusInfo = "NORMAL", "READY"
        return _status(), attrs

    def send_n_create(self, ds, class_uid, instance_uid, msg_id=None, meta_uid=None):
        self.link.sent.append(Request("N-CREATE", class_uid, instance_uid, meta_uid, ds))
        self.link.last_created_uid = instance_uid
        attrs = Dataset()
        if class_uid == association.SOP_CLASSES["film-box"]:
            box = association.SOP_CLASSES["color-image-box" if self.link.color_boxes else "grayscale-image-box"]
            attrs.ReferencedImageBoxSequence = _refs(box, self.link.image_boxes, f"1.2.3.{len(self.link.sent)}")
            if self.link.annotation_boxes:
                attrs.ReferencedBasicAnnotationBoxSequence = _refs(
                    association.SOP_CLASSES["annotation-box"], self.link.annotation_boxes,
                    f"1.2.4.{len(self.link.sent)}")
        return _status(), attrs

    def send_n_set(self, ds, class_uid, instance_uid, msg_id=None, meta_uid=None):
        self.link.sent.append(Request("N-SET", class_uid, instance_uid, meta_uid, ds))
        return _status(), None

    def send_n_action(self, info, action_type, class_uid, instance_uid, msg_id=None, meta_uid=None):
        self.link.sent.append(Request("N-ACTION", class_uid, instance_uid, meta_uid, info, extra=action_type))
        return _status(), None

    def send_n_delete(self, class_uid, instance_uid, msg_id=None, meta_uid=None):
        self.link.sent.append(Request("N-DELETE", class_uid, instance_uid, meta_uid))
        return _status()


class RecordingLink:
    """Stands for drivers.dicom.association.PrintAssociation.

    ``accepted`` are the abstract syntaxes the printer accepts (default: all proposed);
    each film box N-CREATE answers ``image_boxes`` image boxes (colour ones when the
    colour Meta SOP class is used) and ``annotation_boxes`` annotation boxes.
    """

    def __init__(self, printer: PrinterConfig, accepted: list[str] | None = None, *,
                 image_boxes: int = 4, annotation_boxes: int = 0):
        self.accepted = list(association.requested_contexts(printer) if accepted is None else accepted)
        self.color_boxes = printer.color and association.COLOR_META in self.accepted
        self.image_boxes = image_boxes
        self.annotation_boxes = annotation_boxes
        self.sent: list[Request] = []
        self.last_created_uid: str | None = None
        self.jobs = 0
        self.is_alive = True
        self.closed_by_us = False

    def accepts(self, uid: str) -> bool:
        return uid in self.accepted

    def take_events(self) -> list:
        return []

    def send(self, operation, sop, meta, call):
        return call(_RecordingAssoc(self), meta, len(self.sent) + 1), 0.0

    def release(self) -> None:
        self.is_alive = False

    def abort(self) -> None:
        self.is_alive = False


def record_driver(monkeypatch, printer: PrinterConfig, link: RecordingLink):
    """A DicomDriver for ``printer`` whose associations are ``link``, with UIDs numbered from 1."""
    from hcserver.drivers.dicom import film_session, scu

    counter = itertools.count(1)
    monkeypatch.setattr(film_session, "generate_uid", lambda *a, **k: f"1.2.826.0.1.3680043.9.7433.{next(counter)}")
    monkeypatch.setattr(scu.PrintAssociation, "open", classmethod(lambda cls, p, s, syntaxes=None: link))
    return scu.DicomDriver(printer, Station("HCTEST"))

