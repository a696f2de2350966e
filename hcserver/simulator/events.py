"""The printer's N-EVENT-REPORTs (Printer SOP Class, printer status change), sent either waiting
for the answer or not, and those of its Print Jobs (their Execution Status), not waiting.

Notes on pynetdicom (3.0):

* An SCP may call ``assoc.send_n_event_report()`` from inside a DIMSE
  handler: the acceptor marks its reactor paused while the handler runs, so
  the N-EVENT-REPORT-RSP is read by the handler and nothing deadlocks. The
  receiving side (the SCU) serves N-EVENT-REPORT requests in a thread of their
  own, even while it waits for the response to its own request. Sending from
  another thread (:meth:`PrinterSimulator.send_event_report`) pauses the
  reactor the same way; a per-association lock keeps two senders apart.
* Events that do not wait for their answer are queued with the association's
  DIMSE provider directly (``send_n_event_report()`` would wait, and would
  take the SCU's next request for the answer); their answers are taken off
  the message queue before pynetdicom's reactor would drop them as stray
  responses. Every outgoing message is queued whole under one lock, so such
  an event never splits a response's P-DATA-TF PDUs.
"""
from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable
from io import BytesIO
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom.dimse_primitives import N_EVENT_REPORT
from pynetdicom.dsutils import encode

from hcserver.simulator.records import Records
from hcserver.simulator.sop import (
    EVENT_TYPES,
    PRINT_JOB_EVENT_TYPES,
    BasicColorPrintManagementMeta,
    BasicGrayscalePrintManagementMeta,
    Printer,
    PrinterInstance,
    PrintJob,
)
from hcserver.simulator.state import Associations, AssocState

LOG = logging.getLogger(__name__)


class PrinterEvents:
    """Sends the printer's N-EVENT-REPORTs to the associations in use and logs them with their
    answers (status None if the association ended first)."""

    def __init__(self, associations: Associations, records: Records) -> None:
        self._assocs = associations
        self._records = records
        self._msg_ids = itertools.count(1)

    def prepare(self, assoc: Any) -> None:
        """Before the association starts: queue every outgoing message whole, send the events
        due right behind a response, keep the answers to events sent without waiting."""
        dimse = assoc.dimse
        send = dimse.send_msg
        lock = threading.Lock()

        def send_msg(primitive: Any, context_id: int) -> None:
            with lock:
                send(primitive, context_id)
                responding_to = getattr(primitive, "MessageIDBeingRespondedTo", None)
                if responding_to is None:
                    return
                with self._assocs.lock:
                    st = self._assocs.get(assoc)
                    due = st.after.pop(int(responding_to), None) if st is not None else None
                if due is not None:
                    assert st is not None
                    self.queue(assoc, st, due[0], due[1], send)

        def claim(msg: Any) -> bool:
            if not isinstance(msg, N_EVENT_REPORT) or msg.MessageIDBeingRespondedTo is None:
                return False
            with self._assocs.lock:
                st = self._assocs.get(assoc)
                entry = st.unanswered.pop(int(msg.MessageIDBeingRespondedTo), None) if st else None
            if entry is None:
                return False          # an answer send_n_event_report() waits for
            entry["status"] = None if msg.Status is None else int(msg.Status)
            self._records.add_log(entry)
            return True

        dimse.send_msg = send_msg
        dimse.msg_queue = _EventAnswers(claim)

    def send_after(self, st: AssocState, message_id: int, event: tuple[str, str], context_uid: str) -> None:
        """Send ``event`` right behind the response to request ``message_id``, not waiting."""
        with self._assocs.lock:
            st.after[message_id] = (event, context_uid)

    def log_unanswered(self, st: AssocState) -> None:
        """Log the events sent without waiting that the association ended before answering."""
        with self._assocs.lock:
            for entry in st.unanswered.values():
                self._records.add_log(entry)
            st.unanswered.clear()

    def send(self, assoc: Any, st: AssocState, context_uid: str | None, event: tuple[str, str]) -> bool:
        """Send a Printer N-EVENT-REPORT and wait for its answer; True if it came."""
        ok, meta = _event_meta(assoc, st, context_uid)
        if not ok:
            return False
        entry, ds = _event_entry(st, event)
        ev_type = entry["event_type"]
        with st.send_lock:
            msg_id = next(self._msg_ids) % 65536
            try:
                rsp, _ = assoc.send_n_event_report(ds, ev_type, Printer, PrinterInstance,
                                                   msg_id=msg_id, meta_uid=meta)
            except Exception as exc:
                LOG.warning("N-EVENT-REPORT to %s failed: %s", st.calling_ae, exc)
                rsp = Dataset()
        entry["status"] = rsp.get("Status")
        self._records.add_log(entry)
        return "Status" in rsp

    def queue(self, assoc: Any, st: AssocState, event: tuple[str, str], context_uid: str | None,
              send: Callable[[Any, int], None]) -> bool:
        """Queue a Printer N-EVENT-REPORT without waiting for its answer; ``send`` is the
        association's message sender. True if it was queued."""
        ok, meta = _event_meta(assoc, st, context_uid)
        if not ok or assoc.dul.state_machine.current_state != "Sta6":
            return False              # not (or no longer) in data transfer
        entry, ds = _event_entry(st, event)
        return self._queue(assoc, st, entry, ds, Printer, PrinterInstance, meta or Printer, send)

    def _queue(self, assoc: Any, st: AssocState, entry: dict[str, Any], ds: Dataset | None, class_uid: str,
               instance_uid: str, context_uid: str, send: Callable[[Any, int], None]) -> bool:
        context = assoc._get_valid_context(context_uid, "", None)
        ts = context.transfer_syntax[0]
        req = N_EVENT_REPORT()
        req.AffectedSOPClassUID = class_uid
        req.AffectedSOPInstanceUID = instance_uid
        req.EventTypeID = entry["event_type"]
        if ds is not None:
            encoded = encode(ds, ts.is_implicit_VR, ts.is_little_endian, ts.is_deflated)
            if encoded is None:       # what send_n_event_report() (see send) refuses too
                LOG.warning("N-EVENT-REPORT to %s not sent: its Event Information could not be encoded",
                            st.calling_ae)
                return False
            req.EventInformation = BytesIO(encoded)
        with self._assocs.lock:
            msg_id = next(self._msg_ids) % 65536
            req.MessageID = msg_id
            entry["message_id"] = msg_id
            st.unanswered[msg_id] = entry
        try:
            send(req, int(context.context_id))
        except Exception as exc:  # pragma: no cover - the association went away meanwhile
            LOG.warning("N-EVENT-REPORT to %s failed: %s", st.calling_ae, exc)
            with self._assocs.lock:
                st.unanswered.pop(msg_id, None)
            return False
        return True

    def queue_print_job(self, assoc: Any, st: AssocState, job_uid: str, job: Dataset) -> bool:
        """Queue a Print Job N-EVENT-REPORT for ``job``'s Execution Status (its event type) without
        waiting for its answer; True if it was queued (the association is still in data transfer
        and accepted the Print Job context)."""
        status = str(job.get("ExecutionStatus", ""))
        accepted = {str(cx.abstract_syntax) for cx in assoc.accepted_contexts}
        if (status not in PRINT_JOB_EVENT_TYPES or PrintJob not in accepted
                or assoc.dul.state_machine.current_state != "Sta6"):
            return False
        info = Dataset()
        for keyword in ("ExecutionStatusInfo", "PrinterName", "CreationDate", "CreationTime"):
            if keyword in job:
                info.add(job[keyword])
        entry = {"direction": "out", "operation": "N-EVENT-REPORT", "calling_ae": st.calling_ae,
                 "sop_class": "print-job", "sop_class_uid": PrintJob, "instance_uid": job_uid,
                 "event_type": PRINT_JOB_EVENT_TYPES[status],
                 "event": [status, str(job.get("ExecutionStatusInfo", ""))], "status": None}
        return self._queue(assoc, st, entry, info, PrintJob, job_uid, PrintJob, assoc.dimse.send_msg)

class _EventAnswers(queue.Queue):
    """An association's DIMSE message queue that keeps back the answers to events sent
    without waiting (``claim`` records them): pynetdicom's reactor would take them for
    stray responses."""

    def __init__(self, claim: Callable[[Any], bool]) -> None:
        super().__init__()
        self._claim = claim

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if not self._claim(item[1]):
            super().put(item, block, timeout)


def _event_meta(assoc: Any, st: AssocState, context_uid: str | None) -> tuple[bool, str | None]:
    """(whether a Printer N-EVENT-REPORT can be sent, the Meta SOP Class it goes under)."""
    accepted = {str(cx.abstract_syntax) for cx in assoc.accepted_contexts}
    if context_uid in (BasicGrayscalePrintManagementMeta, BasicColorPrintManagementMeta):
        return True, context_uid
    if Printer in accepted:
        return True, None
    for meta in (BasicGrayscalePrintManagementMeta, BasicColorPrintManagementMeta):
        if meta in accepted:
            return True, meta
    LOG.warning("no presentation context for a Printer N-EVENT-REPORT to %s", st.calling_ae)
    return False, None


def _event_entry(st: AssocState, event: tuple[str, str]) -> tuple[dict[str, Any], Dataset | None]:
    """The log entry of a Printer N-EVENT-REPORT, and its Event Information."""
    status, info = event
    ev_type = EVENT_TYPES[status]
    ds = None                      # NORMAL: no Event Information, never an empty Dataset
    if ev_type != 1:
        ds = Dataset()
        ds.PrinterStatusInfo = info or status
    entry = {"direction": "out", "operation": "N-EVENT-REPORT", "calling_ae": st.calling_ae,
             "sop_class": "printer", "sop_class_uid": Printer, "instance_uid": PrinterInstance,
             "event_type": ev_type, "event": [status, info], "status": None}
    return entry, ds
