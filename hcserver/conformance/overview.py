"""The title, 1 Overview, 2 Introduction and 3.1 Implementation Model (templates/overview.md)."""
from __future__ import annotations

import hcserver
from hcserver.config import EMBEDDED_SOURCE
from hcserver.conformance.context import Ctx, proposed
from hcserver.conformance.markdown import Doc, Prose, code, num
from hcserver.drivers.dicom import association as assoc
from hcserver.drivers.dicom import status_policy as sp

words = Prose("overview")


def title(doc: Doc, ctx: Ctx) -> None:
    doc.heading("", "hcserver DICOM Conformance Statement")
    p = ctx.printer
    if p is not None:
        doc.para(words("title.printer", version=hcserver.__version__, printer=code(p.name),
                       ae_title=code(p.ae_title), address=code(f"{p.host}:{p.port}")))
    else:
        doc.para(words("title.general", version=hcserver.__version__))
    doc.para(words("generated"))


def overview(doc: Doc, ctx: Ctx) -> None:
    doc.heading("1", "Overview")
    doc.para(words("overview"))
    when = dict(proposed(ctx))

    def scu(uid: str) -> str:
        if uid not in when:
            return "No"
        return "Yes" if when[uid] in ("always", "yes") else f"Yes (with {when[uid]})"

    rows = [["Basic Grayscale Print Management Meta SOP Class", scu(assoc.GRAYSCALE_META), "No"],
            ["Basic Color Print Management Meta SOP Class", scu(assoc.COLOR_META), "No"]]
    for name in ("presentation-lut", "annotation-box", "print-job"):
        rows.append([sp.SOP_CLASS_NAMES[name], scu(assoc.SOP_CLASSES[name]), "No"])
    rows.append(["Verification SOP Class", "Yes", "No"])
    doc.table("Network services", ["SOP Classes", "User of Service (SCU)", "Provider of Service (SCP)"], rows)
    doc.para(words("media"))


def introduction(doc: Doc, ctx: Ctx) -> None:
    doc.heading("2", "Introduction")
    doc.heading("2.1", "Revision History")
    source = words("revision.embedded" if ctx.server.source == EMBEDDED_SOURCE else "revision.file")
    scope = f"printer {code(ctx.printer.name)}" if ctx.printer else "all printers"
    doc.table("Revision history", ["Document Version", "Description"],
              [[f"hcserver {hcserver.__version__}", words("revision", source=source, scope=scope)]])
    doc.heading("2.2", "Audience")
    doc.para(words("audience"))
    doc.heading("2.3", "Remarks")
    doc.para(words("remarks"))
    doc.heading("2.4", "Definitions, Terms and Abbreviations")
    doc.table_text("Definitions", words("definitions"))
    doc.heading("2.5", "References")
    doc.para(words("references"))


def implementation_model(doc: Doc, ctx: Ctx) -> None:
    doc.heading("3", "Networking")
    doc.heading("3.1", "Implementation Model")
    doc.heading("3.1.1", "Application Data Flow")
    p = ctx.printer
    calling = p.calling_ae_title if p is not None and p.calling_ae_title else ctx.server.ae_title
    doc.para(words("data flow", ae_title_padded=calling[:16].ljust(16)))
    doc.heading("3.1.2", "Functional Definition of AEs")
    doc.para(words("functional definition", ae_title=code(ctx.server.ae_title),
                   idle_release_s=num(ctx.server.idle_release_s)))
    doc.heading("3.1.3", "Sequencing of Real-World Activities")
    doc.para(words("sequencing", max_job_time_s=num(ctx.server.max_job_time_s)))
