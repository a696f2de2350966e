"""3.2.1 Print SCU AE Specification, but for the activity Print a Job (print_activity.py):
SOP classes, association policies, the other activities and association acceptance
(templates/ae_specification.md)."""
from __future__ import annotations

from hcserver.config import PrinterConfig
from hcserver.conformance.context import Ctx, field_default, implementation, proposed, uid_name, when_proposed
from hcserver.conformance.markdown import Doc, Prose, code, hexcode
from hcserver.conformance.status import behaviour
from hcserver.drivers.base import Action
from hcserver.drivers.dicom import association as assoc
from hcserver.drivers.dicom import event_reports, probe
from hcserver.drivers.dicom import status_policy as sp

words = Prose("ae_specification")

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"


def transfer_syntax_cells() -> list[str]:
    """The Transfer Syntax Names and UIDs cells of a presentation context row."""
    return ["; ".join(t.name for t in assoc.TRANSFER_SYNTAXES), "; ".join(str(t) for t in assoc.TRANSFER_SYNTAXES)]


def sop_classes(doc: Doc, ctx: Ctx, n: str) -> None:
    doc.heading(n, "SOP Classes")
    doc.para(words("sop classes"))
    when = dict(proposed(ctx))
    rows = [[uid_name(uid), uid, "Yes", "No", when_proposed(when[uid])]
            for uid in (assoc.GRAYSCALE_META, assoc.COLOR_META) if uid in when]
    doc.table("Meta SOP Classes of the Print SCU AE", ["SOP Class Name", "SOP Class UID", "SCU", "SCP", "Proposed"],
              rows)
    rows = []
    for name in ("film-session", "film-box", "grayscale-image-box", "color-image-box", "printer",
                 "presentation-lut", "annotation-box", "print-job", "printer-configuration"):
        uid = assoc.SOP_CLASSES[name]
        if ctx.printer is not None and name == "color-image-box" and not ctx.printer.color:
            continue
        if name in ("presentation-lut", "annotation-box", "print-job", "printer-configuration") and uid not in when:
            continue
        rows.append([sp.SOP_CLASS_NAMES[name], uid, "Yes", "No",
                     words(f"use.{name}", instance=code(assoc.PRINTER_CONFIGURATION_INSTANCE))])
    rows.append(["Verification SOP Class", assoc.VERIFICATION, "Yes", "No", words("use.verification")])
    doc.table("SOP Classes of the Print SCU AE", ["SOP Class Name", "SOP Class UID", "SCU", "SCP", "Use"], rows)
    doc.para(words("meta sop classes", printer_instance=code(assoc.PRINTER_INSTANCE)))


def association_policies(doc: Doc, ctx: Ctx, n: str) -> None:
    doc.heading(n, "Association Policies")
    doc.heading(f"{n}.1", "General")
    doc.para(words("application context"))
    doc.table("DICOM application context", ["Application Context Name", "Value"],
              [[uid_name(APPLICATION_CONTEXT), APPLICATION_CONTEXT]])

    def pdu(size: int) -> str:
        return f"{size} bytes" if size else "unlimited (0)"

    if ctx.printer is not None:
        rows = [[pdu(ctx.printer.max_pdu), "this printer's `max_pdu`"]]
    else:
        rows = [[pdu(field_default(PrinterConfig, "max_pdu")), "`max_pdu` default (per printer; 0: unlimited)"]]
        rows += [[pdu(p.max_pdu), f"printer {code(p.name)}"] for p in ctx.dicom]
    doc.table("Maximum PDU size", ["Maximum PDU size received", "Setting"], rows)
    doc.para(words("pdu"))

    doc.heading(f"{n}.2", "Number of Associations")
    doc.para(words("number of associations"))
    doc.table("Number of associations initiated by the Print SCU AE", ["Item", "Maximum"], [
        ["Simultaneous print associations per printer", "1"],
        ["Simultaneous associations per printer, `hcq echo` during a job included", "2"],
        ["Simultaneous associations in total", f"one per DICOM printer ({len(ctx.dicom)} configured)"]
        if ctx.printer is None else ["Printers this statement covers", "1"],
    ])
    doc.heading(f"{n}.3", "Asynchronous Nature")
    doc.para(words("asynchronous nature"))
    doc.table_text("Asynchronous nature", words("asynchronous nature.table"))

    doc.heading(f"{n}.4", "Implementation Identifying Information")
    uid, version, uid_set, version_set = implementation(ctx)
    doc.table("DICOM implementation class and version", ["Item", "Value", "Source"], [
        ["Implementation Class UID", uid,
         "`[server] implementation_class_uid`" if uid_set
         else "pynetdicom's (no `implementation_class_uid` configured)"],
        ["Implementation Version Name", version or "(none)",
         "`[server] implementation_version_name`" if version_set
         else "pynetdicom's (no `implementation_version_name` configured)"],
    ])


def other_activities(doc: Doc, ctx: Ctx, poll: str, verify: str) -> None:
    doc.heading(poll, "Activity – Poll a Stopped Printer")
    doc.para(words("poll", poll=ctx.poll()))
    doc.heading(verify, "Activity – Verify a Printer")
    doc.para(words("verify"))
    doc.table("Proposed presentation contexts for the activity Verify a Printer",
              ["Abstract Syntax Name", "Abstract Syntax UID", "Transfer Syntax Names", "Transfer Syntax UIDs",
               "Role", "Extended Negotiation"],
              [[uid_name(assoc.VERIFICATION), assoc.VERIFICATION, *transfer_syntax_cells(), "SCU", "None"]])
    doc.table_text("C-ECHO response status handling", words("echo statuses"))


def probe_activity(doc: Doc, n: str) -> None:
    doc.heading(n, "Activity – Probe a Printer")
    doc.para(words("probe", max_requests=str(probe.MAX_REQUESTS), time_limit=f"{probe.TIME_LIMIT_S:g} s"))
    doc.table("Proposed presentation contexts for the activity Probe a Printer",
              ["Abstract Syntax Name", "Abstract Syntax UID", "Transfer Syntax Names", "Transfer Syntax UIDs",
               "Role", "Extended Negotiation"],
              [[uid_name(uid), uid, *transfer_syntax_cells(), "SCU", "None"] for uid in probe.PROPOSED])


def _event_behaviour(ctx: Ctx, status: str) -> str:
    action = Action(sp.printer_status_action(status))
    if action is Action.OK:
        return words("event.ok")
    if action is Action.WARN:
        return words("event.warn")
    text = behaviour(ctx, action, long=True)
    return words("event.during a job", behaviour=text[:1].lower() + text[1:])


def acceptance(doc: Doc, ctx: Ctx, n: str) -> None:
    doc.heading(n, "Association Acceptance Policy")
    doc.para(words("acceptance"))
    rows = [["Printer", status.title(), str(etype), _event_behaviour(ctx, status)]
            for etype, status in event_reports.PRINTER_EVENTS.items()]
    rows += [["Print Job", status.title(), str(etype),
              words("event.print job failure" if status == "FAILURE" else "event.print job")]
             for etype, status in event_reports.PRINT_JOB_EVENTS.items()]
    rows.append(["Printer, Print Job", "*", "any other", words("event.unknown")])
    doc.table("N-EVENT-REPORT event types and behavior", ["SOP Class", "Event Type Name", "Event Type ID",
                                                           "Behavior"], rows)
    doc.para(words("event information"))
    rows = [[sp.category_of(number).title(), sp.meaning_of(number), hexcode(number), words(f"answer.{hexcode(number)}")]
            for number in event_reports.ANSWER_STATUSES]
    doc.table("N-EVENT-REPORT response status reasons", ["Service Status", "Further Meaning", "Status Code",
                                                         "Reason"], rows)
    doc.para(words("answered with a failure"))
