"""3.2.1.3.1 Activity – Print a Job: the steps, the presentation contexts, and per SOP class
the attributes sent (the driver's own specs) and the status tables (templates/print_activity.md)."""
from __future__ import annotations

from hcserver.conformance import ae_specification
from hcserver.conformance.attributes import attribute_table
from hcserver.conformance.context import Ctx, proposed, uid_name, when_proposed
from hcserver.conformance.markdown import Doc, Prose, code, num
from hcserver.conformance.status import behaviour, status_table
from hcserver.drivers.base import Action
from hcserver.drivers.dicom import association as assoc
from hcserver.drivers.dicom import datasets
from hcserver.drivers.dicom import status_policy as sp
from hcserver.drivers.settings import PrinterConfig

words = Prose("print_activity")


def print_activity(doc: Doc, ctx: Ctx, n: str) -> None:
    doc.heading(n, "Activity – Print a Job")
    _description(doc, ctx, f"{n}.1", contexts_section=f"{n}.2")
    _contexts(doc, ctx, f"{n}.2")
    _common(doc, ctx, f"{n}.3")
    sections = [_printer, _film_session, _film_box, _grayscale_image_box]
    if ctx.used("color"):
        sections.append(_color_image_box)
    if ctx.used("presentation_lut"):
        sections.append(_presentation_lut)
    sections.append(_other_sop_classes)
    for number, section in enumerate(sections, start=4):
        section(doc, ctx, f"{n}.{number}")


def _description(doc: Doc, ctx: Ctx, n: str, contexts_section: str) -> None:
    doc.heading(n, "Description and Sequencing of Activities")
    plut = ctx.used("presentation_lut")
    doc.para(words("description"))
    steps = [words("step.associate", contexts_section=contexts_section), words("step.printer status")]
    if plut:
        steps.append(words("step.create plut.general" if ctx.printer is None else "step.create plut.printer"))
    steps += [words("step.film session"), _films_step(ctx), words("step.delete film session")]
    if plut:
        steps.append(words("step.delete plut"))
    steps.append(words("step.release", idle_release_s=num(ctx.server.idle_release_s)))
    doc.items(steps, numbered=True)
    doc.para(words("events"))
    doc.para(words("diagram.with plut" if plut else "diagram"))


def _session_printing(ctx: Ctx) -> bool:
    """Whether printing with N-ACTION on the film session is described."""
    return ctx.printer is None or ctx.printer.print_action == "film-session"


def _box_printing(ctx: Ctx) -> bool:
    return ctx.printer is None or ctx.printer.print_action == "film-box"


def _films_step(ctx: Ctx) -> str:
    if ctx.printer is None:
        return words("step.films.general", print_action=datasets.PRINT_ACTION)
    if not _session_printing(ctx):
        return words("step.films", print_action=datasets.PRINT_ACTION)
    n = ctx.printer.session_films
    return words("step.films.film session", print_action=datasets.PRINT_ACTION,
                 session_films="all the job's films" if n == 0 else f"every {n} films (`session_films`)")


def _contexts(doc: Doc, ctx: Ctx, n: str) -> None:
    doc.heading(n, "Proposed Presentation Contexts")
    rows = [[uid_name(uid), uid, *ae_specification.transfer_syntax_cells(), "SCU", "None", when_proposed(when)]
            for uid, when in proposed(ctx)]
    doc.table("Proposed presentation contexts for the activity Print a Job",
              ["Abstract Syntax Name", "Abstract Syntax UID", "Transfer Syntax Names", "Transfer Syntax UIDs",
               "Role", "Extended Negotiation", "Proposed"], rows)
    doc.para(words("contexts"))


def _common(doc: Doc, ctx: Ctx, n: str) -> None:
    doc.heading(n, "Common SOP Specific Conformance for all Print SOP Classes")
    doc.para(words("common"))
    doc.table("Actions of the status policy", ["Action", "Behavior"],
              [[a.value, behaviour(ctx, a, long=True)] for a in Action if a is not Action.OK]
              + [["ok", behaviour(ctx, Action.OK, code=0x0000)]])
    doc.para(words("failures"))
    retry, fail = behaviour(ctx, Action.RETRY), behaviour(ctx, Action.FAIL)
    rows = [
        [words("failure.connect"), behaviour(ctx, Action.RETRY, ending=None)],
        [words("failure.rejected"), words("failure.rejected.behaviour")],
        [words("failure.no context"), words("failure.no context.behaviour")],
        [words("failure.tls"), words("failure.tls.behaviour")],   # "as above": after the retried ones
        [words("failure.rejected permanent"),
         f"{behaviour(ctx, sp.rejection_action(sp.REJECTED_PERMANENT), ending=None)} "
         f"{words('failure.rejected permanent.behaviour')}"],
        [words("failure.no plut"), words("failure.no plut.behaviour")],
        [words("failure.timeout"), retry],
        [words("failure.lost"), retry],
        [words("failure.no image boxes"), fail],
        [words("failure.local"), fail],
        [words("failure.too long", max_job_time_s=num(ctx.server.max_job_time_s)), retry],
        [words("failure.held association lost"), words("failure.held association lost.behaviour")],
    ]
    doc.table("Communication failure behavior", ["Exception", "Behavior"], rows)
    p = ctx.printer
    doc.para(words("rules", reprint_in_doubt=f"`{p.reprint_in_doubt}` for this printer" if p is not None else
                   f"default `{PrinterConfig.reprint_in_doubt}`"))


def _heading(doc: Doc, n: str, sop: str) -> None:
    doc.heading(n, f"SOP Specific Conformance for the {sp.SOP_CLASS_NAMES[sop]}")


def _printer_status(ctx: Ctx, value: str) -> str:
    action = Action(sp.printer_status_action(value))
    if action is Action.OK:
        return words("printer status.ok")
    if action is Action.WARN:
        return words("printer status.warn" if value == "WARNING" else "printer status.unknown")
    return words("printer status.stopped", behaviour=behaviour(ctx, action, ending="released (A-RELEASE)",
                                                               long=True))


def _printer(doc: Doc, ctx: Ctx, n: str) -> None:
    _heading(doc, n, "printer")
    doc.para(words("printer.n-get", printer_instance=code(assoc.PRINTER_INSTANCE)))
    attribute_table(doc, ctx, datasets.PRINTER_STATUS, f"{sp.SOP_CLASS_NAMES['printer']} N-GET attributes requested")
    rows = [[shown, _printer_status(ctx, value)]
            for value, shown in (("NORMAL", "`NORMAL`"), ("WARNING", "`WARNING`"), ("FAILURE", "`FAILURE`"),
                                 ("", "empty or missing"), ("OTHER", "any other value"))]
    doc.table("Printer Status (2110,0010) handling", ["Printer Status", "Behavior"], rows)
    status_table(doc, ctx, "printer", "N-GET")
    doc.para(words("printer.n-event-report"))


def _film_session(doc: Doc, ctx: Ctx, n: str) -> None:
    _heading(doc, n, "film-session")
    doc.para(words("film session.n-create"))
    attribute_table(doc, ctx, datasets.FILM_SESSION)
    status_table(doc, ctx, "film-session", "N-CREATE")
    if _session_printing(ctx):
        doc.para(words("film session.n-action", print_action=datasets.PRINT_ACTION,
                       when="with `print_action = \"film-session\"`" if ctx.printer is None else
                       "when the job's films (or `session_films` of them) are in it"))
        status_table(doc, ctx, "film-session", "N-ACTION")
    doc.para(words("film session.n-delete"))
    status_table(doc, ctx, "film-session", "N-DELETE")


def _film_box(doc: Doc, ctx: Ctx, n: str) -> None:
    _heading(doc, n, "film-box")
    doc.para(words("film box.n-create"))
    attribute_table(doc, ctx, datasets.FILM_BOX)
    status_table(doc, ctx, "film-box", "N-CREATE")
    if not _box_printing(ctx):
        return     # its films are printed, and deleted, with the film session
    doc.para(words("film box.n-action", print_action=datasets.PRINT_ACTION,
                   when=" (with `print_action = \"film-box\"`, the default)" if ctx.printer is None else ""))
    status_table(doc, ctx, "film-box", "N-ACTION")
    doc.para(words("film box.n-delete"))
    status_table(doc, ctx, "film-box", "N-DELETE")


def _grayscale_image_box(doc: Doc, ctx: Ctx, n: str) -> None:
    _heading(doc, n, "grayscale-image-box")
    doc.para(words("grayscale image box.n-set"))
    attribute_table(doc, ctx, datasets.GRAYSCALE_IMAGE_BOX)
    status_table(doc, ctx, "grayscale-image-box", "N-SET")


def _color_image_box(doc: Doc, ctx: Ctx, n: str) -> None:
    _heading(doc, n, "color-image-box")
    doc.para(words("color image box.n-set.general" if ctx.printer is None else "color image box.n-set.printer"))
    attribute_table(doc, ctx, datasets.COLOR_IMAGE_BOX)
    status_table(doc, ctx, "color-image-box", "N-SET")


def _presentation_lut(doc: Doc, ctx: Ctx, n: str) -> None:
    _heading(doc, n, "presentation-lut")
    p = ctx.printer
    doc.para(words("presentation lut.n-create.general" if p is None else
                   "presentation lut.n-create.in film session" if p.plut_in_film_session else
                   "presentation lut.n-create.in film boxes"))
    attribute_table(doc, ctx, datasets.PRESENTATION_LUT)
    status_table(doc, ctx, "presentation-lut", "N-CREATE")
    doc.para(words("presentation lut.n-delete"))
    status_table(doc, ctx, "presentation-lut", "N-DELETE")


def _other_sop_classes(doc: Doc, ctx: Ctx, n: str) -> None:
    doc.heading(n, "Other Optional SOP Classes")
    for name, setting in (("annotation-box", "annotation_box"), ("print-job", "print_job"),
                          ("printer-configuration", None)):
        if not ctx.used(setting):
            continue
        doc.para(words("other sop class", name=sp.SOP_CLASS_NAMES[name], uid=code(assoc.SOP_CLASSES[name]),
                       use=ae_specification.words(f"use.{name}",
                                                  instance=code(assoc.PRINTER_CONFIGURATION_INSTANCE))))
        if name == "annotation-box":
            attribute_table(doc, ctx, datasets.ANNOTATION_BOX)
            status_table(doc, ctx, "annotation-box", "N-SET")
        else:
            spec = datasets.PRINT_JOB_STATUS if name == "print-job" else datasets.PRINTER_CONFIGURATION
            attribute_table(doc, ctx, spec, f"{sp.SOP_CLASS_NAMES[name]} N-GET attributes requested")
            status_table(doc, ctx, name, "N-GET")
