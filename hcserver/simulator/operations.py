"""Which handler carries out which operation on which SOP class, and how its result becomes
the answer pynetdicom sends.

An N-CREATE answered with a warning only carries the Affected SOP Instance UID if the handler
returns it in the *status* dataset (pynetdicom 3.0): see :func:`respond`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset
from pynetdicom.status import code_to_category

from hcserver.simulator import film, printer
from hcserver.simulator.image_box import set_image_box
from hcserver.simulator.sop import (
    META_MEMBERS,
    SOP_NAMES,
    BasicAnnotationBox,
    BasicColorImageBox,
    BasicFilmBox,
    BasicFilmSession,
    BasicGrayscaleImageBox,
    PresentationLUT,
    Printer,
    PrinterConfigurationRetrieval,
    PrintJob,
)
from hcserver.simulator.state import AssocState, Result

if TYPE_CHECKING:
    from hcserver.simulator.scp import PrinterSimulator

# (operation, SOP class) -> handler(sim, event, st, inst, answer): the simulator (for its settings,
# records and print jobs), pynetdicom's event, the association's state, the SOP Instance UID of
# the request, and the status a fault answers instead (None: the handler's own).
HANDLERS: dict[tuple[str, str], Callable[..., Result]] = {
    ("N-GET", Printer): printer.get_printer,
    ("N-GET", PrinterConfigurationRetrieval): printer.get_printer_config,
    ("N-GET", PrintJob): printer.get_print_job,
    ("N-CREATE", BasicFilmSession): film.create_film_session,
    ("N-CREATE", BasicFilmBox): film.create_film_box,
    ("N-CREATE", PresentationLUT): film.create_plut,
    ("N-SET", BasicFilmSession): film.set_film_session,
    ("N-SET", BasicFilmBox): film.set_film_box,
    ("N-SET", BasicGrayscaleImageBox): set_image_box,
    ("N-SET", BasicColorImageBox): set_image_box,
    ("N-SET", BasicAnnotationBox): film.set_annotation,
    ("N-ACTION", BasicFilmSession): film.action_film_session,
    ("N-ACTION", BasicFilmBox): film.action_film_box,
    ("N-DELETE", BasicFilmSession): film.delete_film_session,
    ("N-DELETE", BasicFilmBox): film.delete_film_box,
    ("N-DELETE", PresentationLUT): film.delete_plut,
}


def category(code: int) -> str:
    return code_to_category(int(code))


def perform(sim: PrinterSimulator, op: str, event: Any, st: AssocState, sop: str, inst: str | None,
            answer: int | None) -> Result:
    """Carry out a request. ``answer`` is the status a fault answers instead, which a print
    action records on its films."""
    context = str(event.context.abstract_syntax)
    if context in META_MEMBERS:
        if sop not in META_MEMBERS[context]:
            return Result(0x0118, comment=f"{SOP_NAMES.get(sop, sop)} is not in this meta class")
    elif context != sop:
        return Result(0x0119, comment="SOP class differs from the presentation context")
    if op == "C-ECHO":
        return Result(0x0000)
    handler = HANDLERS.get((op, sop))
    if handler is None:
        return Result(0x0211, comment=f"{op} not supported on {SOP_NAMES.get(sop, sop)}")
    return handler(sim, event, st, inst, answer)


def respond(op: str, req: Any, res: Result) -> Any:
    """What a pynetdicom handler returns for ``res``."""
    cat = category(res.status)
    status = Dataset()
    status.Status = res.status
    if res.comment and cat not in ("Success",):
        # LO: a backslash would split the value
        status.ErrorComment = res.comment.replace("\\", "/")[:64]
    ds = res.ds if cat in ("Success", "Warning") else None
    if op == "N-CREATE" and res.instance_uid and cat in ("Success", "Warning"):
        # pynetdicom copies status-dataset elements onto the response primitive
        status.AffectedSOPInstanceUID = res.instance_uid
        if cat == "Success" and req.AffectedSOPInstanceUID is None:
            # ...and on success insists on finding the UID in the attribute list
            ds = ds if ds is not None else Dataset()
            ds.AffectedSOPInstanceUID = res.instance_uid
    if op in ("N-DELETE", "C-ECHO"):
        return status
    return status, ds
