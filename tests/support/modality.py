"""A modality printing to hcserver's print route: a pynetdicom Print SCU that sends what the
test says, including what real modalities get wrong (no instance UIDs, N-ACTION on the film
session, the retired Print Queue Management class), and returns every status as it came."""
from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pynetdicom import AE, build_role, evt
from pynetdicom import sop_class as sc
from pynetdicom.dimse_messages import C_STORE_RQ, N_SET_RQ
from pynetdicom.dimse_primitives import C_STORE, N_ACTION, N_SET

PRINT_QUEUE_MANAGEMENT = "1.2.840.10008.5.1.1.26"   # retired; Agfa NX still proposes it
PRINTER_INSTANCE = "1.2.840.10008.5.1.1.17"


@dataclass
class Created:
    status: int
    uid: str | None
    attributes: Dataset | None
    comment: str | None = None

    @property
    def image_boxes(self) -> list[str]:
        seq = self.attributes.get("ReferencedImageBoxSequence", []) if self.attributes else []
        return [str(item.ReferencedSOPInstanceUID) for item in seq]

    @property
    def annotation_boxes(self) -> list[str]:
        seq = self.attributes.get("ReferencedBasicAnnotationBoxSequence", []) if self.attributes else []
        return [str(item.ReferencedSOPInstanceUID) for item in seq]


@dataclass
class Modality:
    port: int
    called: str = "FILMSPOOL"
    calling: str = "CT1"
    color: bool = False
    print_job: bool = False          # propose the Print Job SOP class (and take its N-EVENT-REPORTs)
    queue_management: bool = False   # propose the retired Print Queue Management class too
    events: list[tuple[int, str]] = field(default_factory=list)   # (Event Type ID, Execution Status Info)
    assoc: Any = None
    _rsp: Any = None

    @property
    def meta(self) -> str:
        return str(sc.BasicColorPrintManagementMeta if self.color else sc.BasicGrayscalePrintManagementMeta)

    def __enter__(self) -> Modality:
        ae = AE(ae_title=self.calling)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
        ae.add_requested_context(self.meta)
        ae.add_requested_context(sc.PresentationLUT)
        roles = []
        if self.print_job:
            ae.add_requested_context(sc.PrintJob)
            roles.append(build_role(sc.PrintJob, scu_role=True, scp_role=False))
        if self.queue_management:
            ae.add_requested_context(PRINT_QUEUE_MANAGEMENT)
        handlers = [(evt.EVT_DIMSE_RECV, self._on_recv), (evt.EVT_N_EVENT_REPORT, self._on_event)]
        self.assoc = ae.associate("127.0.0.1", self.port, ae_title=self.called, ext_neg=roles, evt_handlers=handlers)
        if self.assoc.is_established:
            self.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _responses_to_senders_only(self.assoc.dimse)
        return self

    def established(self) -> Modality:
        """Entered, and the association established (else AssertionError saying how it ended)."""
        self.__enter__()
        assert self.assoc.is_established, (f"association to {self.called} not established: rejected "
                                           f"{self.assoc.is_rejected}, aborted {self.assoc.is_aborted}")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.assoc is not None and self.assoc.is_established:
            self.assoc.release()

    def _on_recv(self, event: Any) -> None:
        self._rsp = event.message

    def _on_event(self, event: Any) -> tuple[int, None]:
        info = event.event_information
        self.events.append((int(event.event_type), str(info.get("ExecutionStatusInfo", "")) if info else ""))
        return 0x0000, None

    # ---- requests ----------------------------------------------------------------------
    def _created(self, status: Dataset, attrs: Dataset | None) -> Created:
        uid = None
        if self._rsp is not None:
            uid = self._rsp.command_set.get("AffectedSOPInstanceUID")
        return Created(int(status.Status) if "Status" in status else -1, str(uid) if uid else None, attrs,
                       str(status.get("ErrorComment", "")) or None)

    def create_session(self, uid: str | None = None, **attrs: Any) -> Created:
        ds = Dataset()
        ds.NumberOfCopies = 1
        for key, value in attrs.items():
            setattr(ds, key, value)
        status, rsp = self.assoc.send_n_create(ds, sc.BasicFilmSession, uid, meta_uid=self.meta)
        return self._created(status, rsp)

    def create_film_box(self, session: str | None, display_format: str | None = "STANDARD\\2,2",
                        uid: str | None = None, **attrs: Any) -> Created:
        ds = Dataset()
        if display_format is not None:
            ds.ImageDisplayFormat = display_format
        ds.FilmOrientation = attrs.pop("FilmOrientation", "PORTRAIT")
        ds.FilmSizeID = attrs.pop("FilmSizeID", "14INX17IN")
        if session is not None:
            ref = Dataset()
            ref.ReferencedSOPClassUID = sc.BasicFilmSession
            ref.ReferencedSOPInstanceUID = session
            ds.ReferencedFilmSessionSequence = Sequence([ref])
        for key, value in attrs.items():
            setattr(ds, key, value)
        status, rsp = self.assoc.send_n_create(ds, sc.BasicFilmBox, uid, meta_uid=self.meta)
        return self._created(status, rsp)

    def set_image_box(self, uid: str, pixels: np.ndarray, position: int | None = None, bits: int | None = None,
                      **attrs: Any) -> tuple[int, str | None]:
        item = Dataset()
        item.Rows, item.Columns = pixels.shape[:2]
        if pixels.ndim == 3:
            item.SamplesPerPixel, item.PhotometricInterpretation, item.PlanarConfiguration = 3, "RGB", 0
            item.BitsAllocated = item.BitsStored = 8
        else:
            item.SamplesPerPixel = 1
            item.PhotometricInterpretation = attrs.pop("PhotometricInterpretation", "MONOCHROME2")
            item.BitsAllocated = 8 if pixels.dtype == np.uint8 else 16
            item.BitsStored = bits or item.BitsAllocated
        item.HighBit, item.PixelRepresentation = item.BitsStored - 1, 0
        item.PixelData = pixels.tobytes()
        ds = Dataset()
        if position is not None:
            ds.ImageBoxPosition = position
        keyword = "BasicColorImageSequence" if self.color else "BasicGrayscaleImageSequence"
        setattr(ds, keyword, Sequence([item]))
        for key, value in attrs.items():
            setattr(ds, key, value)
        box = sc.BasicColorImageBox if self.color else sc.BasicGrayscaleImageBox
        status, _ = self.assoc.send_n_set(ds, box, uid, meta_uid=self.meta)
        return int(status.Status), str(status.get("ErrorComment", "")) or None

    def set(self, sop_class: str, uid: str, **attrs: Any) -> tuple[int, str | None]:
        ds = Dataset()
        for key, value in attrs.items():
            setattr(ds, key, value)
        meta = None if sop_class in (sc.PresentationLUT, sc.PrintJob) else self.meta
        status, _ = self.assoc.send_n_set(ds, sop_class, uid, meta_uid=meta)
        return int(status.Status), str(status.get("ErrorComment", "")) or None

    def action(self, sop_class: str, uid: str | None) -> tuple[int, Dataset | None, str | None]:
        status, reply = self.assoc.send_n_action(None, 1, sop_class, uid, meta_uid=self.meta)
        return int(status.Status), reply, str(status.get("ErrorComment", "")) or None

    def action_without_instance(self, sop_class: str) -> tuple[int, str | None]:
        """An N-ACTION (print) without a Requested SOP Instance UID, as some modalities send it
        (pynetdicom's send_n_action refuses to): the request is put together and sent here, with
        the association's reactor paused as pynetdicom's own senders pause it, so that the answer
        comes back to this call; (status, the Affected SOP Instance UID answered)."""
        request = N_ACTION()
        request.MessageID = 0xFFF0
        request.RequestedSOPClassUID = sop_class
        request.ActionTypeID = 1
        context = self.assoc._get_valid_context(self.meta, "", "scu")
        self.assoc._reactor_checkpoint.clear()
        try:
            while not self.assoc._is_paused:
                time.sleep(0.0001)
            self.assoc.dimse.send_msg(request, context.context_id)
            _context_id, response = self.assoc.dimse.get_msg(block=True)
        finally:
            self.assoc._reactor_checkpoint.set()
        uid = response.AffectedSOPInstanceUID if response is not None else None
        return (int(response.Status) if response is not None else -1), (str(uid) if uid else None)

    def delete(self, sop_class: str, uid: str | None) -> int:
        meta = None if sop_class == sc.PresentationLUT else self.meta
        status = self.assoc.send_n_delete(sop_class, uid, meta_uid=meta)
        return int(status.Status)

    def get_printer(self, *tags: int) -> tuple[int, Dataset | None]:
        status, ds = self.assoc.send_n_get(list(tags), sc.Printer, PRINTER_INSTANCE, meta_uid=self.meta)
        return int(status.Status), ds

    def get_print_job(self, uid: str) -> tuple[int, Dataset | None]:
        status, ds = self.assoc.send_n_get([], sc.PrintJob, uid)
        return int(status.Status), ds

    def create_plut(self, shape: str) -> Created:
        ds = Dataset()
        ds.PresentationLUTShape = shape
        status, rsp = self.assoc.send_n_create(ds, sc.PresentationLUT, None)
        return self._created(status, rsp)

    def print_film(self, images: list[np.ndarray], display_format: str = "STANDARD\\2,2",
                   on: str = "film box", **film_box: Any) -> tuple[int, Dataset | None, str | None]:
        """One film session with one film box: N-CREATE both, N-SET the images, N-ACTION ``on``
        the film box or the film session; the N-ACTION's (status, reply, comment)."""
        session = self.create_session()
        assert session.status == 0, session
        box = self.create_film_box(session.uid, display_format, **film_box)
        assert box.status == 0, box
        for uid, pixels in zip(box.image_boxes, images):
            status, comment = self.set_image_box(uid, pixels)
            assert status == 0, (status, comment)
        if on == "film box":
            return self.action(sc.BasicFilmBox, box.uid)
        return self.action(sc.BasicFilmSession, session.uid)


def _responses_to_senders_only(dimse: Any) -> None:
    """Leave responses to the send_* call waiting for them. pynetdicom's requestor reactor also
    takes messages off the queue, and on a loaded machine it can slip past the pause a sender
    asks of it and take the response for a stray one (logged "Received unexpected N-CREATE
    service message"): the sender then waits until its DIMSE timeout. Its non-blocking reads
    (the reactor's) get requests only, such as the printer's N-EVENT-REPORTs."""
    get = dimse.get_msg

    def get_msg(block: bool = False) -> Any:
        if not block:
            _context, message = dimse.peek_msg()
            if message is not None and getattr(message, "MessageIDBeingRespondedTo", None) is not None:
                return None, None
        return get(block)

    dimse.get_msg = get_msg


def pattern(rows: int, cols: int, seed: int, top: int = 255) -> np.ndarray:
    """Pixels that tell images apart: a seeded random pattern from 0 to ``top``."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, top + 1, (rows, cols)).astype(np.uint8 if top <= 255 else np.uint16)


@dataclass
class Flood:
    """What :func:`flood` sent and how its association ended."""
    sent: int            # data set bytes the peer took before the association ended (or all of them)
    aborted: bool        # the association was aborted by hcserver


def flood(port: int, called: str, total: int, calling: str = "HOSTILE", chunk: int = 64 << 10,
          before_last: Callable[[], None] | None = None) -> Flood:
    """A hostile modality: one C-STORE (to a store route) or image box N-SET (to a print route)
    whose data set is ``total`` bytes of zeros, sent PDU after PDU as pynetdicom would (P-DATA-TF,
    one fragment each, the last flagged last), never held whole in this process's memory; stops
    when hcserver ends the association."""
    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    if called == "FILMSPOOL":
        ae.add_requested_context(sc.BasicGrayscalePrintManagementMeta)
        primitive: Any = N_SET()
        primitive.RequestedSOPClassUID, primitive.RequestedSOPInstanceUID = sc.BasicGrayscaleImageBox, "1.2.3.4"
        message: Any = N_SET_RQ()
    else:
        ae.add_requested_context(sc.SecondaryCaptureImageStorage)
        primitive = C_STORE()
        primitive.AffectedSOPClassUID, primitive.AffectedSOPInstanceUID = sc.SecondaryCaptureImageStorage, "1.2.3.4"
        primitive.Priority = 2
        message = C_STORE_RQ()
    primitive.MessageID = 1
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    assert assoc.is_established, f"association to {called} not established"
    context = assoc.accepted_contexts[0].context_id
    primitive.DataSet = BytesIO(b"\0\0")
    message.primitive_to_message(primitive)
    command = [pdv for p in message.encode_msg(context, 1 << 20) for _cx, pdv in p.presentation_data_value_list
               if pdv[0] & 1]

    def pdu(value: bytes) -> bytes:
        return struct.pack(">BBLLB", 4, 0, len(value) + 5, len(value) + 1, context) + value

    raw = assoc.dul.socket.socket
    zeros = bytes(chunk)
    sent = 0
    try:
        for value in command:
            raw.sendall(pdu(value))
        body = pdu(b"\x00" + zeros)
        while sent + chunk < total and assoc.is_established:
            raw.sendall(body)
            sent += chunk
        if before_last is not None:
            before_last()    # the message so far is in flight: the test does what it needs meanwhile
        if assoc.is_established:
            raw.sendall(pdu(b"\x02" + bytes(total - sent)))
            sent = total
            assoc.dimse.get_msg(True)    # the answer (whatever its status): the message was handled
            assoc.release()
    except OSError:      # hcserver closed the connection
        pass
    deadline = time.monotonic() + 30
    while assoc.is_established and time.monotonic() < deadline:
        time.sleep(0.05)
    aborted = bool(assoc.is_aborted)
    if assoc.is_established:
        assoc.abort()
    return Flood(sent, aborted)
