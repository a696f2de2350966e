"""The printer simulator, driven by plain pynetdicom SCU calls over 127.0.0.1."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, evt
from pynetdicom.sop_class import (
    BasicColorImageBox,
    BasicColorPrintManagementMeta,
    BasicFilmBox,
    BasicFilmSession,
    BasicGrayscaleImageBox,
    BasicGrayscalePrintManagementMeta,
    PresentationLUT,
    Printer,
    PrinterInstance,
    PrintJob,
    Verification,
)

from hcserver.simulator import Fault, PrinterSimulator, parse_display_format, parse_fault

pytestmark = pytest.mark.dicom

GRAY = BasicGrayscalePrintManagementMeta
COLOR = BasicColorPrintManagementMeta
REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- utilities
@pytest.fixture
def sim(tmp_path):
    with PrinterSimulator(port=0, out_dir=tmp_path / "films") as s:
        yield s


def connect(sim, contexts=(GRAY,), handlers=(), dimse_timeout=5.0, ae_title="TESTSCU"):
    ae = AE(ae_title=ae_title)
    ae.acse_timeout = 5
    ae.dimse_timeout = dimse_timeout
    ae.network_timeout = 10
    ae.connection_timeout = 5
    for cx in contexts:
        ae.add_requested_context(cx)
    assoc = ae.associate("127.0.0.1", sim.port, ae_title=sim.ae_title, evt_handlers=list(handlers),
                         max_pdu=131072)
    if assoc.is_established:
        assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return assoc


def create_session(assoc, meta=GRAY, **attrs):
    ds = Dataset()
    ds.NumberOfCopies = 1
    ds.PrintPriority = "MED"
    ds.MediumType = "BLUE FILM"
    for k, v in attrs.items():
        setattr(ds, k, v)
    uid = generate_uid()
    status, _ = assoc.send_n_create(ds, BasicFilmSession, uid, meta_uid=meta)
    assert status.Status == 0x0000
    return uid


def create_film_box(assoc, session_uid, fmt="STANDARD\\1,1", meta=GRAY, with_session_ref=True, **attrs):
    ds = Dataset()
    ds.ImageDisplayFormat = fmt
    ds.FilmOrientation = "PORTRAIT"
    ds.FilmSizeID = "8INX10IN"
    ds.MagnificationType = "BILINEAR"
    for k, v in attrs.items():
        setattr(ds, k, v)
    if with_session_ref:
        ref = Dataset()
        ref.ReferencedSOPClassUID = BasicFilmSession
        ref.ReferencedSOPInstanceUID = session_uid
        ds.ReferencedFilmSessionSequence = [ref]
    uid = generate_uid()
    status, rsp = assoc.send_n_create(ds, BasicFilmBox, uid, meta_uid=meta)
    return uid, status, rsp


def image_item(arr: np.ndarray, bits_stored: int = 8, color: bool = False, planar: int = 0) -> Dataset:
    item = Dataset()
    item.Rows, item.Columns = arr.shape[:2]
    if color:
        item.SamplesPerPixel = 3
        item.PhotometricInterpretation = "RGB"
        item.PlanarConfiguration = planar
        data = arr.transpose(2, 0, 1).tobytes() if planar else arr.tobytes()
    else:
        item.SamplesPerPixel = 1
        item.PhotometricInterpretation = "MONOCHROME2"
        data = arr.tobytes()
    item.BitsAllocated = 8 if bits_stored == 8 else 16
    item.BitsStored = bits_stored
    item.HighBit = bits_stored - 1
    item.PixelRepresentation = 0
    item.PixelData = data
    return item, data


def set_image(assoc, ref, item, meta=GRAY, position=1):
    ds = Dataset()
    ds.ImagePosition = position
    ds.Polarity = "NORMAL"
    if ref.ReferencedSOPClassUID == BasicColorImageBox:
        ds.BasicColorImageSequence = [item]
    else:
        ds.BasicGrayscaleImageSequence = [item]
    status, _ = assoc.send_n_set(ds, ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID, meta_uid=meta)
    return status.get("Status")


def wait_until(predicate, timeout=3.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def pdu_recorder():
    names: list[str] = []
    return names, (evt.EVT_PDU_RECV, lambda event: names.append(type(event.pdu).__name__))


def ramp(rows, cols, maximum=255, dtype=np.uint8):
    return (np.arange(rows * cols) % (maximum + 1)).astype(dtype).reshape(rows, cols)


# --------------------------------------------------------------------------- printing
def test_a_report_sent_as_the_connection_closes_is_dropped_not_raised(sim):
    # The simulator sends reports from its own threads; one put just as the SCU's release
    # completes (Sta13) made pynetdicom raise InvalidEventError in the network thread.
    assoc = connect(sim, contexts=(GRAY, Verification))
    try:
        accepted = next(a for a in sim._ae.active_associations if a.is_established)
        machine = accepted.dul.state_machine
        machine.current_state = "Sta13"
        try:
            machine.do_action("Evt9")      # a P-DATA request of the simulator's
            assert machine.current_state == "Sta13"
        finally:
            machine.current_state = "Sta6"
        assert assoc.send_c_echo().Status == 0x0000   # the association goes on
    finally:
        assoc.release()


def test_grayscale_film_is_printed_and_recorded(sim):
    assoc = connect(sim, contexts=(GRAY, PrintJob))
    try:
        status, printer = assoc.send_n_get([0x21100010, 0x21100020], Printer, PrinterInstance, meta_uid=GRAY)
        assert status.Status == 0 and printer.PrinterStatus == "NORMAL"
        session = create_session(assoc, FilmSessionLabel="case 1")
        box, status, rsp = create_film_box(assoc, session, fmt="STANDARD\\2,2", FilmSizeID="14INX17IN")
        assert status.Status == 0x0000
        refs = rsp.ReferencedImageBoxSequence
        assert len(refs) == 4 and {r.ReferencedSOPClassUID for r in refs} == {BasicGrayscaleImageBox}
        a = ramp(100, 80)
        b = ramp(33, 51)                      # odd length: the padding byte is not part of the md5
        item_a, data_a = image_item(a)
        item_b, data_b = image_item(b)
        assert set_image(assoc, refs[0], item_a, position=1) == 0
        assert set_image(assoc, refs[3], item_b, position=4) == 0
        status, reply = assoc.send_n_action(None, 1, BasicFilmBox, box, meta_uid=GRAY)
        assert status.Status == 0x0000
        job_uid = reply.ReferencedPrintJobSequence[0].ReferencedSOPInstanceUID
        status, job = assoc.send_n_get([0x21000020, 0x21000030], PrintJob, job_uid)
        assert status.Status == 0 and job.ExecutionStatus == "DONE"
        assert assoc.send_n_delete(BasicFilmBox, box, meta_uid=GRAY).Status == 0
        assert assoc.send_n_delete(BasicFilmSession, session, meta_uid=GRAY).Status == 0
    finally:
        assoc.release()

    assert len(sim.films) == 1
    film = sim.films[0]
    assert film["calling_ae"] == "TESTSCU" and film["color"] is False
    assert film["film_session"]["label"] == "case 1" and film["film_session"]["medium_type"] == "BLUE FILM"
    fb = film["film_box"]
    assert fb["image_display_format"] == "STANDARD\\2,2" and fb["image_boxes_total"] == 4
    assert fb["film_size_id"] == "14INX17IN" and fb["film_orientation"] == "PORTRAIT"
    boxes = {ib["position"]: ib for ib in film["image_boxes"]}
    assert set(boxes) == {1, 4}
    assert (boxes[1]["rows"], boxes[1]["columns"], boxes[1]["bits_stored"]) == (100, 80, 8)
    assert boxes[1]["md5"] == hashlib.md5(data_a).hexdigest()
    assert (boxes[4]["rows"], boxes[4]["columns"]) == (33, 51)
    assert boxes[4]["md5"] == hashlib.md5(data_b).hexdigest()
    assert boxes[4]["photometric_interpretation"] == "MONOCHROME2" and boxes[4]["polarity"] == "NORMAL"

    out = sim.out_dir
    assert json.loads((out / "film_0001.json").read_text())["image_boxes"] == film["image_boxes"]
    lines = (out / "films.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["film"] == 1
    with Image.open(out / "film_0001.png") as png:
        assert png.mode == "L" and png.height > png.width     # portrait 14x17

    ops = [(e["operation"], e["sop_class"], e["status"]) for e in sim.log if e["direction"] == "in"]
    assert ("N-ACTION", "film-box", 0) in ops and ("N-GET", "print-job", 0) in ops
    assert sim.received_count("N-SET") == 2 and sim.received_count("N-SET", "image-box") == 2
    assert sim.received_count("N-CREATE", "film-box") == 1


def print_one_film(assoc):
    """A film box with one image, printed; the Print Job UID of the N-ACTION's reply."""
    session = create_session(assoc)
    box, _, rsp = create_film_box(assoc, session)
    assert set_image(assoc, rsp.ReferencedImageBoxSequence[0], image_item(ramp(16, 16))[0]) == 0
    status, reply = assoc.send_n_action(None, 1, BasicFilmBox, box, meta_uid=GRAY)
    assert status.Status == 0x0000
    return reply.ReferencedPrintJobSequence[0].ReferencedSOPInstanceUID


def execution_status(assoc, job_uid):
    status, job = assoc.send_n_get([0x21000020, 0x21000030], PrintJob, job_uid)
    assert status.Status == 0x0000
    return job.ExecutionStatus, job.ExecutionStatusInfo


def test_print_jobs_progress_and_are_reported(tmp_path):
    reports = []

    def on_event(event):
        reports.append((event.event_type, str(event.request.AffectedSOPInstanceUID),
                        event.event_information.get("ExecutionStatusInfo")))
        return 0x0000, None

    with PrinterSimulator(port=0, print_job_seconds=0.6, print_job_events=True) as sim:
        assoc = connect(sim, contexts=(GRAY, PrintJob), handlers=[(evt.EVT_N_EVENT_REPORT, on_event)])
        try:
            job = print_one_film(assoc)
            assert execution_status(assoc, job) == ("PENDING", "QUEUED")
            assert wait_until(lambda: len(reports) == 2)
            assert reports == [(2, job, "NORMAL"), (3, job, "NORMAL")]      # PRINTING, DONE
            assert execution_status(assoc, job) == ("DONE", "NORMAL")
        finally:
            assoc.release()
        sent = [e for e in sim.log if e["operation"] == "N-EVENT-REPORT"]
        assert [(e["sop_class"], e["event"][0], e["status"]) for e in sent] == [
            ("print-job", "PRINTING", 0), ("print-job", "DONE", 0)]


def test_print_job_failure_fault(sim):
    sim.add_fault("N-ACTION:print-job-failure:comment=SUPPLY EMPTY")
    assoc = connect(sim, contexts=(GRAY, PrintJob))
    try:
        failed, done = print_one_film(assoc), print_one_film(assoc)
        assert execution_status(assoc, failed) == ("FAILURE", "SUPPLY EMPTY")
        assert execution_status(assoc, done) == ("DONE", "NORMAL")
    finally:
        assoc.release()
    assert len(sim.films) == 2     # the print action itself succeeded
    with pytest.raises(ValueError, match="goes with N-ACTION"):
        parse_fault("N-SET:print-job-failure")


def test_a_printer_of_whole_film_sessions_with_one_at_a_time():
    with PrinterSimulator(port=0, session_print_only=True, max_film_sessions=1) as sim:
        assoc = connect(sim)
        try:
            session = create_session(assoc)
            second = Dataset()
            second.NumberOfCopies = 1
            status, _ = assoc.send_n_create(second, BasicFilmSession, generate_uid(), meta_uid=GRAY)
            assert status.Status == 0x0213          # one film session at a time
            box, _, rsp = create_film_box(assoc, session)
            assert set_image(assoc, rsp.ReferencedImageBoxSequence[0], image_item(ramp(16, 16))[0]) == 0
            status, _ = assoc.send_n_action(None, 1, BasicFilmBox, box, meta_uid=GRAY)
            assert status.Status == 0xC616 and sim.films == []
            status, _ = assoc.send_n_action(None, 1, BasicFilmSession, session, meta_uid=GRAY)
            assert status.Status == 0x0000 and len(sim.films) == 1
            assert assoc.send_n_delete(BasicFilmSession, session, meta_uid=GRAY).Status == 0x0000
            create_session(assoc)                   # the next one, now the first is gone
        finally:
            assoc.release()


def test_color_film_and_film_session_print(sim):
    assoc = connect(sim, contexts=(COLOR,))
    try:
        session = create_session(assoc, meta=COLOR)
        rgb = np.random.default_rng(1).integers(0, 256, size=(40, 60, 3), dtype=np.uint8)
        boxes = []
        for planar in (0, 1):
            box, status, rsp = create_film_box(assoc, session, fmt="ROW\\1,2", meta=COLOR,
                                               FilmOrientation="LANDSCAPE")
            assert status.Status == 0
            refs = rsp.ReferencedImageBoxSequence
            assert len(refs) == 3 and refs[0].ReferencedSOPClassUID == BasicColorImageBox
            item, data = image_item(rgb, color=True, planar=planar)
            assert set_image(assoc, refs[1], item, meta=COLOR, position=2) == 0
            boxes.append(data)
        # the whole session: one film per film box
        status, _ = assoc.send_n_action(None, 1, BasicFilmSession, session, meta_uid=COLOR)
        assert status.Status == 0
    finally:
        assoc.release()
    assert sim.wait_for_films(2, timeout=1)
    for film, data in zip(sim.films, boxes):
        assert film["color"] is True and film["film_box"]["film_orientation"] == "LANDSCAPE"
        (ib,) = film["image_boxes"]
        assert ib["position"] == 2 and ib["samples_per_pixel"] == 3
        assert ib["photometric_interpretation"] == "RGB" and ib["md5"] == hashlib.md5(data).hexdigest()
    with Image.open(sim.out_dir / "film_0002.png") as png:
        assert png.mode == "RGB" and png.width > png.height


def test_12bit_images(sim):
    assoc = connect(sim)
    try:
        session = create_session(assoc)
        box, _, rsp = create_film_box(assoc, session)
        arr = ramp(64, 48, maximum=4095, dtype="<u2")
        item, data = image_item(arr, bits_stored=12)
        assert set_image(assoc, rsp.ReferencedImageBoxSequence[0], item) == 0
        assert assoc.send_n_action(None, 1, BasicFilmBox, box, meta_uid=GRAY)[0].Status == 0
    finally:
        assoc.release()
    (ib,) = sim.films[0]["image_boxes"]
    assert (ib["bits_allocated"], ib["bits_stored"], ib["high_bit"]) == (16, 12, 11)
    assert ib["pixel_bytes"] == 64 * 48 * 2 and ib["md5"] == hashlib.md5(data).hexdigest()


def test_8bit_only_printer_refuses_12bit(tmp_path):
    with PrinterSimulator(supports_12bit=False) as sim:
        assoc = connect(sim)
        try:
            session = create_session(assoc)
            _, _, rsp = create_film_box(assoc, session)
            item, _ = image_item(ramp(8, 8, 4095, "<u2"), bits_stored=12)
            assert set_image(assoc, rsp.ReferencedImageBoxSequence[0], item) == 0x0106
        finally:
            assoc.release()


def test_bad_requests_get_failure_statuses(sim):
    assoc = connect(sim, contexts=(GRAY, PresentationLUT, Verification))
    try:
        assert assoc.send_c_echo().Status == 0
        session = create_session(assoc)
        # real printers insist on Referenced Film Session Sequence
        _, status, _ = create_film_box(assoc, session, with_session_ref=False)
        assert status.Status == 0x0120
        _, status, _ = create_film_box(assoc, session, fmt="STANDARD\\x,y")
        assert status.Status == 0x0106
        _, status, _ = create_film_box(assoc, generate_uid())
        assert status.Status == 0x0106
        assert assoc.send_n_action(None, 1, BasicFilmBox, generate_uid(), meta_uid=GRAY)[0].Status == 0x0112
        assert assoc.send_n_delete(BasicFilmBox, generate_uid(), meta_uid=GRAY).Status == 0x0112
        # a film session without film boxes
        assert assoc.send_n_action(None, 1, BasicFilmSession, session, meta_uid=GRAY)[0].Status == 0xC600
        # Presentation LUT: created, referenced, deleted
        plut = Dataset()
        plut.PresentationLUTShape = "IDENTITY"
        plut_uid = generate_uid()
        assert assoc.send_n_create(plut, PresentationLUT, plut_uid)[0].Status == 0
        ref = Dataset()
        ref.ReferencedSOPClassUID = PresentationLUT
        ref.ReferencedSOPInstanceUID = plut_uid
        box, status, _ = create_film_box(assoc, session, ReferencedPresentationLUTSequence=[ref])
        assert status.Status == 0
        # nothing set: printed, with the empty-page warning
        assert assoc.send_n_action(None, 1, BasicFilmBox, box, meta_uid=GRAY)[0].Status == 0xB603
        assert assoc.send_n_delete(PresentationLUT, plut_uid).Status == 0
    finally:
        assoc.release()
    assert sim.films[-1]["film_box"]["presentation_lut"] == {"uid": plut_uid, "shape": "IDENTITY"}


# --------------------------------------------------------------------------- faults
def test_fault_status_failure_then_warning(sim):
    sim.add_fault(Fault(operation="N-ACTION", sop_class="film-box", status=0xC602))
    sim.add_fault("N-ACTION/film-box:0xB604:nth=2")
    assoc = connect(sim)
    try:
        session = create_session(assoc)
        box, _, rsp = create_film_box(assoc, session)
        item, _ = image_item(ramp(16, 16))
        set_image(assoc, rsp.ReferencedImageBoxSequence[0], item)
        status, _ = assoc.send_n_action(None, 1, BasicFilmBox, box, meta_uid=GRAY)
        assert status.Status == 0xC602 and sim.films == []          # failure: nothing printed
        status, _ = assoc.send_n_action(None, 1, BasicFilmBox, box, meta_uid=GRAY)
        assert status.Status == 0xB604 and len(sim.films) == 1      # warning: printed anyway
        status, _ = assoc.send_n_action(None, 1, BasicFilmBox, box, meta_uid=GRAY)
        assert status.Status == 0x0000 and len(sim.films) == 2      # both faults spent
    finally:
        assoc.release()
    assert sim.films[0]["status"] == 0xB604
    assert [e["fault"] for e in sim.log if e["operation"] == "N-ACTION"] == ["status", "status", None]


def test_fault_abort_on_second_n_set(sim):
    sim.add_fault(Fault(operation="N-SET", behaviour="abort", nth=2))
    pdus, recorder = pdu_recorder()
    assoc = connect(sim, handlers=[recorder])
    session = create_session(assoc)
    _, _, rsp = create_film_box(assoc, session, fmt="STANDARD\\2,1")
    item, _ = image_item(ramp(8, 8))
    refs = rsp.ReferencedImageBoxSequence
    assert set_image(assoc, refs[0], item) == 0
    assert set_image(assoc, refs[1], item, position=2) is None       # no answer...
    assert wait_until(lambda: assoc.is_aborted)
    assert "A_ABORT_RQ" in pdus                                     # ...an A-ABORT
    assert sim.log[-1]["operation"] == "N-SET" and sim.log[-1]["status"] is None


def test_fault_close_and_stall(sim):
    sim.add_fault(Fault(operation="N-GET", behaviour="stall", stall_s=0.3, status=0x0000))
    sim.add_fault(Fault(operation="N-CREATE", sop_class="film-session", behaviour="stall"))   # never
    assoc = connect(sim, dimse_timeout=0.5)
    t0 = time.monotonic()
    status, _ = assoc.send_n_get([0x21100010, 0x21100020], Printer, PrinterInstance, meta_uid=GRAY)
    assert status.Status == 0 and time.monotonic() - t0 >= 0.3
    status, _ = assoc.send_n_create(None, BasicFilmSession, generate_uid(), meta_uid=GRAY)
    assert "Status" not in status and assoc.is_aborted             # SCU gave up after its timeout

    sim.clear_faults()
    sim.add_fault("N-CREATE:close")
    pdus, recorder = pdu_recorder()
    assoc = connect(sim, handlers=[recorder])
    status, _ = assoc.send_n_create(None, BasicFilmSession, generate_uid(), meta_uid=GRAY)
    assert "Status" not in status
    assert wait_until(lambda: not assoc.is_established) and "A_ABORT_RQ" not in pdus
    # the simulator carries on
    assoc = connect(sim)
    assert assoc.is_established
    create_session(assoc)
    assoc.release()


def test_event_report_reaches_scu_handler(sim):
    received = []

    def on_event(event):
        received.append((event.event_type, event.request.AffectedSOPClassUID,
                         event.event_information.get("PrinterStatusInfo")))
        return 0x0000, None

    sim.add_fault(Fault(operation="N-ACTION", behaviour="event-report", event=("FAILURE", "FILM JAM"),
                        status=0xC602))
    assoc = connect(sim, handlers=[(evt.EVT_N_EVENT_REPORT, on_event)])
    try:
        session = create_session(assoc)
        box, _, _ = create_film_box(assoc, session)
        status, _ = assoc.send_n_action(None, 1, BasicFilmBox, box, meta_uid=GRAY)
        assert status.Status == 0xC602
        assert received == [(3, Printer, "FILM JAM")]
        # and one from outside any request, e.g. the printer recovering
        sim.set_printer_status("NORMAL", "NORMAL", notify=True)
        deadline = time.monotonic() + 2
        while len(received) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert received[1][0] == 1
        status, printer = assoc.send_n_get([0x21100010, 0x21100020], Printer, PrinterInstance, meta_uid=GRAY)
        assert printer.PrinterStatus == "NORMAL"
    finally:
        assoc.release()
    sent = [e for e in sim.log if e["operation"] == "N-EVENT-REPORT"]
    assert [e["event_type"] for e in sent] == [3, 1] and all(e["status"] == 0 for e in sent)


def test_event_after_the_response_does_not_wait_for_its_answer(sim):
    arrived: list[int] = []        # command fields, in the order they arrived

    def on_recv(event):
        arrived.append(event.message.command_set.CommandField)

    def on_event(event):
        return 0x0000, None

    def answered(count):
        return len([e for e in sim.log if e["operation"] == "N-EVENT-REPORT" and e["status"] == 0]) == count

    sim.add_fault("N-ACTION:event-after:event=WARNING/SUPPLY LOW:times=forever")
    assoc = connect(sim, handlers=[(evt.EVT_DIMSE_RECV, on_recv), (evt.EVT_N_EVENT_REPORT, on_event)])
    try:
        session = create_session(assoc)
        for n in (1, 2):
            box, _, rsp = create_film_box(assoc, session)
            assert set_image(assoc, rsp.ReferencedImageBoxSequence[0], image_item(ramp(16, 16))[0]) == 0
            status, _ = assoc.send_n_action(None, 1, BasicFilmBox, box, meta_uid=GRAY)
            assert status.Status == 0x0000
            # right behind the N-ACTION-RSP, answered by the handler
            assert wait_until(lambda count=n: answered(count)) and arrived[-2:] == [0x8130, 0x0100]
            # a plain pynetdicom SCU must not start a request while the event's thread runs
            time.sleep(0.05)
            assert assoc.send_n_delete(BasicFilmBox, box, meta_uid=GRAY).Status == 0x0000
    finally:
        assoc.release()
    assert len(sim.films) == 2
    sent = [e for e in sim.log if e["operation"] == "N-EVENT-REPORT"]
    report = (2, ["WARNING", "SUPPLY LOW"], 0x0000)    # event type, event, answer
    assert [(e["event_type"], e["event"], e["status"]) for e in sent] == [report] * 2
    # the answers were taken by the simulator, none was left to pynetdicom as a stray response
    assert [e["operation"] for e in sim.log].count("N-DELETE") == 2


def test_random_events_go_to_the_associations_in_use(tmp_path):
    with pytest.raises(ValueError):
        PrinterSimulator(random_events=-1)
    with PrinterSimulator(random_events=100, random_event=("WARNING", "SUPPLY LOW"), seed=7) as sim:
        infos = []

        def on_event(event):
            infos.append(event.event_information.PrinterStatusInfo)
            return 0x0000, None

        assoc = connect(sim, handlers=[(evt.EVT_N_EVENT_REPORT, on_event)])
        try:
            time.sleep(0.2)
            assert infos == []           # not in use yet: no request so far
            status, _ = assoc.send_n_get([0x21100010], Printer, PrinterInstance, meta_uid=GRAY)
            assert status.Status == 0x0000
            assert wait_until(lambda: len(infos) >= 5)
        finally:
            assoc.abort()                # no release: its wait for the reactor would race the events
        assert set(infos) == {"SUPPLY LOW"}
        sent = [e for e in sim.log if e["operation"] == "N-EVENT-REPORT"]
        assert len(sent) >= 5 and {e["status"] for e in sent} <= {0x0000, None}


def test_printer_status_and_association_faults(tmp_path):
    with PrinterSimulator(refuse=(1, 1, 3), printer_status=("FAILURE", "FILM JAM")) as sim:
        assoc = connect(sim)
        assert assoc.is_rejected
        rj = assoc.acceptor.primitive
        assert (rj.result, rj.result_source, rj.diagnostic) == (1, 1, 3)

        sim.refuse = None
        sim.add_fault(Fault(operation="A-ASSOCIATE", behaviour="reject", reject=(2, 3, 1), nth=2))
        sim.add_fault("A-ASSOCIATE:no-contexts:nth=3")
        assoc = connect(sim)
        status, printer = assoc.send_n_get([0x21100010, 0x21100020], Printer, PrinterInstance, meta_uid=GRAY)
        assert (printer.PrinterStatus, printer.PrinterStatusInfo) == ("FAILURE", "FILM JAM")
        assoc.release()
        assoc = connect(sim)
        assert assoc.is_rejected and assoc.acceptor.primitive.result == 2
        assoc = connect(sim)
        assert not assoc.is_established and assoc.accepted_contexts == []
        assert connect(sim).is_established


def test_grayscale_only_printer_rejects_color_context():
    with PrinterSimulator(color=False) as sim:
        assoc = connect(sim, contexts=(GRAY, COLOR))
        try:
            assert [cx.abstract_syntax for cx in assoc.accepted_contexts] == [GRAY]
        finally:
            assoc.release()


# --------------------------------------------------------------------------- parsing and CLI
def test_display_formats_and_fault_syntax():
    assert len(parse_display_format("STANDARD\\3,4")[1]) == 12
    assert len(parse_display_format("ROW\\2,3,1")[1]) == 6
    kind, rects = parse_display_format("COL\\2,1")
    assert kind == "COL" and rects[1] == (0.0, 0.5, 0.5, 0.5) and rects[2] == (0.5, 0.0, 0.5, 1.0)
    assert len(parse_display_format("SLIDE")[1]) == 20
    with pytest.raises(ValueError):
        parse_display_format("CUSTOM\\7")

    f = parse_fault("N-SET:abort:nth=2")
    assert (f.operation, f.behaviour, f.nth, f.times) == ("N-SET", "abort", 2, 1)
    f = parse_fault("N-ACTION/film-box:0xC602:times=forever:comment=queue full")
    assert (f.sop_class, f.status, f.times, f.comment) == ("film-box", 0xC602, None, "queue full")
    f = parse_fault("*:event-report:event=FAILURE:FILM JAM")
    assert f.operation is None and f.event == ("FAILURE", "FILM JAM")
    f = parse_fault("A-ASSOCIATE:reject:reject=1,1,7")
    assert f.reject == (1, 1, 7)
    f = parse_fault("N-ACTION:event-after:event=WARNING/SUPPLY LOW:times=forever")
    assert (f.behaviour, f.event, f.times) == ("event-after", ("WARNING", "SUPPLY LOW"), None)
    for bad in ("N-SET", "N-FOO:abort", "N-SET:explode", "N-SET:abort:nth=0", "A-ASSOCIATE:0xC602"):
        with pytest.raises(ValueError):
            parse_fault(bad)


def test_cli_runs_until_sigterm(tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "hcserver.simulator", "--port", "0", "--out", str(out),
         "--ae-title", "CLISIM", "--printer-status", "WARNING:SUPPLY LOW", "--fault", "N-GET:0x0110:nth=2",
         "--random-events", "0.001", "--random-event", "WARNING:SUPPLY LOW", "--seed", "3"],
        stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    try:
        line = proc.stderr.readline()
        assert "listening on 127.0.0.1:" in line, line
        port = int(line.split("127.0.0.1:")[1].split(",")[0].split()[0])
        sim = PrinterSimulator(port=port, ae_title="CLISIM")      # only used for its address
        assoc = connect(sim)
        status, printer = assoc.send_n_get([0x21100010, 0x21100020], Printer, PrinterInstance, meta_uid=GRAY)
        assert status.Status == 0 and printer.PrinterStatusInfo == "SUPPLY LOW"
        status, _ = assoc.send_n_get([0x21100010, 0x21100020], Printer, PrinterInstance, meta_uid=GRAY)
        assert status.Status == 0x0110
        assoc.release()
    finally:
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=10)[1]
    assert proc.returncode == 0
    assert rest.count("N-GET printer") == 2 and "0x0110" in rest
    assert out.is_dir()
