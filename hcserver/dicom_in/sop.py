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
NO_SUCH_CLASS = 0x0118
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
STORE_NOT_SUPPORTED = 0x0122              # SOP class not supported (a C-STORE on a print route)

def is_failure(status: int) -> bool:
    """A failure (PS3.7 C): not success, and not a warning (0xBxxx, 0x0107, 0x0116)."""
    return status != SUCCESS and not 0xB000 <= status <= 0xBFFF and status not in (0x0107, 0x0116)


#: Print Job Execution Status by job state (PS3.3 C.13.8)
EXECUTION_STATUS = {"pending": "PENDING", "held": "PENDING", "processing": "PRINTING",
                    "completed": "DONE", "failed": "FAILURE", "canceled": "FAILURE"}
#: N-EVENT-REPORT Event Type ID of each Execution Status (PS3.4 H.4.5.1.2)
EVENT_TYPE = {"PENDING": 1, "PRINTING": 2, "DONE": 3, "FAILURE": 4}

# Association rejection (PS3.8 9.3.4): permanent, by the service user
REJECT_CALLING_AE = (1, 1, 3)
REJECT_CALLED_AE = (1, 1, 7)

#: What the front door answers, by SOP class and operation: every status code and why. The
#: conformance statement lists these (hcserver.conformance.front_door); the routes use the codes.
RETURNED: dict[tuple[str, str], tuple[tuple[int, str], ...]] = {
    ("Basic Film Session", "N-CREATE"): (
        (SUCCESS, "created (its Affected SOP Instance UID: the SCU's, else a new one)"),
        (MEMORY_ALLOCATION_UNSUPPORTED, "Memory Allocation given: ignored, the session is created"),
        (NO_SUCH_ATTRIBUTE, "an attribute outside the table below"),
        (INVALID_ATTRIBUTE_VALUE, "copies outside 1-99, a priority other than HIGH, MED, LOW, a medium or "
                                  "destination the printer does not list, an unknown Presentation LUT"),
        (DUPLICATE_INSTANCE, "a second film session on the association, or a UID in use"),
        (RESOURCE_LIMITATION, "the front door's images not yet printed fill max_spool_bytes")),
    ("Basic Film Session", "N-SET"): (
        (SUCCESS, "set"), (NO_SUCH_ATTRIBUTE, "as N-CREATE"), (INVALID_ATTRIBUTE_VALUE, "as N-CREATE"),
        (NO_SUCH_INSTANCE, "not this association's film session")),
    ("Basic Film Session", "N-ACTION"): (
        (SUCCESS, "its films that have an image are one job, committed and its images on disk"),
        (EMPTY_SESSION, "no film box has an image: nothing is queued"),
        (NO_FILM_BOX, "the film session has no film box"),
        (NO_SUCH_INSTANCE, "not this association's film session"),
        (NO_SUCH_ACTION, "an Action Type ID other than 1 (print)"),
        (INVALID_ATTRIBUTE_VALUE, "the printer cannot print the films (the Error Comment says why)"),
        (SESSION_QUEUE_FULL, "the printer is not accepting jobs, or the origin has max_jobs_per_owner queued")),
    ("Basic Film Session", "N-DELETE"): ((SUCCESS, "deleted with its film boxes"),
                                         (NO_SUCH_INSTANCE, "not this association's film session")),
    ("Basic Film Box", "N-CREATE"): (
        (SUCCESS, "created with its image boxes (and annotation boxes, with an Annotation Display Format ID)"),
        (NO_SUCH_ATTRIBUTE, "an attribute outside the table below"),
        (INVALID_ATTRIBUTE_VALUE, "a display format, film size, orientation, magnification, density or trim "
                                  "the printer does not take; an unknown film session or Presentation LUT"),
        (DUPLICATE_INSTANCE, "a UID in use"),
        (MISSING_ATTRIBUTE, "no Image Display Format or Referenced Film Session Sequence"),
        (MISSING_ATTRIBUTE_VALUE, "an empty Image Display Format")),
    ("Basic Film Box", "N-SET"): ((SUCCESS, "set"), (NO_SUCH_ATTRIBUTE, "as N-CREATE"),
                                  (INVALID_ATTRIBUTE_VALUE, "as N-CREATE"), (NO_SUCH_INSTANCE, "no such film box")),
    ("Basic Film Box", "N-ACTION"): (
        (SUCCESS, "the film is one job, committed and its images on disk"),
        (EMPTY_FILM_BOX, "no image box has an image: nothing is queued"),
        (NO_SUCH_INSTANCE, "no such film box"), (NO_SUCH_ACTION, "an Action Type ID other than 1 (print)"),
        (INVALID_ATTRIBUTE_VALUE, "the printer cannot print the film (the Error Comment says why)"),
        (FILM_BOX_QUEUE_FULL, "the printer is not accepting jobs, or the origin has max_jobs_per_owner queued")),
    ("Basic Film Box", "N-DELETE"): ((SUCCESS, "deleted with its image boxes"), (NO_SUCH_INSTANCE, "no such film box")),
    ("Basic Grayscale Image Box, Basic Color Image Box", "N-SET"): (
        (SUCCESS, "the image is on disk (fsynced)"),
        (NO_SUCH_ATTRIBUTE, "an attribute outside the table below"),
        (INVALID_ATTRIBUTE_VALUE, "a pixel module other than the table's, a position other than the box's, "
                                  "a polarity other than NORMAL or REVERSE, a Requested Image Size outside 0-1000"),
        (NO_SUCH_INSTANCE, "no such image box"),
        (CLASS_INSTANCE_CONFLICT, "a grayscale box set as colour, or the reverse"),
        (MISSING_ATTRIBUTE, "no image sequence, Rows, Columns or Pixel Data"),
        (MISSING_ATTRIBUTE_VALUE, "one of those empty"),
        (IMAGE_TOO_LARGE, "more pixels than max_image_pixels"),
        (RESOURCE_LIMITATION, "the spool is full, the association holds max_association_bytes, the calling AE "
                              "title's images not yet in a job max_upload_bytes_per_owner, or the front door's "
                              "images not yet printed max_spool_bytes")),
    ("Basic Annotation Box", "N-SET"): ((SUCCESS, "its text is kept for the film"),
                                        (NO_SUCH_INSTANCE, "no such annotation box")),
    ("Presentation LUT", "N-CREATE"): (
        (SUCCESS, "created"), (MISSING_ATTRIBUTE, "neither Presentation LUT Shape nor Sequence"),
        (INVALID_ATTRIBUTE_VALUE, "a shape other than IDENTITY, INVERSE, LIN OD")),
    ("Presentation LUT", "N-DELETE"): ((SUCCESS, "deleted"), (NO_SUCH_INSTANCE, "no such Presentation LUT")),
    ("Printer", "N-GET"): ((SUCCESS, "the target printer's last known status"),
                           (NO_SUCH_INSTANCE, "not the well-known Printer SOP Instance")),
    ("Print Job", "N-GET"): ((SUCCESS, "the job's Execution Status"),
                             (NO_SUCH_INSTANCE, "a Print Job this server does not know (or no longer)")),
    ("any", "any"): ((PROCESSING_FAILURE, "an unforeseen error (logged); the association goes on"),
                     (NO_SUCH_CLASS, "an operation the SOP class does not have, or on the other route's class")),
    ("Storage (image SOP classes)", "C-STORE"): (
        (SUCCESS, "the image is on disk, in the association's journal (fdatasynced)"),
        (STORE_OUT_OF_RESOURCES, "the spool is full, the association holds max_association_bytes, the calling "
                                 "AE title's images not yet in a job max_upload_bytes_per_owner, or the front "
                                 "door's images not yet printed max_spool_bytes"),
        (STORE_NOT_AN_IMAGE, "the data set has no pixel data"),
        (STORE_CANNOT_UNDERSTAND, "the data set cannot be read, or its first frame cannot be decoded")),
}
