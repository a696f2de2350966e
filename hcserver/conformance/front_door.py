"""3.2.2 Front Door AE Specification: the print and store routes of the DICOM listener, from its
own tables (hcserver.dicom_in.sop, hcserver.dicom_in.films) and the configuration."""
from __future__ import annotations

from hcserver.config_dicom_in import DicomListener
from hcserver.conformance.context import Ctx, field_default, uid_name
from hcserver.conformance.markdown import Doc, Prose, code, hexcode, num
from hcserver.dicom_in import films, sop
from hcserver.drivers.dicom import status_policy as sp

words = Prose("front_door")

_USE = {
    sop.VERIFICATION: "C-ECHO",
    sop.GRAYSCALE_META: "Film Session, Film Box, Grayscale Image Box, Printer",
    sop.COLOR_META: "Film Session, Film Box, Color Image Box, Printer",
    sop.FILM_SESSION: "N-CREATE, N-SET, N-ACTION, N-DELETE",
    sop.FILM_BOX: "N-CREATE, N-SET, N-ACTION, N-DELETE",
    sop.GRAYSCALE_IMAGE_BOX: "N-SET",
    sop.COLOR_IMAGE_BOX: "N-SET",
    sop.PRINTER: "N-GET",
    sop.PRESENTATION_LUT: "N-CREATE, N-DELETE",
    sop.ANNOTATION_BOX: "N-SET",
    sop.PRINT_JOB: "N-GET; N-EVENT-REPORT sent",
}


def _setting(listener: DicomListener | None, name: str) -> str:
    value = getattr(listener, name) if listener is not None else field_default(DicomListener, name)
    return num(value) if isinstance(value, float) else str(value)


def front_door(doc: Doc, ctx: Ctx, n: str) -> None:
    listener = ctx.server.dicom_in
    doc.heading(n, "Front Door AE Specification (Print SCP and Storage SCP)")
    doc.para(words("off"))
    if listener is None:
        doc.para(words("no routes"))
    else:
        doc.para(words("routes"))
        doc.table("Routes of the DICOM listener", ["Called AE Title", "Service", "Printer"],
                  [[code(r.ae_title), r.service, code(r.printer)] for r in listener.routes.values()])
    doc.heading(f"{n}.1", "SOP Classes")
    doc.para(words("sop classes"))
    doc.table("Print SOP Classes of the Front Door AE", ["SOP Class Name", "SOP Class UID", "SCU", "SCP", "Use"],
              [[uid_name(uid), uid, "No", "Yes", _USE[uid]] for uid in sop.PRINT_CLASSES])
    doc.para(words("storage classes"))
    doc.table("Storage SOP Classes of the Front Door AE", ["SOP Class Name", "SOP Class UID"],
              [[uid_name(uid), uid] for uid in sop.STORE_CLASSES])
    doc.table("Transfer syntaxes accepted by the Front Door AE", ["Route", "Transfer Syntax Name", "UID"],
              [["print", uid_name(t), t] for t in sop.PRINT_TRANSFER_SYNTAXES]
              + [["store", uid_name(t), t] for t in sop.STORE_TRANSFER_SYNTAXES])
    doc.heading(f"{n}.2", "Association Acceptance Policy")
    doc.para(words("acceptance", **{k: _setting(listener, k) for k in (
        "max_associations", "max_pdu", "max_association_bytes", "max_message_bytes", "max_spool_bytes")}))
    doc.heading(f"{n}.3", "Print Route")
    doc.para(words("print behaviour", duplicate_window_s=_setting(listener, "duplicate_window_s")))
    for title, attributes in (("Basic Film Session", films.SESSION_ATTRIBUTES),
                              ("Basic Film Box", films.FILM_BOX_ATTRIBUTES),
                              ("Basic Grayscale and Color Image Box", films.IMAGE_BOX_ATTRIBUTES)):
        doc.table(f"{title} attributes accepted", ["Attribute", "Tag"],
                  [[keyword, _tag(keyword)] for keyword in sorted(attributes, key=_tag)])
    doc.heading(f"{n}.4", "Store Route")
    doc.para(words("store behaviour"))
    doc.heading(f"{n}.5", "Status Codes Returned")
    doc.para(words("statuses"))
    rows = []
    for (sop_class, operation), returned in sop.RETURNED.items():
        for status, reason in returned:
            rows.append([sop_class, operation, sp.category_of(status).title(), hexcode(status),
                         sp.meaning_of(status), reason])
    doc.table("Status codes returned by the Front Door AE", ["SOP Class", "Operation", "Service Status",
                                                             "Status Code", "Meaning", "When"], rows)


def _tag(keyword: str) -> str:
    from pydicom.datadict import tag_for_keyword
    tag = tag_for_keyword(keyword) or 0
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
