"""What DICOM says about the statuses of the Print Management SOP classes, as data.

* PS3.2 Annex N, tables N.7-52 to N.7-69 ("Status Codes ... - SCU"): the codes
  listed per (SOP class, operation), in the standard's order (:data:`ANNEX_N`),
  and their meanings as Annex N words them (:data:`MEANINGS`);
* PS3.7 Annex C: the category of any status code (:func:`category_of`).

What the Print SCU does with each code is :mod:`hcserver.drivers.dicom.status_policy`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

OPERATIONS = ("N-GET", "N-CREATE", "N-SET", "N-ACTION", "N-DELETE", "N-EVENT-REPORT")

SOP_CLASSES = (
    "printer", "film-session", "film-box", "grayscale-image-box", "color-image-box",
    "presentation-lut", "annotation-box", "print-job", "printer-configuration",
)

SOP_CLASS_UIDS: Mapping[str, str] = MappingProxyType({
    "printer": "1.2.840.10008.5.1.1.16",
    "film-session": "1.2.840.10008.5.1.1.1",
    "film-box": "1.2.840.10008.5.1.1.2",
    "grayscale-image-box": "1.2.840.10008.5.1.1.4",
    "color-image-box": "1.2.840.10008.5.1.1.4.1",
    "presentation-lut": "1.2.840.10008.5.1.1.23",
    "annotation-box": "1.2.840.10008.5.1.1.15",
    "print-job": "1.2.840.10008.5.1.1.14",
    "printer-configuration": "1.2.840.10008.5.1.1.16.376",
})

SOP_CLASS_NAMES: Mapping[str, str] = MappingProxyType({
    "printer": "Printer SOP Class",
    "film-session": "Basic Film Session SOP Class",
    "film-box": "Basic Film Box SOP Class",
    "grayscale-image-box": "Basic Grayscale Image Box SOP Class",
    "color-image-box": "Basic Color Image Box SOP Class",
    "presentation-lut": "Presentation LUT SOP Class",
    "annotation-box": "Basic Annotation Box SOP Class",
    "print-job": "Print Job SOP Class",
    "printer-configuration": "Printer Configuration Retrieval SOP Class",
})

CATEGORIES = ("success", "warning", "failure", "pending", "cancel")

# Meanings as PS3.2 Annex N words them.
MEANINGS: Mapping[int, str] = MappingProxyType({
    0x0000: "Success",
    0x0105: "No such Attribute",
    0x0106: "Invalid Attribute Value",
    0x0107: "Attribute List warning",
    0x0110: "Processing Failure",
    0x0111: "Duplicate SOP Instance",
    0x0112: "No such SOP Instance",
    0x0113: "No Such Event Type",
    0x0114: "No Such Argument",
    0x0115: "Invalid Argument Value",
    0x0116: "Attribute Value out of range",
    0x0117: "Invalid SOP Instance",
    0x0118: "No such SOP Class",
    0x0119: "Class-Instance conflict",
    0x0120: "Missing Attribute",
    0x0121: "Missing Attribute Value",
    0x0123: "No Such Action",
    0x0124: "Refused: Not authorized",
    0x0210: "Duplicate invocation",
    0x0211: "Unrecognized operation",
    0x0212: "Mistyped argument",
    0x0213: "Resource limitation",
    0xB600: "Memory allocation not supported",
    0xB601: "Film session printing (collation) is not supported",
    0xB602: "Film Session SOP Instance hierarchy does not contain Image Box SOP Instances (empty page)",
    0xB603: "Film Box SOP Instance hierarchy does not contain Image Box SOP Instances (empty page)",
    0xB604: "Image size is larger than Image Box size. The image has been demagnified.",
    0xB605: "Requested Min Density or Max Density outside of printer's operating range",
    0xB609: "Image size is larger than Image Box size. The image has been cropped to fit.",
    0xB60A: "Image size or Combined Print Image Size is larger than Image Box size. "
            "The image or combined Print Image has been decimated to fit.",
    0xC600: "Film Session SOP Instance hierarchy does not contain Film Box SOP Instances",
    0xC601: "Unable to create Print Job SOP Instance; print queue is full",
    0xC602: "Unable to create Print Job SOP Instance; print queue is full",
    0xC603: "Image size is larger than Image Box size",
    0xC605: "Insufficient memory in printer to store the image",
    0xC613: "Combined Print Image Size is larger than Image Box size",
    0xC616: "There is an existing Film Box that has not been printed and N-ACTION at the Film "
            "Session level is not supported. A new Film Box will not be created when a previous "
            "Film Box has not been printed",
})

# Codes no Annex N print table lists but PS3.7 names; used for unlisted codes.
OTHER_MEANINGS: Mapping[int, str] = MappingProxyType({
    0x0001: "Requested optional Attributes are not supported",
    0x0122: "SOP Class not supported",
    0xFE00: "Cancel",
    0xFF00: "Pending",
    0xFF01: "Pending (optional keys not supported)",
})

# Where one Annex N table words a meaning differently from MEANINGS.
TABLE_MEANINGS: Mapping[tuple[str, str, int], str] = MappingProxyType({
    ("film-session", "N-ACTION", 0x0000):
        "Film belonging to the film session are accepted for printing; "
        "if supported, the Print Job SOP Instance is created",
})


# ---------------------------------------------------------------------------
# PS3.2 Annex N, SCU tables: the codes listed per (SOP class, operation).

_CREATE_FAILURES = (0x0105, 0x0106, 0x0110, 0x0111, 0x0117, 0x0118, 0x0120, 0x0121, 0x0124,
                    0x0210, 0x0211, 0x0212, 0x0213)
_SET_FAILURES = (0x0105, 0x0106, 0x0110, 0x0111, 0x0117, 0x0118, 0x0119, 0x0120, 0x0121, 0x0124,
                 0x0210, 0x0211, 0x0212, 0x0213)
_DELETE_FAILURES = (0x0110, 0x0117, 0x0118, 0x0119, 0x0124, 0x0210, 0x0211, 0x0212, 0x0213)
_ACTION_FAILURES = (0x0110, 0x0112, 0x0114, 0x0115, 0x0117, 0x0118, 0x0119, 0x0123, 0x0124,
                    0x0210, 0x0211, 0x0212, 0x0213)
_GET_FAILURES = (0x0110, 0x0112, 0x0117, 0x0118, 0x0119, 0x0124, 0x0210, 0x0211, 0x0212, 0x0213)
_EVENT_FAILURES = (0x0110, 0x0112, 0x0113, 0x0114, 0x0115, 0x0117, 0x0118, 0x0119,
                   0x0210, 0x0211, 0x0212, 0x0213)


@dataclass(frozen=True)
class AnnexTable:
    number: str                      # "N.7-52"
    sop_class: str
    operation: str
    codes: tuple[int, ...]           # success, warnings, failures, in the standard's order


def _codes(*groups: tuple[int, ...] | int) -> tuple[int, ...]:
    out: list[int] = [0x0000]
    for group in groups:
        out.extend(group if isinstance(group, tuple) else (group,))
    return tuple(out)


ANNEX_N: tuple[AnnexTable, ...] = (
    AnnexTable("N.7-52", "film-session", "N-CREATE",
                _codes((0x0107, 0x0116, 0xB600), _CREATE_FAILURES)),
    AnnexTable("N.7-53", "film-session", "N-SET",
                _codes((0x0107, 0x0116, 0xB600), tuple(sorted(_SET_FAILURES + (0x0112,))))),
    AnnexTable("N.7-54", "film-session", "N-DELETE", _codes(_DELETE_FAILURES)),
    AnnexTable("N.7-55", "film-session", "N-ACTION",
                _codes((0xB601, 0xB602, 0xB604, 0xB609, 0xB60A), _ACTION_FAILURES,
                       (0xC600, 0xC601, 0xC603, 0xC613))),
    AnnexTable("N.7-56", "film-box", "N-CREATE",
                _codes((0x0107, 0x0116, 0xB605), _CREATE_FAILURES, 0xC616)),
    AnnexTable("N.7-57", "film-box", "N-SET",
                _codes((0x0107, 0x0116, 0xB605), _SET_FAILURES, 0xC616)),
    AnnexTable("N.7-58", "film-box", "N-DELETE", _codes(_DELETE_FAILURES)),
    AnnexTable("N.7-59", "film-box", "N-ACTION",
                _codes((0xB603, 0xB604, 0xB609, 0xB60A), _ACTION_FAILURES, (0xC602, 0xC603, 0xC613))),
    AnnexTable("N.7-60", "grayscale-image-box", "N-SET",
                _codes((0xB604, 0xB605, 0xB609, 0xB60A), _SET_FAILURES, (0xC603, 0xC605, 0xC613))),
    AnnexTable("N.7-61", "color-image-box", "N-SET",
                _codes((0xB604, 0xB609, 0xB60A), _SET_FAILURES, (0xC603, 0xC605, 0xC613))),
    AnnexTable("N.7-62", "printer", "N-EVENT-REPORT", _codes(_EVENT_FAILURES)),
    AnnexTable("N.7-63", "printer", "N-GET", _codes(0x0107, _GET_FAILURES)),
    AnnexTable("N.7-64", "annotation-box", "N-SET", _codes(_SET_FAILURES)),
    AnnexTable("N.7-65", "print-job", "N-EVENT-REPORT", _codes(_EVENT_FAILURES)),
    AnnexTable("N.7-66", "print-job", "N-GET", _codes(0x0107, _GET_FAILURES)),
    AnnexTable("N.7-67", "presentation-lut", "N-CREATE",
                _codes((0x0107, 0x0116, 0xB605), _CREATE_FAILURES)),
    AnnexTable("N.7-68", "presentation-lut", "N-DELETE", _codes(_DELETE_FAILURES)),
    AnnexTable("N.7-69", "printer-configuration", "N-GET", _codes(0x0107, _GET_FAILURES)),
)

#: "Table N.7-xx" per (SOP class, operation), for the conformance statement.
ANNEX_N_TABLES: Mapping[tuple[str, str], str] = MappingProxyType(
    {(t.sop_class, t.operation): f"Table {t.number}" for t in ANNEX_N})

#: The operations each SOP class has in the Annex N SCU tables.
OPERATIONS_BY_SOP_CLASS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    sop: tuple(op for op in OPERATIONS if (sop, op) in ANNEX_N_TABLES) for sop in SOP_CLASSES})


# ---------------------------------------------------------------------------
# Categories (PS3.7 Annex C).

def category_of(code: int) -> str:
    """The PS3.7 Annex C category of a status code.

    ``"success"`` (0x0000), ``"pending"`` (0xFF00, 0xFF01), ``"cancel"``
    (0xFE00), ``"warning"`` (0x0001, 0x0107, 0x0116, 0xB000-0xBFFF) or
    ``"failure"`` (everything else: 0x01xx/0x02xx, 0xA000-0xAFFF,
    0xC000-0xCFFF and unassigned codes).
    """
    if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 0xFFFF:
        raise ValueError(f"a DIMSE status code is an integer 0x0000-0xFFFF, got {code!r}")
    if code == 0x0000:
        return "success"
    if code in (0xFF00, 0xFF01):
        return "pending"
    if code == 0xFE00:
        return "cancel"
    if code in (0x0001, 0x0107, 0x0116) or 0xB000 <= code <= 0xBFFF:
        return "warning"
    return "failure"
