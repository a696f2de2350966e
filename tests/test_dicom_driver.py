"""DicomDriver, the Print Management SCU, against real peers.

* DCMTK's ``dcmprscp`` (a third-party Print SCP): what it stores is read back
  from its database (one SP_*.dcm per printed film, one HG_*.dcm per image).
* The bundled :class:`~hcserver.simulator.PrinterSimulator`, for
  statuses, printer status changes and connection faults dcmprscp cannot
  produce.

Film sheets are built by hand; the expected outcome of every status is
written here, not read from the status policy table.
"""
from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest
from pynetdicom import AE

from hcserver.drivers.base import Action, JobTicket, PrinterStatus, PrintFailure
from hcserver.drivers.dicom.event_reports import answer_event_report
from hcserver.formatter.film import FilmSheet, ImageBox
from hcserver.simulator import Fault, PrinterSimulator
from tests.support.ports import free_port
from tests.support.scu import RecordingObserver, expect_failure, gradient, printer, run_job, sheet


# --------------------------------------------------------------------------- dcmprscp
def test_three_grayscale_films_reach_dcmprscp(dcmprscp, drivers):
    driver = drivers(printer(dcmprscp.port, "PRINTSCP"))
    shapes = [(128, 100), (100, 128), (64, 64), (200, 150)]
    observer = run_job(driver, [sheet(i, shapes=shapes) for i in range(3)])

    films = dcmprscp.films()
    assert len(films) == 3 == dcmprscp.film_count()
    for film in films:
        assert film.display_format == "STANDARD\\2,2"
        assert film.film_size == "14INX17IN"
        assert film.orientation == "PORTRAIT"
        assert film.originator == "HCTEST"
        assert [(i.position, i.rows, i.columns) for i in film.images] == \
            [(p, r, c) for p, (r, c) in enumerate(shapes, start=1)]
        assert {(i.bits_allocated, i.bits_stored, i.photometric) for i in film.images} == \
            {(8, 8, "MONOCHROME2")}
    assert observer.warnings == []
    assert observer.statuses == [PrinterStatus("NORMAL", "NORMAL")]
    per_film = [("N-CREATE", "film-box")] + [("N-SET", "grayscale-image-box")] * 4 + \
        [("N-ACTION", "film-box"), ("N-DELETE", "film-box")]
    assert observer.operations() == [("N-GET", "printer"), ("N-CREATE", "film-session")] + \
        per_film * 3 + [("N-DELETE", "film-session")]
    assert all(status == 0x0000 for _, _, status, _, _ in observer.exchanges)
    # Each film is announced as accepted right after its N-ACTION, before its N-DELETE (so the
    # worker records it while the printer deletes the film box).
    assert [index for index, _, _ in observer.accepted] == [0, 1, 2]
    assert all(observer.operations()[seen - 1] == ("N-ACTION", "film-box") for _, _, seen in observer.accepted)
    assert len({output for _, output, _ in observer.accepted if output}) == 3   # the film box UIDs


def test_12_bit_images_reach_dcmprscp(dcmprscp, drivers):
    driver = drivers(printer(dcmprscp.port, "PRINTSCP", bit_depth=12))
    run_job(driver, [sheet(0, fmt="STANDARD\\1,2", bits=12, shapes=[(300, 200), (150, 120)])])
    (film,) = dcmprscp.films()
    assert film.display_format == "STANDARD\\1,2"
    assert [(i.rows, i.columns, i.bits_allocated, i.bits_stored) for i in film.images] == \
        [(300, 200, 16, 12), (150, 120, 16, 12)]


def test_association_is_reused_and_released_when_idle(dcmprscp, drivers):
    driver = drivers(printer(dcmprscp.port, "PRINTSCP"))
    run_job(driver, [sheet(0)])
    run_job(driver, [sheet(1), sheet(2)])
    assert driver.associations_opened == 1
    assert dcmprscp.film_count() == 3

    driver.idle()
    # dcmprscp serves one association at a time: another client only gets in
    # once ours is released.
    ae = AE(ae_title="OTHER")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 3
    ae.connection_timeout = 3
    ae.add_requested_context("1.2.840.10008.1.1")
    other = ae.associate("127.0.0.1", dcmprscp.port, ae_title="PRINTSCP")
    assert other.is_established
    assert other.send_c_echo().Status == 0x0000
    other.release()

    run_job(driver, [sheet(3)])
    assert driver.associations_opened == 2
    assert dcmprscp.film_count() == 4


def test_echo_and_status_against_dcmprscp(dcmprscp, drivers):
    driver = drivers(printer(dcmprscp.port, "PRINTSCP"))
    run_job(driver, [sheet(0)])          # holds an association: echo must not wait behind it
    result = driver.echo()
    assert result["ok"] is True
    assert result["echo_status"] == 0x0000
    assert (result["printer_status"], result["printer_status_info"]) == ("NORMAL", "NORMAL")
    assert result["seconds"] < 3
    assert driver.status() == PrinterStatus("NORMAL", "NORMAL")


def test_echo_of_an_unresponsive_printer_waits_for_it_once(dcmprscp, drivers):
    # A stopped dcmprscp takes the connection (the kernel queues it) and never answers the
    # association request: the echo waits the ACSE timeout once, and asks no N-GET after it.
    driver = drivers(printer(dcmprscp.port, "PRINTSCP", acse_timeout_s=2.0))
    dcmprscp.pause()
    try:
        start = time.monotonic()
        result = driver.echo()
        elapsed = time.monotonic() - start
    finally:
        dcmprscp.resume()
    assert result["ok"] is False and result["echo_status"] is None and result["printer_status"] is None
    assert "did not answer the association request within 2 s (ACSE timeout)" in result["error"]
    assert elapsed >= 2.0 * 0.9          # it waited the ACSE timeout (how much longer is no test's business)
    assert abs(result["seconds"] - elapsed) < 0.5


@pytest.mark.parametrize("in_session", [False, True])
def test_presentation_lut_with_dcmprscp(dcmprscp_factory, drivers, in_session):
    scp = dcmprscp_factory(plut_in_session=in_session)
    driver = drivers(printer(scp.port, "PRINTSCP", presentation_lut=True,
                             plut_in_film_session=in_session))
    observer = run_job(driver, [sheet(0), sheet(1)])
    assert scp.film_count() == 2
    assert observer.warnings == []
    ops = observer.operations()
    # created once, before the first film session (from which it is referenced) or film box that
    # references it (a film's own Presentation LUT is known only with the film)
    first = ("N-CREATE", "film-session") if in_session else ("N-CREATE", "film-box")
    assert ops.index(("N-CREATE", "presentation-lut")) == ops.index(first) - 1
    assert ops.count(("N-CREATE", "presentation-lut")) == 1
    assert ops[-1] == ("N-DELETE", "presentation-lut")


def test_dcmprscp_refusal_fails_the_job_and_next_job_prints(dcmprscp, drivers):
    driver = drivers(printer(dcmprscp.port, "PRINTSCP"))
    failure = expect_failure(driver, [sheet(0, film_size="A4")], Action.FAIL)
    assert "N-CREATE film-box" in failure.reason and "0x0106" in failure.reason
    run_job(driver, [sheet(1)])
    assert dcmprscp.film_count() == 1


# --------------------------------------------------------------------------- simulator: statuses
def test_film_attributes_reach_the_printer(sim, drivers):
    driver = drivers(printer(sim.port, configuration_information="PROFILE=1", memory_allocation=2048))
    s = sheet(0, fmt="STANDARD\\1,2", magnification="CUBIC", border_density="WHITE",
              empty_image_density="BLACK", min_density=20, max_density=300, trim="NO")
    boxes = (ImageBox(1, gradient(50, 40), polarity="REVERSE", requested_image_size_mm=150.5),
             ImageBox(2, gradient(30, 20)))
    s = FilmSheet(**{**s.__dict__, "boxes": boxes})
    ticket = JobTicket(job_id=7, copies=2, priority="HIGH", medium_type="BLUE FILM",
                       film_destination="PROCESSOR", label="job 7")
    run_job(driver, [s], ticket)
    (film,) = sim.films
    fs, fb = film["film_session"], film["film_box"]
    assert (fs["number_of_copies"], fs["print_priority"], fs["medium_type"], fs["film_destination"],
            fs["label"]) == (2, "HIGH", "BLUE FILM", "PROCESSOR", "job 7")
    assert fs["attributes"]["MemoryAllocation"] == 2048
    assert (fb["image_display_format"], fb["film_size_id"], fb["magnification_type"],
            fb["border_density"], fb["empty_image_density"], fb["min_density"], fb["max_density"],
            fb["trim"], fb["configuration_information"]) == \
        ("STANDARD\\1,2", "14INX17IN", "CUBIC", "WHITE", "BLACK", 20, 300, "NO", "PROFILE=1")
    first, second = film["image_boxes"]
    assert (first["position"], first["rows"], first["columns"], first["polarity"]) == (1, 50, 40, "REVERSE")
    assert float(first["requested_image_size"]) == pytest.approx(150.5)
    assert (second["rows"], second["columns"], second["bits_stored"]) == (30, 20, 8)
    assert film["calling_ae"] == "HCTEST"


def test_colour_job(tmp_path, drivers):
    with PrinterSimulator(port=0, out_dir=tmp_path / "films", color=True) as sim:
        driver = drivers(printer(sim.port, color=True))
        run_job(driver, [sheet(0, fmt="STANDARD\\1,1", color=True)],
                JobTicket(job_id=1, color=True))
        (film,) = sim.films
        assert film["color"] is True
        assert film["image_boxes"][0]["samples_per_pixel"] == 3


def test_rgb_pixels_on_a_grayscale_printer_fail(sim, drivers):
    driver = drivers(printer(sim.port))
    failure = expect_failure(driver, [sheet(0, fmt="STANDARD\\1,1", color=True)], Action.FAIL)
    assert "RGB" in failure.reason
    assert sim.films == []


def test_warning_status_is_recorded_and_printing_goes_on(sim, drivers):
    sim.add_fault(Fault("N-ACTION", "film-box", status=0xB604))
    driver = drivers(printer(sim.port))
    observer = run_job(driver, [sheet(0), sheet(1)])
    assert len(sim.films) == 2
    assert [(op, code) for op, code, _ in observer.warnings] == [("N-ACTION", 0xB604)]
    assert "demagnified" in observer.warnings[0][2]


def test_failure_status_fails_the_job_with_code_and_comment(sim, drivers):
    sim.add_fault(Fault("N-SET", "image-box", status=0xC603, nth=2, comment="box too small"))
    driver = drivers(printer(sim.port))
    observer = RecordingObserver()
    failure = expect_failure(driver, [sheet(0), sheet(1)], Action.FAIL, observer)
    assert "N-SET" in failure.reason and "grayscale-image-box" in failure.reason
    assert "0xC603" in failure.reason and "larger than Image Box size" in failure.reason
    assert "box too small" in failure.reason
    assert failure.status == 0xC603
    assert observer.exchanges[-1][:3] == ("N-SET", "grayscale-image-box", 0xC603)
    assert sim.films == []
    # The association was aborted: the next job starts afresh and prints.
    run_job(driver, [sheet(0)])
    assert len(sim.films) == 1
    assert driver.associations_opened == 2


def test_retry_status(sim, drivers):
    sim.add_fault(Fault("N-CREATE", "film-box", status=0x0213))
    driver = drivers(printer(sim.port))
    failure = expect_failure(driver, [sheet(0)], Action.RETRY)
    assert "0x0213" in failure.reason and "Resource limitation" in failure.reason


def test_status_policy_override(sim, drivers):
    sim.add_fault(Fault("N-ACTION", "film-box", status=0xC602, times=2))
    plain = drivers(printer(sim.port))
    failure = expect_failure(plain, [sheet(0)], Action.FAIL)
    assert "0xC602" in failure.reason and "print queue is full" in failure.reason
    tolerant = drivers(printer(sim.port, status_policy={"N-ACTION 0xC602": "retry"}))
    failure = expect_failure(tolerant, [sheet(0)], Action.RETRY)
    assert "0xC602" in failure.reason


@pytest.mark.parametrize("code", [0x0112, 0xC7FF])   # neither is listed for N-DELETE (PS3.2 N.7-58)
def test_unlisted_failure_of_film_box_n_delete_only_warns(sim, drivers, code):
    # N-DELETE is clean-up after the film was accepted: an unlisted failure warns as the listed
    # 0x0110 does, and the job goes on (it used to fail mid-way, by the per-category rule).
    sim.add_fault(Fault("N-DELETE", "film-box", status=code, perform=True))
    driver = drivers(printer(sim.port))
    observer = run_job(driver, [sheet(0), sheet(1)])
    assert len(sim.films) == 2
    assert [(op, status) for op, status, _ in observer.warnings] == [("N-DELETE", code)]


def test_association_is_released_after_a_failed_film_session_n_delete(drivers):
    # The printer kept the film session it did not delete; one that holds one film session per
    # association refuses the next job's N-CREATE. The failure warns, and the association is
    # released so that the next job starts on a new one.
    with PrinterSimulator(port=0, max_film_sessions=1) as sim:
        sim.add_fault(Fault("N-DELETE", "film-session", status=0x0110))
        driver = drivers(printer(sim.port))
        first = run_job(driver, [sheet(0)])
        assert [(op, code) for op, code, _ in first.warnings] == [("N-DELETE", 0x0110)]
        second = run_job(driver, [sheet(1)])     # refused with 0x0213 on the same association
        assert second.warnings == [] and len(sim.films) == 2
        assert driver.associations_opened == 2 and sim.releases == 1


def test_unlisted_failure_of_n_get_printer_stops_the_printer(sim, drivers):
    # 0x0105 is not listed for N-GET Printer (N.7-63); like the listed 0x0118 the printer cannot
    # say how it is: the printer stops, the job is kept (it used to fail).
    sim.add_fault(Fault("N-GET", "printer", status=0x0105))
    driver = drivers(printer(sim.port))
    failure = expect_failure(driver, [sheet(0)], Action.STOP_PRINTER)
    assert "0x0105" in failure.reason and "No such Attribute" in failure.reason
    assert "a failure status not listed for this operation" in failure.reason
    assert sim.received_count("N-CREATE") == 0
    sim.add_fault(Fault("N-GET", "printer", status=0x0105))
    with pytest.raises(PrintFailure) as polled:
        driver.status()
    assert polled.value.action is Action.STOP_PRINTER
    still = run_job(driver, [sheet(0)])
    assert len(sim.films) == 1 and still.warnings == []


# --------------------------------------------------------------------------- simulator: printer status
def test_printer_failure_on_n_get_stops_the_printer(tmp_path, drivers):
    with PrinterSimulator(port=0, printer_status=("FAILURE", "FILM JAM")) as sim:
        driver = drivers(printer(sim.port))
        observer = RecordingObserver()
        failure = expect_failure(driver, [sheet(0)], Action.STOP_PRINTER, observer)
        assert failure.reason == "printer status FAILURE: FILM JAM"
        assert observer.statuses == [PrinterStatus("FAILURE", "FILM JAM")]
        assert sim.received_count("N-CREATE") == 0
        assert driver.status() == PrinterStatus("FAILURE", "FILM JAM")
        sim.set_printer_status("NORMAL", "NORMAL")
        assert driver.status() == PrinterStatus("NORMAL", "NORMAL")
        run_job(driver, [sheet(0)])
        assert len(sim.films) == 1


def test_printer_warning_on_n_get_is_recorded(tmp_path, drivers):
    with PrinterSimulator(port=0, printer_status=("WARNING", "SUPPLY LOW")) as sim:
        driver = drivers(printer(sim.port))
        observer = run_job(driver, [sheet(0)])
        assert observer.warnings == [("N-GET", None, "printer status WARNING: SUPPLY LOW")]
        assert len(sim.films) == 1


def test_event_report_failure_mid_job_stops_the_printer(sim, drivers):
    sim.add_fault(Fault("N-SET", behaviour="event-report", event=("FAILURE", "FILM JAM"), nth=2))
    driver = drivers(printer(sim.port))
    observer = RecordingObserver()
    failure = expect_failure(driver, [sheet(0), sheet(1)], Action.STOP_PRINTER, observer)
    assert "FAILURE" in failure.reason and "FILM JAM" in failure.reason
    assert PrinterStatus("FAILURE", "FILM JAM") in observer.statuses
    # Raised right after the N-SET during which the report arrived; nothing else was sent.
    assert observer.operations()[-2:] == [("N-SET", "grayscale-image-box"),
                                          ("N-EVENT-REPORT", "printer")]
    assert sim.films == []
    assert sim.received_count("N-ACTION") == 0


def test_event_report_warning_is_recorded(sim, drivers):
    sim.add_fault(Fault("N-ACTION", behaviour="event-report", event=("WARNING", "SUPPLY LOW")))
    driver = drivers(printer(sim.port))
    observer = run_job(driver, [sheet(0), sheet(1)])
    assert len(sim.films) == 2
    assert ("N-EVENT-REPORT", None, "printer status WARNING: SUPPLY LOW") in observer.warnings
    assert PrinterStatus("WARNING", "SUPPLY LOW") in observer.statuses


def test_event_report_answers():
    answer = answer_event_report

    def event(sop: str, event_type: int):
        return SimpleNamespace(request=SimpleNamespace(AffectedSOPClassUID=sop, EventTypeID=event_type))

    printer_uid, job_uid = "1.2.840.10008.5.1.1.16", "1.2.840.10008.5.1.1.14"
    assert answer(event(printer_uid, 1)) == (0x0000, None)
    assert answer(event(printer_uid, 3)) == (0x0000, None)
    assert answer(event(printer_uid, 9)) == (0x0113, None)
    assert answer(event(job_uid, 4)) == (0x0000, None)
    assert answer(event("1.2.3", 1)) == (0x0118, None)


# --------------------------------------------------------------------------- simulator: connection faults
def test_abort_mid_film_retries_and_next_session_works(sim, drivers):
    sim.add_fault(Fault("N-SET", behaviour="abort", nth=3))
    driver = drivers(printer(sim.port))
    failure = expect_failure(driver, [sheet(0)], Action.RETRY)
    assert "N-SET" in failure.reason and "aborted" in failure.reason
    assert sim.films == []
    run_job(driver, [sheet(0)])
    assert len(sim.films) == 1
    assert driver.associations_opened == 2


def test_connection_closed_mid_film_retries(sim, drivers):
    sim.add_fault(Fault("N-ACTION", behaviour="close"))
    driver = drivers(printer(sim.port))
    expect_failure(driver, [sheet(0)], Action.RETRY)
    run_job(driver, [sheet(0)])
    assert len(sim.films) == 1


def test_stall_past_dimse_timeout_retries_without_wedging(sim, drivers):
    sim.add_fault(Fault("N-ACTION", behaviour="stall", stall_s=None))
    driver = drivers(printer(sim.port, dimse_timeout_s=1.0))
    start = time.monotonic()
    failure = expect_failure(driver, [sheet(0)], Action.RETRY)
    assert time.monotonic() - start < 4
    assert "DIMSE timeout" in failure.reason and "N-ACTION" in failure.reason
    run_job(driver, [sheet(0)])
    assert len(sim.films) == 1


def test_close_from_another_thread_ends_a_stalled_job(sim, drivers):
    sim.add_fault(Fault("N-SET", behaviour="stall", stall_s=None))
    driver = drivers(printer(sim.port, dimse_timeout_s=30.0))
    timer = threading.Timer(0.5, driver.close)
    timer.start()
    start = time.monotonic()
    try:
        expect_failure(driver, [sheet(0)], Action.RETRY)
    finally:
        timer.cancel()
    assert time.monotonic() - start < 5
    run_job(driver, [sheet(0)])        # usable again after close()
    assert len(sim.films) == 1


def test_dead_held_association_is_replaced(tmp_path, drivers):
    # The printer releases idle associations after half a second.
    with PrinterSimulator(port=0, network_timeout=0.5) as sim:
        driver = drivers(printer(sim.port))
        run_job(driver, [sheet(0)])
        time.sleep(1.5)
        run_job(driver, [sheet(1)])
        assert len(sim.films) == 2
        assert driver.associations_opened == 2


def test_lost_association_found_at_job_start_is_replaced(sim, drivers):
    driver = drivers(printer(sim.port))
    run_job(driver, [sheet(0)])
    sim.add_fault(Fault("N-GET", "printer", behaviour="abort"))
    observer = run_job(driver, [sheet(1)])
    assert len(sim.films) == 2
    assert driver.associations_opened == 2
    assert observer.statuses[-1] == PrinterStatus("NORMAL", "NORMAL")


def test_error_in_the_job_block_aborts_the_session(sim, drivers):
    driver = drivers(printer(sim.port))
    with pytest.raises(ZeroDivisionError):
        with driver.session(JobTicket(job_id=1), RecordingObserver()) as session:
            session.print_film(sheet(0))
            raise ZeroDivisionError("an error in the job block")
    assert sim.received_count("N-DELETE", "film-session") == 0
    run_job(driver, [sheet(1)])
    assert driver.associations_opened == 2
    assert len(sim.films) == 2


def test_connection_refused_retries(drivers):
    driver = drivers(printer(free_port()))
    failure = expect_failure(driver, [sheet(0)], Action.RETRY)
    assert "connection refused" in failure.reason
    with pytest.raises(PrintFailure) as info:
        driver.status()
    assert info.value.action is Action.RETRY
    result = driver.echo()
    assert result["ok"] is False and "connection refused" in result["error"]


def test_association_rejected_permanently_stops_the_printer(tmp_path, drivers):
    with PrinterSimulator(port=0, refuse=(1, 1, 3)) as sim:
        driver = drivers(printer(sim.port))
        failure = expect_failure(driver, [sheet(0)], Action.STOP_PRINTER)
        assert "rejected" in failure.reason
        assert "Rejected Permanent" in failure.reason
        assert "Calling AE title not recognised" in failure.reason


def test_no_accepted_presentation_context_retries(tmp_path, drivers):
    with PrinterSimulator(port=0, accept_contexts=False) as sim:
        driver = drivers(printer(sim.port))
        failure = expect_failure(driver, [sheet(0)], Action.RETRY)
        assert "none of the proposed presentation contexts" in failure.reason


def test_echo_and_status_against_the_simulator(sim, drivers):
    driver = drivers(printer(sim.port))
    sim.set_printer_status("WARNING", "SUPPLY LOW")
    result = driver.echo()
    assert result["ok"] is True and result["echo_status"] == 0x0000
    assert (result["printer_status"], result["printer_status_info"]) == ("WARNING", "SUPPLY LOW")
    assert driver.status() == PrinterStatus("WARNING", "SUPPLY LOW")
