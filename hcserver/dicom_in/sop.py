"""The SOP classes, transfer syntaxes and status codes of the DICOM front door, named once: the
listener negotiates with them, the routes answer with them and the conformance statement lists
them."""
from __future__ import annotations

from typing import Any

from pydicom import uid as uids
from pynetdicom import sop_class

# pynetdicom makes the SOP class names when it is imported: type checkers cannot see them.
sc: Any = sop_class

VERIFICATION = str(sc.Verification)
GRAYSCALE_META = str(sc.BasicGrayscalePrintManagementMeta)
COLOR_META = str(sc.BasicColorPrintManagementMeta)
FILM_SESSION = str(sc.BasicFilmSession)
FILM_BOX = str(sc.BasicFilmBox)
GRAYSCALE_IMAGE_BOX = str(sc.BasicGrayscaleImageBox)
COLOR_IMAGE_BOX = str(sc.BasicColorImageBox)
PRINTER = str(sc.Printer)
PRINTER_INSTANCE = str(sc.PrinterInstance)       # the well-known Printer SOP Instance
PRESENTATION_LUT = str(sc.PresentationLUT)
ANNOTATION_BOX = str(sc.BasicAnnotationBox)
PRINT_JOB = str(sc.PrintJob)

#: The print route's SOP classes, as the conformance statement lists them. The retired Print
#: Queue Management SOP Class is not among them: its context is rejected, the others accepted.
PRINT_CLASSES = {
    VERIFICATION: "Verification",
    GRAYSCALE_META: "Basic Grayscale Print Management Meta",
    COLOR_META: "Basic Color Print Management Meta",
    FILM_SESSION: "Basic Film Session",
    FILM_BOX: "Basic Film Box",
    GRAYSCALE_IMAGE_BOX: "Basic Grayscale Image Box",
    COLOR_IMAGE_BOX: "Basic Color Image Box",
    PRINTER: "Printer",
    PRESENTATION_LUT: "Presentation LUT",
    ANNOTATION_BOX: "Basic Annotation Box",
    PRINT_JOB: "Print Job",
}

#: The store route's image storage SOP classes: every image class of pynetdicom's list (its
#: pixels are what the formatter decodes with pydicom); non-image objects are not accepted.
STORE_CLASSES = {str(getattr(sc, name)): name.replace("Storage", "").strip()
                 for name in dir(sc) if name.endswith("ImageStorage")
                 or name.endswith("ImageStorageForPresentation") or name.endswith("ImageStorageForProcessing")}

#: Print Management travels uncompressed (PS3.4 H.4.1: the SCU proposes these)
PRINT_TRANSFER_SYNTAXES = [str(uids.ExplicitVRLittleEndian), str(uids.ImplicitVRLittleEndian)]
#: Images are stored as received: every transfer syntax pydicom with pylibjpeg can decode
STORE_TRANSFER_SYNTAXES = [str(t) for t in (
    uids.ExplicitVRLittleEndian, uids.ImplicitVRLittleEndian, uids.DeflatedExplicitVRLittleEndian,
    uids.ExplicitVRBigEndian, uids.JPEGBaseline8Bit, uids.JPEGExtended12Bit, uids.JPEGLossless,
    uids.JPEGLosslessSV1, uids.JPEGLSLossless, uids.JPEGLSNearLossless, uids.JPEG2000Lossless,
    uids.JPEG2000, uids.RLELossless)]

# Status codes (PS3.4 Annex H, PS3.7 Annex C); what returns which is in the conformance statement.
SUCCESS = 0x0000
NO_SUCH_ATTRIBUTE = 0x0105
INVALID_ATTRIBUTE_VALUE = 0x0106
PROCESSING_FAILURE = 0x0110
DUPLICATE_INSTANCE = 0x0111
NO_SUCH_INSTANCE = 0x0112
CLASS_INSTANCE_CONFLICT = 0x0119
MISSING_ATTRIBUTE = 0x0120
MISSING_ATTRIBUTE_VALUE = 0x0121
NO_SUCH_ACTION = 0x0123
RESOURCE_LIMITATION = 0x0213
MEMORY_ALLOCATION_UNSUPPORTED = 0xB600    # warning: the film session is created all the same
EMPTY_SESSION = 0xB602                    # warning: no film box has an image; nothing printed
EMPTY_FILM_BOX = 0xB603                   # warning: no image box has an image; nothing printed
NO_FILM_BOX = 0xC600
SESSION_QUEUE_FULL = 0xC601               # the printer's queue (or the owner's limit) is full
FILM_BOX_QUEUE_FULL = 0xC602
IMAGE_TOO_LARGE = 0xC603
# C-STORE
STORE_OUT_OF_RESOURCES = 0xA700
STORE_NOT_AN_IMAGE = 0xA900               # data set does not match SOP class (no image in it)
STORE_CANNOT_UNDERSTAND = 0xC000

#: Print Job Execution Status by job state (PS3.3 C.13.8)
EXECUTION_STATUS = {"pending": "PENDING", "held": "PENDING", "processing": "PRINTING",
                    "completed": "DONE", "failed": "FAILURE", "canceled": "FAILURE"}
#: N-EVENT-REPORT Event Type ID of each Execution Status (PS3.4 H.4.5.1.2)
EVENT_TYPE = {"PENDING": 1, "PRINTING": 2, "DONE": 3, "FAILURE": 4}

# Association rejection (PS3.8 9.3.4): permanent, by the service user
REJECT_CALLING_AE = (1, 1, 3)
REJECT_CALLED_AE = (1, 1, 7)
