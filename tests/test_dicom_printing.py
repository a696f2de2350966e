"""Printing through the daemon over real DICOM: to DCMTK's dcmprscp and to the printer simulator.

Expected outcomes are written here by hand from the documented behaviour
(drivers/dicom/status_policy.py docstring, README), not read back from the table.
"""
from __future__ import annotations

import re
import time

import numpy as np
import pytest

from hcserver.simulator import Fault, PrinterSimulator
from tests.support.configs import dicom_config
from tests.support.daemon import DaemonProcess
from tests.support.hcq import run_hcq
from tests.support.jobs import job_of
from tests.support.ports import free_port

pytestmark = [pytest.mark.dicom, pytest.mark.slow]   # every test starts a daemon process


@pytest.fixture
def simulator(tmp_path):
    with PrinterSimulator(port=0, out_dir=tmp_path / "films") as sim:
        yield sim


@pytest.fixture
def sim_daemon(simulator):
    process = DaemonProcess(dicom_config({"sim": simulator.port})).start()
    yield process
    process.cleanup()


# ---- DCMTK's dcmprscp: a real third-party Print SCP ----------------------------------------

@pytest.mark.parametrize("bit_depth", [8, 12])
def test_multi_film_job_arrives_at_dcmprscp(dcmprscp, images, bit_depth):
    process = DaemonProcess(dicom_config({"dcmtk": dcmprscp.port}, bit_depth=bit_depth)).start()
    try:
        with process.client() as hc:
            job = hc.submit({"printer": "dcmtk", "films": [
                {"film_size": "14INX17IN", "layout": "STANDARD\\2,2",
                 "frames": [images["CT_small.dcm"], images["MR_small.dcm"], images["CT_small.dcm"]]},
                {"film_size": "8INX10IN", "layout": "STANDARD\\1,2", "frames": [images["MR_small.dcm"]] * 2},
                {"film_size": "14INX17IN", "orientation": "LANDSCAPE", "layout": "STANDARD\\3,3",
                 "frames": [images["CT_small.dcm"]] * 9},
            ]})
            result = hc.wait(job, timeout=120)
            assert result["state"] == "completed", (result, process.log.read_text())
    finally:
        process.cleanup()
    films = dcmprscp.films()
    assert len(films) == 3
    by_format = {(f.display_format, f.film_size, f.orientation): f for f in films}
    assert set(by_format) == {("STANDARD\\2,2", "14INX17IN", "PORTRAIT"), ("STANDARD\\1,2", "8INX10IN", "PORTRAIT"),
                              ("STANDARD\\3,3", "14INX17IN", "LANDSCAPE")}
    # 14x17 in portrait at 40 dpi is 560x680 printer pixels; with 2 mm (3 px) gaps the 551 px
    # between them make 2,2 boxes 275 or 276 wide and 335 high, and a landscape 3,3 box
    # about 222x182: the square images are scaled to fit the box, aspect kept.
    first = by_format[("STANDARD\\2,2", "14INX17IN", "PORTRAIT")]
    assert len(first.images) == 3
    assert {(img.position, img.rows, img.columns) for img in first.images} == {
        (1, 275, 275), (2, 276, 276), (3, 275, 275)}
    landscape = by_format[("STANDARD\\3,3", "14INX17IN", "LANDSCAPE")].images
    assert {(img.rows, img.columns) for img in landscape} == {(182, 182), (183, 183)}
    for image in first.images + landscape:
        assert image.bits_stored == bit_depth and image.photometric == "MONOCHROME2"
    assert len(by_format[("STANDARD\\3,3", "14INX17IN", "LANDSCAPE")].images) == 9
    assert {f.originator for f in films} == {"HCSERVER"}


# ---- the simulator: every action category ------------------------------------------------

def test_warning_is_recorded_and_the_job_goes_on(sim_daemon, simulator, images):
    simulator.add_fault(Fault(operation="N-SET", status=0xB604))
    with sim_daemon.client() as hc:
        result = hc.wait(hc.submit(job_of(images, films=2)), timeout=60)
    assert result["state"] == "completed" and result["films_printed"] == 2
    assert [(w["operation"], w["status"]) for w in result["warnings"]] == [("N-SET", "0xB604")]
    assert "demagnified" in result["warnings"][0]["meaning"].lower()
    assert len(simulator.films) == 2


def test_failure_code_fails_the_job_with_its_meaning(sim_daemon, simulator, images):
    simulator.add_fault(Fault(operation="N-CREATE", sop_class="film-box", status=0x0106))
    with sim_daemon.client() as hc:
        result = hc.wait(hc.submit(job_of(images)), timeout=60)
    assert result["state"] == "failed" and result["attempts"] == 1
    assert "0x0106" in result["error"] and "invalid attribute value" in result["error"].lower()
    assert simulator.films == []


def test_retry_code_retries_and_resumes_without_reprinting(sim_daemon, simulator, images):
    # film 2's N-ACTION answers "resource limitation" (0x0213: retry by default)
    simulator.add_fault(Fault(operation="N-ACTION", status=0x0213, nth=2))
    with sim_daemon.client() as hc:
        result = hc.wait(hc.submit(job_of(images, films=3)), timeout=60)
        events = hc.show(result["id"])["events"]
    assert result["state"] == "completed" and result["attempts"] == 2
    assert [e["kind"] for e in events].count("retry") == 1
    assert len(simulator.films) == 3  # film 1 was not printed again


def test_retry_limit_fails_with_the_last_reason(sim_daemon, simulator, images):
    simulator.add_fault(Fault(operation="N-ACTION", status=0x0213, times=None))
    with sim_daemon.client() as hc:
        result = hc.wait(hc.submit(job_of(images)), timeout=60)
    assert result["state"] == "failed" and result["attempts"] == 4
    assert result["error"].startswith("gave up after 4 failed attempts") and "0x0213" in result["error"]


def test_abort_mid_film_resumes_at_the_next_unprinted_film(sim_daemon, simulator, images):
    simulator.add_fault(Fault(operation="N-SET", behaviour="abort", nth=6))  # film 2, second box
    with sim_daemon.client() as hc:
        result = hc.wait(hc.submit(job_of(images, films=3)), timeout=60)
        events = hc.show(result["id"])["events"]
    assert result["state"] == "completed" and result["attempts"] == 2
    retry = next(e for e in events if e["kind"] == "retry")
    assert "abort" in retry["reason"].lower()
    assert len(simulator.films) == 3


def test_printer_failure_stops_the_printer_until_normal(sim_daemon, simulator, images):
    simulator.set_printer_status("FAILURE", "FILM JAM")
    with sim_daemon.client() as hc:
        job = hc.submit(job_of(images))
        deadline = time.monotonic() + 30
        while not {p["name"]: p for p in hc.printers()}["sim"]["stopped"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        printer = {p["name"]: p for p in hc.printers()}["sim"]
        assert (printer["dicom_status"], printer["dicom_status_info"]) == ("FAILURE", "FILM JAM")
        assert hc.show(job)["state"] == "pending"
        simulator.set_printer_status("NORMAL", "NORMAL")
        result = hc.wait(job, timeout=60)   # resumes by itself: the stopped printer is polled
        assert result["state"] == "completed"
        assert {p["name"]: p for p in hc.printers()}["sim"]["stopped"] is False


@pytest.mark.parametrize("event, outcome", [("WARNING", "warning"), ("FAILURE", "stopped")])
def test_event_report_mid_job(sim_daemon, simulator, images, event, outcome):
    simulator.add_fault(Fault(operation="N-SET", behaviour="event-report", event=(event, "SUPPLY LOW"
                                                                                  if event == "WARNING"
                                                                                  else "COVER OPEN"), nth=2))
    with sim_daemon.client() as hc:
        job = hc.submit(job_of(images, films=2))
        if outcome == "warning":
            result = hc.wait(job, timeout=60)
            assert result["state"] == "completed"
            assert any("SUPPLY LOW" in (w.get("meaning") or "") for w in result["warnings"])
        else:
            deadline = time.monotonic() + 30
            while "stopped" not in " ".join(e["reason"] for e in hc.show(job)["events"]):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            result = hc.wait(job, timeout=60)  # the printer answers NORMAL to the poll: resumes
            assert result["state"] == "completed" and result["attempts"] == 2
    assert len(simulator.films) == 2


def test_printer_failure_reported_with_a_print_action_does_not_reprint_that_film(sim_daemon, simulator, images):
    # The N-ACTION of film 1 succeeds, and an N-EVENT-REPORT FAILURE comes with it.
    simulator.add_fault(Fault(operation="N-ACTION", behaviour="event-report", event=("FAILURE", "FILM JAM")))
    with sim_daemon.client() as hc:
        result = hc.wait(hc.submit(job_of(images, films=2)), timeout=60)
        events = hc.show(result["id"])["events"]
    assert result["state"] == "completed" and result["attempts"] == 2
    assert any(e["kind"] == "requeue" and "FILM JAM" in e["reason"] for e in events)
    assert len(simulator.films) == 2  # film 1 once, then film 2 after the printer came back


def test_disable_mid_job_stops_between_films_and_resumes_on_enable(sim_daemon, simulator, images):
    simulator.add_fault(Fault(operation="N-ACTION", behaviour="stall", stall_s=0.3, times=None))
    with sim_daemon.client() as hc:
        job = hc.submit(job_of(images, films=4))
        while hc.show(job)["films_printed"] < 1:
            time.sleep(0.02)
        hc.printer_admin("disable", "sim")
        deadline = time.monotonic() + 30
        while hc.show(job)["state"] != "pending":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        stopped_at = hc.show(job)["films_printed"]
        assert 1 <= stopped_at < 4
        time.sleep(0.5)
        assert hc.show(job)["films_printed"] == stopped_at   # nothing prints while disabled
        hc.printer_admin("enable", "sim")
        assert hc.wait(job, timeout=60)["state"] == "completed"
    assert len(simulator.films) == 4


def test_association_is_reused_then_released_when_idle(sim_daemon, simulator, images):
    with sim_daemon.client() as hc:
        for _ in range(3):
            assert hc.wait(hc.submit(job_of(images)), timeout=60)["state"] == "completed"
        assert (simulator.associations, simulator.open_associations) == (1, 1)
        assert {p["name"]: p for p in hc.printers()}["sim"]["association"] == "open"
        time.sleep(3)  # idle_release_s = 1.5
        assert (simulator.releases, simulator.open_associations) == (1, 0)
        assert {p["name"]: p for p in hc.printers()}["sim"]["association"] == "closed"
        assert hc.wait(hc.submit(job_of(images)), timeout=60)["state"] == "completed"
    assert simulator.associations == 2


def test_two_printers_print_at_the_same_time(tmp_path, images):
    stall = dict(operation="N-ACTION", behaviour="stall", stall_s=0.3, times=None)
    with PrinterSimulator(port=0, out_dir=tmp_path / "a", faults=[Fault(**stall)]) as a, \
            PrinterSimulator(port=0, out_dir=tmp_path / "b", faults=[Fault(**stall)]) as b:
        process = DaemonProcess(dicom_config({"a": a.port, "b": b.port})).start()
        try:
            with process.client() as hc:
                jobs = [hc.submit(job_of(images, films=4, printer=name)) for name in ("a", "b")]
                results = [hc.wait(job, timeout=60) for job in jobs]
        finally:
            process.cleanup()
    assert [r["state"] for r in results] == ["completed", "completed"]
    assert len(a.films) == len(b.films) == 4
    # Printed one after the other, all of one printer's films would come before the other's;
    # printed at the same time, the two spans of film times overlap.
    a_times = [film["time"] for film in a.films]
    b_times = [film["time"] for film in b.films]
    assert min(a_times) < max(b_times) and min(b_times) < max(a_times)


def test_higher_priority_job_preempts_between_films(sim_daemon, simulator, images):
    simulator.add_fault(Fault(operation="N-ACTION", behaviour="stall", stall_s=0.3, times=None))
    with sim_daemon.client() as hc:
        low = hc.submit(job_of(images, films=5, priority="low", label="LOW"))
        while hc.show(low)["films_printed"] < 1:
            time.sleep(0.02)
        high = hc.submit(job_of(images, films=1, priority="high", label="HIGH"))
        assert hc.wait(high, timeout=60)["state"] == "completed"
        assert hc.show(low)["films_printed"] < 5
        result = hc.wait(low, timeout=60)
        events = hc.show(low)["events"]
    assert result["state"] == "completed"
    assert [e["kind"] for e in events].count("preempt") == 1
    labels = [film["film_session"]["label"] for film in simulator.films]
    assert labels.count("LOW") == 5 and labels.count("HIGH") == 1
    first_high = labels.index("HIGH")
    assert 0 < first_high < 5  # printed in between the low job's films


def test_connection_refused_retries(images):
    process = DaemonProcess(dicom_config({"nowhere": free_port()})).start()  # nothing listens there
    try:
        with process.client() as hc:
            result = hc.wait(hc.submit(job_of(images, printer="nowhere")), timeout=60)
    finally:
        process.cleanup()
    assert result["state"] == "failed" and result["attempts"] == 4
    assert "refused" in result["error"].lower() or "connect" in result["error"].lower()


def test_capability_profile_refuses_what_the_printer_cannot_do_at_submit(simulator, images):
    profile = dicom_config({"sim": simulator.port}, film_sizes='["14INX17IN"]',
                           display_formats='["STANDARD\\\\1,1", "STANDARD\\\\2,2"]',
                           medium_types='["BLUE FILM"]', film_destinations='["PROCESSOR"]',
                           magnification_types='["REPLICATE", "CUBIC"]',
                           configuration_information='"PERCEPTION_LUT=KANAMORI"')
    process = DaemonProcess(profile).start()
    try:
        with process.client() as hc:
            refused = {
                "films[0].film_size": {"film_size": "8INX10IN"},
                "films[0].magnification": {"magnification": "BILINEAR"},
            }
            for field, change in refused.items():
                with pytest.raises(Exception, match=rf"{re.escape(field)}: .*not one of|{re.escape(field)}: "
                                                    rf"printer 'sim' accepts only"):
                    spec = job_of(images)
                    spec["films"][0].update(change)
                    hc.submit(spec)
            with pytest.raises(Exception, match=r"medium_type: 'PAPER' is not one of: BLUE FILM"):
                hc.submit(job_of(images, medium_type="PAPER"))
            with pytest.raises(Exception, match=r"film_destination: 'BIN_1' is not one of: PROCESSOR"):
                hc.submit(job_of(images, film_destination="BIN_1"))
            assert hc.list(all=True) == []
            result = hc.wait(hc.submit(job_of(images, medium_type="BLUE FILM")), timeout=60)
            assert result["state"] == "completed"
            # a layout it lacks is composed into the STANDARD\1,1 it lists, with a warning
            # (tests/test_film_fallbacks.py: refused where it lacks STANDARD\1,1 too)
            result = hc.wait(hc.submit(job_of(images, layout="STANDARD\\3,3", per_film=9,
                                              medium_type="BLUE FILM")), timeout=60)
            assert result["state"] == "completed" and result["warnings"], result
    finally:
        process.cleanup()
    film = simulator.films[-1]
    assert film["film_box"]["configuration_information"] == "PERCEPTION_LUT=KANAMORI"
    assert film["film_session"]["medium_type"] == "BLUE FILM"


def test_echo(sim_daemon, simulator):
    simulator.set_printer_status("WARNING", "SUPPLY LOW")
    with sim_daemon.client() as hc:
        answer = hc.echo("sim")
    assert answer["ok"] is True and answer["echo_status"] == 0
    assert (answer["printer_status"], answer["printer_status_info"]) == ("WARNING", "SUPPLY LOW")


def test_echo_of_a_printer_that_is_not_there(images):
    process = DaemonProcess(dicom_config({"nowhere": free_port()})).start()
    try:
        with process.client() as hc:
            answer = hc.echo("nowhere")
        result = run_hcq(None, "-s", process.socket, "echo", "nowhere")
    finally:
        process.cleanup()
    assert answer["ok"] is False and "refused" in answer["error"].lower()
    assert result.returncode != 0 and "did not answer" in result.stderr


def test_echo_of_an_unresponsive_printer_is_one_echo_bounded_by_its_timeouts():
    # The printer takes the connection and never answers the association request. The echo runs
    # once, on the idle worker, and the answer waits for it (it used to start a second echo on
    # another association after 5 s, both asking an N-GET after their C-ECHO: 4 associations,
    # 5 s + 2 x 2 x acse_timeout_s). The seconds reported are the ones the client waited.
    stall = Fault("A-ASSOCIATE", behaviour="stall", times=None)
    with PrinterSimulator(port=0, faults=[stall]) as sim:
        process = DaemonProcess(dicom_config({"sim": sim.port}, acse_timeout_s=6)).start()
        try:
            with process.client() as hc:
                start = time.monotonic()
                answer = hc.echo("sim")
                elapsed = time.monotonic() - start
        finally:
            process.cleanup()
    assert answer["ok"] is False and "within 6 s (ACSE timeout)" in answer["error"]
    assert sim.associations == 1
    assert elapsed >= 6 * 0.9            # it waited the ACSE timeout (how much longer is no test's business)
    assert abs(answer["seconds"] - elapsed) < 1


def test_job_printing_longer_than_max_job_time_is_aborted_and_retried(simulator, images):
    simulator.add_fault(Fault(operation="N-ACTION", behaviour="stall", stall_s=4))  # the first print only
    config = dicom_config({"sim": simulator.port}).replace("[server]", "[server]\nmax_job_time_s = 1", 1)
    config = config.replace("dimse_timeout_s = 3", "dimse_timeout_s = 30")
    process = DaemonProcess(config).start()
    try:
        with process.client() as hc:
            job = hc.submit(job_of(images))
            result = hc.wait(job, timeout=60)
            events = hc.show(job)["events"]
            other = hc.wait(hc.submit(job_of(images)), timeout=60)   # the worker is not wedged
    finally:
        process.cleanup()
    assert result["state"] == "completed" and result["attempts"] == 2
    retry = next(e for e in events if e["kind"] == "retry")
    assert "longer than max_job_time_s (1 s)" in retry["reason"]
    assert other["state"] == "completed"


def test_annotation_boxes_are_printed_by_a_printer_configured_for_them(simulator, images):
    config = dicom_config({"sim": simulator.port}, annotation_box="true", annotation_text_length="8")
    process = DaemonProcess(config).start()
    try:
        with process.client() as hc:
            spec = job_of(images)
            spec["films"][0]["annotation_boxes"] = ["CT CHEST", "ACCESSION 12345"]
            result = hc.wait(hc.submit(spec), timeout=60)
    finally:
        process.cleanup()
    assert result["state"] == "completed", result
    (film,) = simulator.films
    assert film["film_box"]["annotation_display_format_id"] == "ANNOTATION"
    assert film["annotations"] == [{"position": 1, "text": "CT CHEST"}, {"position": 2, "text": "ACCESSIO"}]


def test_annotation_boxes_are_refused_for_a_printer_without_them(sim_daemon, images):
    spec = job_of(images)
    spec["films"][0]["annotation_boxes"] = ["CT CHEST"]
    with sim_daemon.client() as hc:
        with pytest.raises(Exception, match=r"films\[0\]\.annotation_boxes: printer 'sim' is not configured"):
            hc.submit(spec)


def test_a_big_film_arrives_at_dcmprscp_pixel_for_pixel_through_the_mapped_hand_over(dcmprscp, images):
    # 8x10 in at 300 dpi and 12 bits is one box of about 14 MB: it comes back from the formatting
    # process through a file the daemon maps (hcserver.formatting) and is streamed into the N-SET
    # from the mapping (hcserver.drivers.dicom.mapped), not copied as bytes.
    import pydicom

    from hcserver import formatter
    from hcserver.formatting import HAND_OVER_BYTES

    config = dicom_config({"dcmtk": dcmprscp.port}, bit_depth=12).replace("dpi = 40", "dpi = 300")
    film = {"film_size": "8INX10IN", "layout": "STANDARD\\1,1", "magnification": "REPLICATE",
            "frames": [images["CT_small.dcm"]]}
    process = DaemonProcess(config).start()
    try:
        with process.client() as hc:
            result = hc.wait(hc.submit({"printer": "dcmtk", "films": [film, film]}), timeout=120)
            assert result["state"] == "completed", (result, process.log.read_text())
        assert list((process.dir / "var" / "formatted").iterdir()) == [], "nothing is left on disk"
    finally:
        process.cleanup()
    expected = formatter.format_film({**film, "frames": [{"image": "ct"}]}, {"ct": images["CT_small.dcm"]},
                                     formatter.PrinterProfile(dpi=300, bit_depth=12, magnification="REPLICATE"))
    wanted = expected.boxes[0].pixels
    assert wanted.nbytes > 10 * HAND_OVER_BYTES
    films = dcmprscp.films()
    assert len(films) == 2
    for stored in films:
        [image] = stored.images
        received = pydicom.dcmread(image.path).pixel_array
        assert received.shape == wanted.shape and np.array_equal(received, wanted)
