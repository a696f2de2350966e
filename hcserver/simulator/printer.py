"""The printer's own SOP classes: Printer and Printer Configuration Retrieval (N-GET), and the
Print Jobs the print actions create (N-GET Print Job; their progress and, on request, their
N-EVENT-REPORTs)."""
from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from hcserver.simulator.sop import (
    BasicAnnotationBox,
    BasicColorPrintManagementMeta,
    BasicGrayscalePrintManagementMeta,
    PresentationLUT,
    PrinterConfigurationRetrievalInstance,
    PrinterInstance,
    PrintJob,
)
from hcserver.simulator.state import AssocState, FilmSession, Result, copy_ds

if TYPE_CHECKING:
    from hcserver.simulator.scp import PrinterSimulator


class PrintJobs:
    """The Print Job instances the print actions created; they outlive the association.

    A print job is DONE at once, or with ``seconds`` > 0 PENDING, PRINTING from half that time
    and DONE (or FAILURE, see :meth:`fail`) after it; each change is handed to ``on_change``
    (uid, the job's dataset) from a timer thread, e.g. to send a Print Job N-EVENT-REPORT."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Dataset] = {}
        self._failing: dict[str, str] = {}      # uid -> Execution Status Info of its FAILURE

    def add(self, job: Dataset, seconds: float = 0.0,
            on_change: Callable[[str, Dataset], None] | None = None) -> str:
        uid = str(generate_uid())
        job.ExecutionStatus = "PENDING" if seconds > 0 else "DONE"
        job.ExecutionStatusInfo = "QUEUED" if seconds > 0 else "NORMAL"
        with self._lock:
            self._jobs[uid] = job
        if seconds > 0:
            for delay, final in ((seconds / 2, False), (seconds, True)):
                timer = threading.Timer(delay, self._advance, (uid, final, on_change))
                timer.daemon = True
                timer.start()
        return uid

    def fail(self, uid: str, info: str) -> None:
        """Make the print job end in FAILURE with this Execution Status Info (at once if it is
        DONE already, the print action having just made it)."""
        with self._lock:
            job = self._jobs.get(uid)
            if job is None:
                return
            if job.ExecutionStatus == "DONE":
                job.ExecutionStatus, job.ExecutionStatusInfo = "FAILURE", info
            else:
                self._failing[uid] = info

    def _advance(self, uid: str, final: bool, on_change: Callable[[str, Dataset], None] | None) -> None:
        with self._lock:
            job = self._jobs[uid]
            if final and uid in self._failing:
                job.ExecutionStatus, job.ExecutionStatusInfo = "FAILURE", self._failing.pop(uid)
            elif final:
                job.ExecutionStatus, job.ExecutionStatusInfo = "DONE", "NORMAL"
            else:
                job.ExecutionStatus, job.ExecutionStatusInfo = "PRINTING", "NORMAL"
            snapshot = copy_ds(job)
        if on_change is not None:
            on_change(uid, snapshot)

    def get(self, uid: str) -> Dataset | None:
        with self._lock:
            job = self._jobs.get(uid)
            return copy_ds(job) if job is not None else None


def get_printer(sim: PrinterSimulator, event: Any, st: AssocState, inst: str | None, answer: int | None) -> Result:
    if inst != PrinterInstance:
        return Result(0x0112, comment="Printer SOP Instance is 1.2.840.10008.5.1.1.17")
    status, info = sim.printer_status
    ds = Dataset()
    ds.PrinterStatus = status
    ds.PrinterStatusInfo = info or status
    ds.PrinterName = sim.ae_title
    ds.Manufacturer = sim.capabilities.manufacturer
    ds.ManufacturerModelName = sim.capabilities.model
    ds.DeviceSerialNumber = "SIM-0001"
    ds.SoftwareVersions = "1.0"
    ds.DateOfLastCalibration = "20240101"
    ds.TimeOfLastCalibration = "080000"
    return Result(0x0000, _only(ds, event.attribute_identifiers))


def get_printer_config(sim: PrinterSimulator, event: Any, st: AssocState, inst: str | None,
                       answer: int | None) -> Result:
    if inst != PrinterConfigurationRetrievalInstance:
        return Result(0x0112)
    item = Dataset()
    caps = sim.capabilities
    item.SOPClassesSupported = ([BasicGrayscalePrintManagementMeta, PrintJob]
                                + ([PresentationLUT] if caps.presentation_lut else [])
                                + ([BasicAnnotationBox] if caps.annotation_box else [])
                                + ([BasicColorPrintManagementMeta] if sim.color else []))
    item.MaximumMemoryAllocation = 0
    item.MemoryBitDepth = 12 if sim.supports_12bit else 8
    item.PrintingBitDepth = 12 if sim.supports_12bit else 8
    item.MinDensity = 20
    item.MaxDensity = 300
    ds = Dataset()
    ds.PrinterConfigurationSequence = Sequence([item])
    return Result(0x0000, _only(ds, event.attribute_identifiers))


def get_print_job(sim: PrinterSimulator, event: Any, st: AssocState, inst: str | None, answer: int | None) -> Result:
    job = sim.print_jobs.get(inst or "")
    if job is None:
        return Result(0x0112, comment="no such print job")
    return Result(0x0000, _only(copy_ds(job), event.attribute_identifiers))


def print_job_reference(sim: PrinterSimulator, event: Any, st: AssocState, session: FilmSession) -> Dataset | None:
    """Create a Print Job if the SCU negotiated Print Job; return the reference."""
    accepted = {str(cx.abstract_syntax) for cx in event.assoc.accepted_contexts}
    if PrintJob not in accepted:
        return None
    now = datetime.now()
    job = Dataset()
    job.CreationDate = now.strftime("%Y%m%d")
    job.CreationTime = now.strftime("%H%M%S")
    job.PrintPriority = str(session.attrs.get("PrintPriority") or "MED")
    job.PrinterName = sim.ae_title
    job.Originator = st.calling_ae
    assoc = event.assoc
    on_change = ((lambda uid, ds: sim.print_job_event(assoc, uid, ds)) if sim.print_job_events else None)
    uid = sim.print_jobs.add(job, sim.print_job_seconds, on_change)
    item = Dataset()
    item.ReferencedSOPClassUID = PrintJob
    item.ReferencedSOPInstanceUID = uid
    ds = Dataset()
    ds.ReferencedPrintJobSequence = Sequence([item])
    return ds


def _only(ds: Dataset, tags: list[Any]) -> Dataset:
    """The attributes an N-GET asked for (all if it named none)."""
    if not tags:
        return ds
    out = Dataset()
    for tag in tags:
        if tag in ds:
            out.add(ds[tag])
    return out
