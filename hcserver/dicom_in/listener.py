"""The DICOM listener: one pynetdicom AE for every route, each called AE title a route.

An association is accepted when its calling AE title is allowed (``allowed_calling_aes``; else
rejected, reason 3) and its called AE title is a route (else rejected, reason 7); it is offered
the route's contexts only (a print route: Verification and Print Management; a store route:
Verification and the image storage classes), so a proposal of anything else, such as the
retired Print Queue Management class, is refused context by context while the rest goes on.

pynetdicom serves each association in a thread of its own (at most ``max_associations`` at
once; more are rejected by pynetdicom, "local limit exceeded"), and every request of an
association in that thread, in order. A handler never raises: what goes wrong is answered with
a status and an Error Comment (0x0110 "processing failure" for the unforeseen, logged).

Notes on pynetdicom (3.0):

* An ``EVT_REQUESTED`` handler may send the A-ASSOCIATE-RJ itself, and may set the contexts
  the acceptor supports for this association before pynetdicom negotiates them.
* pynetdicom never sets TCP_NODELAY; without it every response spanning more than one PDU
  waits for the peer's delayed ACK (some 40 ms): an ``EVT_CONN_OPEN`` handler sets it.
* pynetdicom drops, unanswered, an N-ACTION, N-SET, N-GET or N-DELETE request without a
  Requested SOP Instance UID (some modalities send N-ACTION so): an ``EVT_DIMSE_RECV`` handler
  gives such a request the placeholder ``MISSING_UID`` before pynetdicom checks it, and the
  route takes the placeholder for "none" (the association's film session, or its last film box).
  It must run before pynetdicom's own logging handler, which raises on such a request and so
  would stop the handlers after it: it is put first in the association's list.
* pynetdicom collects a whole DIMSE message in memory before any handler sees it: an
  ``EVT_DATA_RECV`` handler counts what each accepted association receives as it arrives and
  aborts it past ``max_association_bytes`` or ``max_message_bytes``
  (hcserver.dicom_in.limits).
* pynetdicom's two threads per association poll every millisecond, which costs an idle
  association CPU and every image (or request) a few milliseconds of waits: the
  ``EVT_CONN_OPEN`` handler makes each accepted association wait for its work instead, as the
  associations the Print SCU requests do (hcserver.drivers.dicom.reactor).
"""
from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, build_context, evt

from hcserver.budget import ByteBudget
from hcserver.config_dicom_in import DicomListener
from hcserver.dicom_in.intake import Intake, Refused
from hcserver.dicom_in.limits import ByteLimits
from hcserver.dicom_in.print_route import Answer, PrintAssociation, PrintJobs
from hcserver.dicom_in.progress import Progress
from hcserver.dicom_in.sop import (
    COLOR_IMAGE_BOX,
    COLOR_META,
    GRAYSCALE_IMAGE_BOX,
    GRAYSCALE_META,
    NO_SUCH_CLASS,
    PRINT_CLASSES,
    PRINT_JOB,
    PRINT_TRANSFER_SYNTAXES,
    PROCESSING_FAILURE,
    REJECT_CALLED_AE,
    REJECT_CALLING_AE,
    STORE_CANNOT_UNDERSTAND,
    STORE_CLASSES,
    STORE_NOT_SUPPORTED,
    STORE_TRANSFER_SYNTAXES,
    SUCCESS,
    VERIFICATION,
    is_failure,
)
from hcserver.dicom_in.store_route import StoreAssociation, recover
from hcserver.drivers.dicom.reactor import use_reactor_pause

log = logging.getLogger(__name__)

JOURNALS = "dicom-in"      # the store route's journals, in the state directory
MISSING_UID = "0.0"        # stands for a Requested SOP Instance UID the SCU did not send
_NEEDS_INSTANCE = {0x0110, 0x0120, 0x0130, 0x0150}   # N-GET, N-SET, N-ACTION, N-DELETE requests


def _contexts(service: str) -> list:
    if service == "print":
        return [build_context(uid, PRINT_TRANSFER_SYNTAXES) for uid in PRINT_CLASSES]
    return [build_context(VERIFICATION, PRINT_TRANSFER_SYNTAXES)] + [
        build_context(uid, STORE_TRANSFER_SYNTAXES) for uid in STORE_CLASSES]


class FrontDoor:
    """The listener: ``start()`` returns once it listens (``port`` 0: a free one, see
    :attr:`port`); ``stop()`` ends every association and queues the store batches."""

    def __init__(self, settings: DicomListener, intake: Intake, state_dir: Path, ae_title: str):
        self.settings, self.intake = settings, intake
        self.journal_dir = Path(state_dir) / JOURNALS
        self.ae_title = ae_title
        self.print_jobs = PrintJobs()
        self.progress = Progress(intake, self.print_jobs)
        self._lock = threading.Lock()
        self._associations: dict[Any, PrintAssociation | StoreAssociation] = {}
        self._limits: dict[Any, ByteLimits] = {}
        self.in_flight = ByteBudget(settings.max_bytes_in_flight)   # all associations' messages
        self._ae: AE | None = None
        self._server: Any = None
        self.port = settings.port

    def recover(self) -> list[int]:
        """Queue the store batches the last run left (before anything collects unused images)."""
        jobs = recover(self.intake, self.settings.routes, self.journal_dir)
        if jobs:
            log.info("front door: queued %d job(s) of images received before the last stop: %s", len(jobs), jobs)
        return jobs

    def start(self) -> FrontDoor:
        s = self.settings
        ae = AE(ae_title=self.ae_title)
        ae.maximum_associations = s.max_associations
        ae.maximum_pdu_size = s.max_pdu
        ae.network_timeout = s.network_timeout_s
        ae.acse_timeout = 30
        ae.dimse_timeout = 60
        ae.require_called_aet = False       # the routes decide (EVT_REQUESTED)
        for uid in PRINT_CLASSES:
            ae.add_supported_context(uid, PRINT_TRANSFER_SYNTAXES)
        for uid in STORE_CLASSES:
            ae.add_supported_context(uid, STORE_TRANSFER_SYNTAXES)
        handlers: list = [
            (evt.EVT_CONN_OPEN, self._on_open), (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_RELEASED, self._on_end), (evt.EVT_ABORTED, self._on_end), (evt.EVT_CONN_CLOSE, self._on_end),
            (evt.EVT_C_ECHO, lambda event: 0x0000), (evt.EVT_C_STORE, self._on_c_store),
            (evt.EVT_N_CREATE, self._on_n_create), (evt.EVT_N_SET, self._on_n_set),
            (evt.EVT_N_ACTION, self._on_n_action), (evt.EVT_N_DELETE, self._on_n_delete),
            (evt.EVT_N_GET, self._on_n_get),
        ]
        self._server = ae.start_server((s.host, s.port), block=False, evt_handlers=handlers)
        self._ae = ae
        self.port = int(self._server.server_address[1])
        self.progress.start()
        log.info("DICOM front door listening on %s:%d: %s", s.host, self.port, ", ".join(
            f"{r.ae_title} ({r.service} to {r.printer})" for r in s.routes.values()))
        return self

    def stop(self) -> None:
        if self._ae is not None:
            self._ae.shutdown()      # aborts what is open: each store batch is queued as it ends
            self._ae = None
        self.progress.stop()

    def use_settings(self, settings: DicomListener) -> None:
        """A reload: new associations use the new routes (the address needs a restart)."""
        self.settings = settings
        self.in_flight.limit = settings.max_bytes_in_flight

    # ---- associations ----------------------------------------------------------------
    def _on_open(self, event: Any) -> None:
        use_reactor_pause(event)
        handlers = event.assoc._handlers.setdefault(evt.EVT_DIMSE_RECV, [])
        handlers.insert(0, (_fill_instance, None))
        try:
            event.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (AttributeError, OSError):
            pass

    def _on_requested(self, event: Any) -> None:
        assoc = event.assoc
        primitive = assoc.requestor.primitive
        calling = str(primitive.calling_ae_title or "").strip()
        called = str(primitive.called_ae_title or "").strip()
        allowed = self.settings.allowed_calling_aes
        route = self.settings.routes.get(called)
        rejection = REJECT_CALLING_AE if allowed is not None and calling not in allowed else (
            REJECT_CALLED_AE if route is None else None)
        if rejection is not None or route is None:
            log.warning("front door: association from %s to %s rejected (%s)", calling, called,
                        "calling AE title not allowed" if rejection == REJECT_CALLING_AE else "no such route")
            assoc.acse.send_reject(*(rejection or REJECT_CALLED_AE))
            evt.trigger(assoc, evt.EVT_REJECTED, {})
            assoc.kill()
            return
        assoc.acceptor.ae_title = called
        assoc.acceptor.supported_contexts = _contexts(route.service)
        max_bytes = self.settings.max_association_bytes
        address = f"{assoc.requestor.address}:{assoc.requestor.port}"
        limits = ByteLimits(max_bytes, self.settings.max_message_bytes, f"{calling} at {address} to {called}",
                            self.in_flight)
        with self._lock:
            self._limits[assoc] = limits
        assoc.bind(evt.EVT_DATA_RECV, limits.on_data)
        handler: PrintAssociation | StoreAssociation
        if route.service == "print":
            proposed = {str(cx.abstract_syntax) for cx in primitive.presentation_context_definition_list}
            handler = PrintAssociation(self.intake, route, calling, self.print_jobs, max_bytes, PRINT_JOB in proposed)
        else:
            handler = StoreAssociation(self.intake, route, calling, self.journal_dir, max_bytes, _timer)
        with self._lock:
            self._associations[assoc] = handler
        self.progress.watch(assoc, handler)

    def _on_end(self, event: Any) -> None:
        with self._lock:
            handler = self._associations.pop(event.assoc, None)
            limits = self._limits.pop(event.assoc, None)
        if limits is not None:
            limits.close()
        self.progress.forget(event.assoc)
        if handler is not None:
            # store: the images the modality was told are stored are printed, whatever ended it;
            # print: a film session that was not printed leaves nothing behind
            handler.end()

    def _handler(self, event: Any) -> PrintAssociation | StoreAssociation | None:
        with self._lock:
            return self._associations.get(event.assoc)

    # ---- requests --------------------------------------------------------------------
    def _on_c_store(self, event: Any) -> int:
        handler = self._handler(event)
        if not isinstance(handler, StoreAssociation):
            return STORE_NOT_SUPPORTED if handler is not None else STORE_CANNOT_UNDERSTAND
        try:
            return handler.c_store(event.encoded_dataset(include_meta=True))
        except Exception:   # noqa: BLE001 - answered, never raised into pynetdicom
            log.exception("store route: C-STORE failed")
            return STORE_CANNOT_UNDERSTAND

    def _print(self, event: Any, operation: str, call) -> tuple[Dataset, Dataset | None]:
        """Run a print route operation: its answer as (status data set, attribute list)."""
        handler = self._handler(event)
        request = event.request
        try:
            if not isinstance(handler, PrintAssociation):
                raise Refused(NO_SUCH_CLASS, "no print route on this association")
            answer = call(handler, request)
        except Refused as exc:
            answer = Answer(exc.status, comment=exc.comment)
        except Exception:   # noqa: BLE001 - answered, never raised into pynetdicom
            log.exception("print route: %s failed", operation)
            answer = Answer(PROCESSING_FAILURE, comment=f"{operation} failed: see the server log")
        status = Dataset()
        status.Status = answer.status
        if answer.comment and answer.status != SUCCESS:
            status.ErrorComment = answer.comment.replace("\\", "/")[:64]   # a backslash would split the value
        failed = is_failure(answer.status)
        if answer.instance and operation == "N-CREATE" and not failed:
            if request.AffectedSOPInstanceUID:
                status.AffectedSOPInstanceUID = answer.instance
            else:   # pynetdicom takes an assigned UID from the attribute list (PS3.7 10.1.5.1.4)
                ds = answer.ds if answer.ds is not None else Dataset()
                ds.AffectedSOPInstanceUID = answer.instance
                return status, ds
        elif answer.instance and str(getattr(request, "RequestedSOPInstanceUID", "")) == MISSING_UID:
            status.AffectedSOPInstanceUID = answer.instance   # the instance it acted on, not the placeholder
        if failed:
            log.info("print route: %s answered 0x%04X (%s)", operation, answer.status, answer.comment)
        return status, answer.ds

    def _on_n_create(self, event: Any):
        return self._print(event, "N-CREATE", lambda h, r: h.n_create(
            str(r.AffectedSOPClassUID or ""), _uid(r.AffectedSOPInstanceUID), event.attribute_list or Dataset(),
            _meta(event)))

    def _on_n_set(self, event: Any):
        return self._print(event, "N-SET", lambda h, r: h.n_set(
            str(r.RequestedSOPClassUID or ""), _uid(r.RequestedSOPInstanceUID), event.modification_list or Dataset()))

    def _on_n_action(self, event: Any):
        return self._print(event, "N-ACTION", lambda h, r: h.n_action(
            str(r.RequestedSOPClassUID or ""), _uid(r.RequestedSOPInstanceUID), int(r.ActionTypeID or 0)))

    def _on_n_delete(self, event: Any):
        status, _ds = self._print(event, "N-DELETE", lambda h, r: h.n_delete(
            str(r.RequestedSOPClassUID or ""), _uid(r.RequestedSOPInstanceUID)))
        return status

    def _on_n_get(self, event: Any):
        return self._print(event, "N-GET", lambda h, r: h.n_get(
            str(r.RequestedSOPClassUID or ""), _uid(r.RequestedSOPInstanceUID), _tags(r.AttributeIdentifierList)))


def _fill_instance(event: Any) -> None:
    """Give a request that lacks its Requested SOP Instance UID the placeholder (see the notes)."""
    command = event.message.command_set
    if command.get("CommandField") in _NEEDS_INSTANCE and not command.get("RequestedSOPInstanceUID"):
        command.RequestedSOPInstanceUID = MISSING_UID


def _tags(value) -> list[int]:
    """An N-GET's Attribute Identifier List: one tag arrives as a tag, several as a list."""
    if value is None:
        return []
    return [int(value)] if isinstance(value, int) else [int(tag) for tag in value]


def _uid(value) -> str | None:
    text = str(value).strip() if value else ""
    return None if not text or text == MISSING_UID else text


def _meta(event: Any) -> str:
    """The Meta SOP class a film box is created under: its context's, else (a film box context
    of its own) the colour one when only colour image boxes were negotiated."""
    context = str(event.context.abstract_syntax)
    if context in (GRAYSCALE_META, COLOR_META):
        return context
    accepted = {str(cx.abstract_syntax) for cx in event.assoc.accepted_contexts}
    return COLOR_META if COLOR_IMAGE_BOX in accepted and GRAYSCALE_IMAGE_BOX not in accepted else GRAYSCALE_META


def _timer(seconds: float, action: Callable[[], object]) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.daemon = True
    timer.start()
    return timer
