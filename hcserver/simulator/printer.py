"""The printer's own SOP classes: Printer and Printer Configuration Retrieval (N-GET), and the
Print Jobs the print actions create (N-GET Print Job)."""
from __future__ import annotations

import threading
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
    """The Print Job instances the print actions created; they outlive the association."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Dataset] = {}

    def add(self, job: Dataset) -> str:
        uid = str(generate_uid())
        with self._lock:
            self._jobs[uid] = job
        return uid

    def get(self, uid: str) -> Dataset | None:
        with self._lock:
            return self._jobs.get(uid)


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
    job.ExecutionStatus = "DONE"
    job.ExecutionStatusInfo = "NORMAL"
    job.CreationDate = now.strftime("%Y%m%d")
    job.CreationTime = now.strftime("%H%M%S")
    job.PrintPriority = str(session.attrs.get("PrintPriority") or "MED")
    job.PrinterName = sim.ae_title
    job.Originator = st.calling_ae
    uid = sim.print_jobs.add(job)
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
