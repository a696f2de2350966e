"""N-EVENT-REPORTs the printer sends on an association we requested.

Each one is recorded synchronously in the network thread the moment it
arrives (so that it is visible by the time the response to the request in
progress is), decoded into a :class:`PrinterEvent`, answered by a handler
bound at associate time, and collected by the driver with
:meth:`EventReports.take`.

The status we answer is decided in one place, :func:`answer_status`: 0x0000
for an event type the Printer (PS3.4 H.4.10.1.2) or Print Job SOP class
defines, 0x0113 (No Such Event Type) for another, 0x0118 (No Such SOP Class)
for an event of any other SOP class; 0x0110 (Processing Failure) when the
request cannot be read at all. An event that can be read is recorded with the
same answer.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from io import BytesIO
from typing import Any, cast

from pydicom.dataset import Dataset
from pynetdicom import evt
from pynetdicom.dimse_primitives import N_EVENT_REPORT
from pynetdicom.dsutils import decode

from hcserver.drivers.dicom.status_policy import SOP_CLASS_UIDS
from hcserver.drivers.dicom.wire import N_EVENT_REPORT_RQ

log = logging.getLogger(__name__)

# Printer SOP Class event types (PS3.4 H.4.10.1.2) and Print Job event types.
PRINTER_EVENTS = {1: "NORMAL", 2: "WARNING", 3: "FAILURE"}
PRINT_JOB_EVENTS = {1: "PENDING", 2: "PRINTING", 3: "DONE", 4: "FAILURE"}
_EVENT_TYPES = {"printer": PRINTER_EVENTS, "print-job": PRINT_JOB_EVENTS}
_INFO_KEYWORDS = {"printer": "PrinterStatusInfo", "print-job": "ExecutionStatusInfo"}
_SOP_NAMES = {uid: name for name, uid in SOP_CLASS_UIDS.items()}

SUCCESS = 0x0000
_PROCESSING_FAILURE = 0x0110
_NO_SUCH_EVENT_TYPE = 0x0113
_NO_SUCH_SOP_CLASS = 0x0118
_MEANINGS = {_NO_SUCH_EVENT_TYPE: "No such event type", _NO_SUCH_SOP_CLASS: "No such SOP class"}
#: every status we may answer with (as the conformance statement lists them)
ANSWER_STATUSES = (SUCCESS, _NO_SUCH_EVENT_TYPE, _NO_SUCH_SOP_CLASS, _PROCESSING_FAILURE)


@dataclass(frozen=True)
class PrinterEvent:
    """An N-EVENT-REPORT received from the printer."""

    sop_class: str          # short name: "printer", "print-job", or the UID if unknown
    event_type: int
    status: str             # NORMAL/WARNING/FAILURE, PENDING/PRINTING/DONE/FAILURE, or ""
    info: str               # Printer Status Info / Execution Status Info
    answered: int           # the status we answered with
    meaning: str
    instance_uid: str = ""  # the Affected SOP Instance UID: which print job, for a print job's


def answer_status(sop_class: str, event_type: int) -> int:
    """The status we answer an N-EVENT-REPORT of ``sop_class`` (short name) with."""
    events = _EVENT_TYPES.get(sop_class)
    if events is None:
        return _NO_SUCH_SOP_CLASS
    return SUCCESS if event_type in events else _NO_SUCH_EVENT_TYPE


def answer_event_report(event: evt.Event) -> tuple[int, Dataset | None]:
    """EVT_N_EVENT_REPORT handler: the response (the event was recorded on arrival)."""
    try:
        req = cast(N_EVENT_REPORT, event.request)   # the handler is bound to EVT_N_EVENT_REPORT only
        sop = _SOP_NAMES.get(str(req.AffectedSOPClassUID), "")
        event_type = int(req.EventTypeID or 0)
    except Exception:
        return _PROCESSING_FAILURE, None
    return answer_status(sop, event_type), None


class EventReports:
    """The N-EVENT-REPORTs received on one association, until the driver takes them."""

    def __init__(self) -> None:
        self._events: list[PrinterEvent] = []
        self._lock = threading.Lock()

    def handlers(self) -> list[tuple[Any, Any]]:
        return [(evt.EVT_DIMSE_RECV, self._on_dimse_recv),
                (evt.EVT_N_EVENT_REPORT, answer_event_report)]

    def take(self) -> list[PrinterEvent]:
        with self._lock:
            events, self._events = self._events, []
        return events

    def _on_dimse_recv(self, event: evt.Event) -> None:
        """Runs in the network thread, before the message is queued or served."""
        try:
            if event.message.command_set.get("CommandField") == N_EVENT_REPORT_RQ:
                received = _decode(event)
                with self._lock:
                    self._events.append(received)
        except Exception as exc:  # never break the network thread
            log.warning("could not inspect a received DIMSE message: %s", exc)


def _decode(event: evt.Event) -> PrinterEvent:
    cs = event.message.command_set
    class_uid = str(cs.get("AffectedSOPClassUID", "") or "")
    instance_uid = str(cs.get("AffectedSOPInstanceUID", "") or "").strip()
    event_type = int(cs.get("EventTypeID", 0) or 0)
    sop = _SOP_NAMES.get(class_uid, class_uid)
    answered = answer_status(sop, event_type)
    if answered == _NO_SUCH_SOP_CLASS:
        return PrinterEvent(sop, event_type, "", "", answered, _MEANINGS[answered], instance_uid)
    info = _event_information(event) or Dataset()
    text = str(info.get(_INFO_KEYWORDS[sop], "") or "")
    if answered != SUCCESS:
        return PrinterEvent(sop, event_type, "", text, answered, _MEANINGS[answered], instance_uid)
    if sop == "print-job":
        status = PRINT_JOB_EVENTS[event_type]
        return PrinterEvent(sop, event_type, status, text, answered, f"print job {status}", instance_uid)
    # Printer Status in the Event Information wins over the event type's
    status = str(info.PrinterStatus) if info.get("PrinterStatus") else PRINTER_EVENTS[event_type]
    return PrinterEvent(sop, event_type, status, text, answered, f"printer status {status}", instance_uid)


def _event_information(event: evt.Event) -> Dataset | None:
    """The Event Information dataset, or None (none sent, or undecodable: the event is kept)."""
    msg = event.message
    data_set = getattr(msg, "data_set", None)
    raw = data_set.getvalue() if data_set is not None else b""
    if not raw or msg.context_id is None:
        return None
    try:
        ts = event.assoc._accepted_cx[msg.context_id].transfer_syntax[0]
        return decode(BytesIO(raw), ts.is_implicit_VR, ts.is_little_endian, ts.is_deflated)
    except Exception as exc:
        log.debug("undecodable N-EVENT-REPORT information: %s", exc)
        return None
