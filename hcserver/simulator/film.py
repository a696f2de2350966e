"""The Film Session, Film Box, Presentation LUT and Basic Annotation Box SOP classes: what the
SCU creates, sets, prints and deletes on an association, one handler per operation on a class
(see :data:`hcserver.simulator.operations.HANDLERS`)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from hcserver.simulator.layout import film_size_mm, parse_display_format
from hcserver.simulator.printer import print_job_reference
from hcserver.simulator.sop import (
    BasicAnnotationBox,
    BasicColorImageBox,
    BasicColorPrintManagementMeta,
    BasicGrayscaleImageBox,
    BasicGrayscalePrintManagementMeta,
)
from hcserver.simulator.state import AssocState, FilmBox, FilmSession, ImageBox, Result, copy_ds

if TYPE_CHECKING:
    from hcserver.simulator.scp import PrinterSimulator

ANNOTATION_BOXES = 2          # created per film box that names an Annotation Display Format ID


# --------------------------------------------------------------------------- Film Session
def create_film_session(sim: PrinterSimulator, event: Any, st: AssocState, inst: str | None,
                        answer: int | None) -> Result:
    attrs = copy_ds(event.attribute_list)
    copies = attrs.get("NumberOfCopies", 1)
    try:
        if copies is not None and int(copies) < 1:
            return Result(0x0106, comment="Number of Copies must be at least 1")
    except (TypeError, ValueError):
        return Result(0x0106, comment="bad Number of Copies")
    prio = attrs.get("PrintPriority")
    if prio and str(prio).upper() not in ("HIGH", "MED", "LOW"):
        return Result(0x0106, comment="Print Priority must be HIGH, MED or LOW")
    err = sim.capabilities.check_film_session(attrs) or check_plut_ref(st, attrs)
    if err:
        return err
    if sim.max_film_sessions is not None and len(st.sessions) >= sim.max_film_sessions:
        # as printers that keep one film session per association: delete the last one first
        return Result(0x0213, comment=f"at most {sim.max_film_sessions} film session(s) per association")
    uid, err = st.new_uid(inst)
    if err:
        return err
    assert uid is not None
    st.sessions[uid] = FilmSession(uid, attrs)
    return Result(0x0000, copy_ds(attrs), instance_uid=uid)


def set_film_session(sim: PrinterSimulator, event: Any, st: AssocState, inst: str | None, answer: int | None) -> Result:
    return set_attributes(event, st, st.sessions.get(inst or ""), "film session")


def action_film_session(sim: PrinterSimulator, event: Any, st: AssocState, inst: str | None,
                        answer: int | None) -> Result:
    session = st.sessions.get(inst or "")
    if session is None:
        return Result(0x0112, comment="no such film session")
    if event.action_type != 1:
        return Result(0x0123, comment="only action 1 (print)")
    if not session.film_boxes:
        return Result(0xC600, comment="film session has no film box")
    boxes = [st.film_boxes[u] for u in session.film_boxes]
    empty = all(not any(st.image_boxes[i].pixels for i in fb.image_boxes) for fb in boxes)
    natural = 0xB602 if empty else 0x0000
    status = natural if answer is None else answer
    for fb in boxes:
        sim.records.add_film(st, session, fb, status)
    return Result(natural, print_job_reference(sim, event, st, session))


def delete_film_session(sim: PrinterSimulator, event: Any, st: AssocState, inst: str | None,
                        answer: int | None) -> Result:
    session = st.sessions.pop(inst or "", None)
    if session is None:
        return Result(0x0112, comment="no such film session")
    for fb_uid in session.film_boxes:
        st.drop_film_box(fb_uid)
    return Result(0x0000)


# --------------------------------------------------------------------------- Film Box
def create_film_box(sim: PrinterSimulator, event: Any, st: AssocState, inst: str | None, answer: int | None) -> Result:
    attrs = copy_ds(event.attribute_list)
    seq = attrs.get("ReferencedFilmSessionSequence")
    if not seq:
        return Result(0x0120, comment="Referenced Film Session Sequence missing")
    session_uid = str(seq[0].get("ReferencedSOPInstanceUID", ""))
    session = st.sessions.get(session_uid)
    if session is None:
        return Result(0x0106, comment="Referenced Film Session unknown")
    fmt = attrs.get("ImageDisplayFormat")
    if not fmt:
        return Result(0x0120, comment="Image Display Format missing")
    try:
        kind, rects = parse_display_format(str(fmt))
    except ValueError as exc:
        return Result(0x0106, comment=str(exc)[:64])
    orientation = str(attrs.get("FilmOrientation") or "PORTRAIT").upper()
    if orientation not in ("PORTRAIT", "LANDSCAPE"):
        return Result(0x0106, comment="Film Orientation must be PORTRAIT or LANDSCAPE")
    size = str(attrs.get("FilmSizeID") or sim.capabilities.default_film_size).upper()
    if film_size_mm(size) is None:
        return Result(0x0106, comment=f"unknown Film Size ID {size}"[:64])
    err = sim.capabilities.check_film_box(attrs) or check_plut_ref(st, attrs)
    if err:
        return err
    uid, err = st.new_uid(inst)
    if err:
        return err
    assert uid is not None
    attrs.FilmOrientation = orientation
    attrs.FilmSizeID = size
    context = str(event.context.abstract_syntax)
    if context == BasicColorPrintManagementMeta:
        color = True
    elif context == BasicGrayscalePrintManagementMeta:
        color = False
    else:
        accepted = {str(cx.abstract_syntax) for cx in event.assoc.accepted_contexts}
        color = BasicColorImageBox in accepted and BasicGrayscaleImageBox not in accepted
    box_class = BasicColorImageBox if color else BasicGrayscaleImageBox
    fb = FilmBox(uid, session_uid, attrs, kind, rects, color)
    refs = []
    for pos in range(1, len(rects) + 1):
        ib_uid = str(generate_uid())
        st.image_boxes[ib_uid] = ImageBox(ib_uid, uid, pos, box_class)
        fb.image_boxes.append(ib_uid)
        item = Dataset()
        item.ReferencedSOPClassUID = box_class
        item.ReferencedSOPInstanceUID = ib_uid
        refs.append(item)
    rsp = copy_ds(attrs)
    rsp.ReferencedImageBoxSequence = Sequence(refs)
    if attrs.get("AnnotationDisplayFormatID"):
        arefs = []
        for pos in range(1, ANNOTATION_BOXES + 1):
            a_uid = str(generate_uid())
            st.annotations[a_uid] = {"uid": a_uid, "film_box": uid, "position": pos, "text": None}
            fb.annotation_boxes.append(a_uid)
            item = Dataset()
            item.ReferencedSOPClassUID = BasicAnnotationBox
            item.ReferencedSOPInstanceUID = a_uid
            arefs.append(item)
        rsp.ReferencedBasicAnnotationBoxSequence = Sequence(arefs)
    st.film_boxes[uid] = fb
    session.film_boxes.append(uid)
    return Result(0x0000, rsp, instance_uid=uid)


def set_film_box(sim: PrinterSimulator, event: Any, st: AssocState, inst: str | None, answer: int | None) -> Result:
    return set_attributes(event, st, st.film_boxes.get(inst or ""), "film box")


def action_film_box(sim: PrinterSimulator, event: Any, st: AssocState, inst: str | None, answer: int | None) -> Result:
    fb = st.film_boxes.get(inst or "")
    if fb is None:
        return Result(0x0112, comment="no such film box")
    if event.action_type != 1:
        return Result(0x0123, comment="only action 1 (print)")
    if sim.session_print_only:
        return Result(0xC616, comment="this printer prints whole film sessions only")
    empty = not any(st.image_boxes[i].pixels for i in fb.image_boxes)
    natural = 0xB603 if empty else 0x0000
    status = natural if answer is None else answer
    session = st.sessions[fb.session_uid]
    sim.records.add_film(st, session, fb, status)
    return Result(natural, print_job_reference(sim, event, st, session))


def delete_film_box(sim: PrinterSimulator, event: Any, st: AssocState, inst: str | None, answer: int | None) -> Result:
    fb = st.film_boxes.get(inst or "")
    if fb is None:
        return Result(0x0112, comment="no such film box")
    session = st.sessions.get(fb.session_uid)
    if session is not None and fb.uid in session.film_boxes:
        session.film_boxes.remove(fb.uid)
    st.drop_film_box(fb.uid)
    return Result(0x0000)


# --------------------------------------------------------------------------- Presentation LUT
def create_plut(sim: PrinterSimulator, event: Any, st: AssocState, inst: str | None, answer: int | None) -> Result:
    attrs = copy_ds(event.attribute_list)
    if "PresentationLUTShape" not in attrs and not attrs.get("PresentationLUTSequence"):
        return Result(0x0120, comment="Presentation LUT Shape or Sequence needed")
    shape = attrs.get("PresentationLUTShape")
    if shape and str(shape).upper() not in ("IDENTITY", "INVERSE", "LIN OD"):
        return Result(0x0106, comment="Presentation LUT Shape: IDENTITY, INVERSE or LIN OD")
    uid, err = st.new_uid(inst)
    if err:
        return err
    assert uid is not None
    st.pluts[uid] = attrs
    return Result(0x0000, None, instance_uid=uid)


def delete_plut(sim: PrinterSimulator, event: Any, st: AssocState, inst: str | None, answer: int | None) -> Result:
    if st.pluts.pop(inst or "", None) is None:
        return Result(0x0112, comment="no such presentation LUT")
    return Result(0x0000)


# --------------------------------------------------------------------------- Basic Annotation Box
def set_annotation(sim: PrinterSimulator, event: Any, st: AssocState, inst: str | None, answer: int | None) -> Result:
    ann = st.annotations.get(inst or "")
    if ann is None:
        return Result(0x0112, comment="no such annotation box")
    mods = event.modification_list
    ann["text"] = str(mods.get("TextString", "") or "")
    if "AnnotationPosition" in mods:
        ann["requested_position"] = int(mods.AnnotationPosition)
    return Result(0x0000)


# --------------------------------------------------------------------------- shared by the above
def set_attributes(event: Any, st: AssocState, instance: Any, what: str) -> Result:
    """N-SET of a film session or film box: its attributes, after the PLUT reference check."""
    if instance is None:
        return Result(0x0112, comment=f"no such {what}")
    mods = copy_ds(event.modification_list)
    err = check_plut_ref(st, mods)
    if err:
        return err
    instance.attrs.update(mods)
    return Result(0x0000)


def check_plut_ref(st: AssocState, attrs: Dataset) -> Result | None:
    """A failure if ``attrs`` reference a Presentation LUT the association did not create."""
    seq = attrs.get("ReferencedPresentationLUTSequence")
    if seq:
        ref = str(seq[0].get("ReferencedSOPInstanceUID", ""))
        if ref not in st.pluts:
            return Result(0x0106, comment="unknown Presentation LUT")
    return None
