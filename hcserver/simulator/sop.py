"""The SOP classes the simulator serves: their UIDs, taken from pynetdicom for every module of
the simulator, and the names it gives them in faults (``N-SET/image-box``) and in its records
(``"sop_class": "film-box"``)."""
from __future__ import annotations

# pynetdicom makes the SOP class names when it is imported: type checkers cannot see them.
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    BasicAnnotationBox,
    BasicColorImageBox,
    BasicColorPrintManagementMeta,
    BasicFilmBox,
    BasicFilmSession,
    BasicGrayscaleImageBox,
    BasicGrayscalePrintManagementMeta,
    PresentationLUT,
    Printer,
    PrinterConfigurationRetrieval,
    PrinterConfigurationRetrievalInstance,
    PrinterInstance,
    PrintJob,
    Verification,
)

__all__ = [
    "BasicAnnotationBox", "BasicColorImageBox", "BasicColorPrintManagementMeta", "BasicFilmBox", "BasicFilmSession",
    "BasicGrayscaleImageBox", "BasicGrayscalePrintManagementMeta", "PresentationLUT", "Printer",
    "PrinterConfigurationRetrieval", "PrinterConfigurationRetrievalInstance", "PrinterInstance", "PrintJob",
    "Verification", "SOP_NAMES", "SOP_ALIASES", "META_MEMBERS", "EVENT_TYPES", "PRINT_JOB_EVENT_TYPES",
]

SOP_NAMES = {
    Verification: "verification",
    BasicFilmSession: "film-session",
    BasicFilmBox: "film-box",
    BasicGrayscaleImageBox: "grayscale-image-box",
    BasicColorImageBox: "color-image-box",
    BasicGrayscalePrintManagementMeta: "grayscale-meta",
    BasicColorPrintManagementMeta: "color-meta",
    PrintJob: "print-job",
    BasicAnnotationBox: "annotation-box",
    Printer: "printer",
    PrinterConfigurationRetrieval: "printer-configuration",
    PresentationLUT: "presentation-lut",
}
# Names a Fault may use for its sop_class, and the classes each one matches.
SOP_ALIASES: dict[str, frozenset[str]] = {name: frozenset({uid}) for uid, name in SOP_NAMES.items()}
SOP_ALIASES["image-box"] = frozenset({BasicGrayscaleImageBox, BasicColorImageBox})

# The classes each Meta SOP Class groups.
META_MEMBERS = {
    BasicGrayscalePrintManagementMeta: {BasicFilmSession, BasicFilmBox, BasicGrayscaleImageBox, Printer},
    BasicColorPrintManagementMeta: {BasicFilmSession, BasicFilmBox, BasicColorImageBox, Printer},
}

# Printer N-EVENT-REPORT: the Event Type ID of each printer status.
EVENT_TYPES = {"NORMAL": 1, "WARNING": 2, "FAILURE": 3}
# Print Job N-EVENT-REPORT: the Event Type ID of each Execution Status.
PRINT_JOB_EVENT_TYPES = {"PENDING": 1, "PRINTING": 2, "DONE": 3, "FAILURE": 4}
