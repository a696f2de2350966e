"""Print Job progress to the modality: an N-EVENT-REPORT of the Print Job SOP Class each time
a job queued on an association that is still open changes its Execution Status (PENDING,
PRINTING, DONE, FAILURE), for SCUs that proposed the Print Job SOP Class.

The queue's changes are announced in the thread that committed them; they are only noted
there, and one thread of this listener reads the job's state and sends the report, so a slow
modality never holds up the queue.

Notes on pynetdicom (3.0): ``send_n_event_report()`` from outside the association's thread
waits for the next message and takes it for the answer, which may be the modality's next
request instead. So a report is queued with the association's DIMSE provider without waiting
(its answer reaches pynetdicom's reactor, which logs and drops it as a stray response), and
every outgoing message of the association is queued whole under one lock (``prepare``), so a
report never splits a response's P-DATA-TF PDUs.
"""
from __future__ import annotations

import itertools
import logging
import queue
import threading
from io import BytesIO
from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset
from pynetdicom.dimse_primitives import N_EVENT_REPORT
from pynetdicom.dsutils import encode

from hcserver.dicom_in.sop import EVENT_TYPE, EXECUTION_STATUS, PRINT_JOB
from hcserver.events import JobChange

if TYPE_CHECKING:
    from hcserver.dicom_in.intake import Intake
    from hcserver.dicom_in.print_route import PrintJobs

log = logging.getLogger(__name__)


class Progress:
    def __init__(self, intake: Intake, print_jobs: PrintJobs):
        self.intake, self.print_jobs = intake, print_jobs
        self._lock = threading.Lock()
        self._watched: dict[Any, Any] = {}          # association: its PrintAssociation
        self._sent: dict[tuple[Any, str], str] = {}  # (association, Print Job UID): the status last reported
        self._changes: queue.Queue[int | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="dicom-in-progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._changes.put(None)
            self._thread.join(5)
            self._thread = None

    def watch(self, assoc: Any, handler: Any) -> None:
        """Before the association is negotiated: report to it if its SCU proposed Print Job."""
        if getattr(handler, "print_job_context", False):
            prepare(assoc)
            with self._lock:
                self._watched[assoc] = handler

    def forget(self, assoc: Any) -> None:
        with self._lock:
            self._watched.pop(assoc, None)
            for key in [k for k in self._sent if k[0] is assoc]:
                del self._sent[key]

    def changed(self, change: JobChange) -> None:
        """A bus listener: note the job (in the committing thread: nothing more)."""
        if change.job_id:
            self._changes.put(change.job_id)

    def _run(self) -> None:
        while True:
            job = self._changes.get()
            if job is None:
                return
            try:
                self._report(job)
            except Exception:   # noqa: BLE001 - a report that fails is logged, the next one is tried
                log.exception("front door: Print Job report for job %d failed", job)

    def _report(self, job: int) -> None:
        with self._lock:
            targets = [(assoc, uid, handler.route.printer) for assoc, handler in self._watched.items()
                       for uid, queued in handler.jobs if queued == job]
        if not targets:
            return
        state = self.intake.job_state(job)
        status = EXECUTION_STATUS[state.value] if state is not None else "DONE"
        for assoc, uid, printer in targets:
            with self._lock:
                if self._sent.get((assoc, uid), "PENDING") == status:
                    continue
                self._sent[(assoc, uid)] = status
            ds = Dataset()
            ds.ExecutionStatusInfo = "NORMAL" if status != "FAILURE" else "UNKNOWN"
            ds.PrinterName = printer[:64]
            try:
                send_event(assoc, uid, EVENT_TYPE[status], ds)
            except Exception as exc:   # noqa: BLE001 - the modality went away meanwhile
                log.info("front door: Print Job report to %s not sent: %s", assoc, exc)


_MESSAGE_IDS = itertools.count(1)


def prepare(assoc: Any) -> None:
    """Queue each outgoing message of ``assoc`` whole, under one lock (see the module docstring)."""
    dimse = assoc.dimse
    send, lock = dimse.send_msg, threading.Lock()

    def send_whole(primitive: Any, context_id: int) -> None:
        with lock:
            send(primitive, context_id)

    dimse.send_msg = send_whole


def send_event(assoc: Any, uid: str, event_type: int, ds: Dataset) -> bool:
    """Queue a Print Job N-EVENT-REPORT on ``assoc`` without waiting for its answer."""
    if not assoc.is_established or assoc.dul.state_machine.current_state != "Sta6":
        return False      # not (or no longer) in data transfer
    context = assoc._get_valid_context(PRINT_JOB, "", None)
    ts = context.transfer_syntax[0]
    req = N_EVENT_REPORT()
    req.MessageID = next(_MESSAGE_IDS) % 65536
    req.AffectedSOPClassUID = PRINT_JOB
    req.AffectedSOPInstanceUID = uid
    req.EventTypeID = event_type
    encoded = encode(ds, ts.is_implicit_VR, ts.is_little_endian, ts.is_deflated)
    if encoded is not None:
        req.EventInformation = BytesIO(encoded)
    assoc.dimse.send_msg(req, int(context.context_id))
    return True
