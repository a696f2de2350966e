"""Printers that misbehave: every case ends in a PrintFailure with the documented
action and a reason that says what happened, within the configured timeouts,
and the driver (and the worker, through a real daemon) is usable afterwards.

The misbehaviour comes from the bundled simulator's faults, including the ones
that write raw bytes on the association's connection (``garbage``,
``half-pdu``, ``wrong-message-id``) and leave attributes out of a response
(``malformed``). Expected actions and reasons are written here by hand:
connection problems, transient rejections and protocol errors are retried, a permanent
rejection stops the printer (README, "Status policy"); a response the films cannot be printed from fails the job;
an unknown printer status is a warning (status_policy.printer_status_action).
"""
from __future__ import annotations

import struct
import threading
import time

import pytest

from hcserver.drivers.base import Action, PrinterStatus
from hcserver.simulator import GARBAGE, Fault, PrinterSimulator, parse_fault
from tests.support.daemon import DaemonProcess
from tests.support.jobs import job_of
from tests.support.ports import free_port
from tests.support.scu import RecordingObserver, expect_failure, printer, run_job, sheet

# building blocks and fixtures (drivers, sim) of the driver tests:


def peer(sim: PrinterSimulator) -> str:
    return f"HCSIM@127.0.0.1:{sim.port}"


def still_prints(driver, sim: PrinterSimulator) -> None:
    """The driver was not wedged: the next job prints."""
    before = len(sim.films)
    run_job(driver, [sheet(9)])
    assert len(sim.films) == before + 1


# --------------------------------------------------------------------------- connecting
def test_connection_refused(drivers):
    port = free_port()
    driver = drivers(printer(port))
    start = time.monotonic()
    failure = expect_failure(driver, [sheet(0)], Action.RETRY)
    assert time.monotonic() - start < 3
    assert failure.reason == (f"cannot connect to printer HCSIM@127.0.0.1:{port}: "
                              "connection refused or host unreachable")
    assert failure.operation == "A-ASSOCIATE"


REJECTIONS = [
    # (source, reason): the words PS3.8 table 9-21 gives them, and a hint where it is ours to fix
    ((1, 1), "Service User", "No reason given", ""),
    ((1, 2), "Service User", "Application context name not supported", ""),
    ((1, 3), "Service User", "Calling AE title not recognised", " (our calling AE title is 'HCTEST')"),
    ((1, 7), "Service User", "Called AE title not recognised", " (we called it 'HCSIM')"),
    ((2, 1), "Service Provider (ACSE)", "No reason given", ""),
    ((2, 2), "Service Provider (ACSE)", "Protocol version not supported", ""),
    ((3, 1), "Service Provider (Presentation)", "Temporary congestion", ""),
    ((3, 2), "Service Provider (Presentation)", "Local limit exceeded", ""),
]


@pytest.mark.parametrize("result, result_words", [(1, "Rejected Permanent"), (2, "Rejected Transient")])
@pytest.mark.parametrize("source_reason, source_words, reason_words, hint", REJECTIONS,
                         ids=[f"{s}-{r}" for (s, r), *_ in REJECTIONS])
def test_association_rejected(sim, drivers, result, result_words, source_reason, source_words,
                              reason_words, hint):
    sim.add_fault(Fault("A-ASSOCIATE", behaviour="reject", reject=(result, *source_reason)))
    driver = drivers(printer(sim.port))
    failure = expect_failure(driver, [sheet(0)], Action.STOP_PRINTER if result == 1 else Action.RETRY)
    assert failure.reason == (f"association rejected by printer {peer(sim)}: {result_words}, "
                              f"source: {source_words}, reason: {reason_words}{hint}")
    assert sim.received_count("N-GET") == 0
    still_prints(driver, sim)


def test_no_accepted_presentation_context(sim, drivers):
    sim.add_fault(Fault("A-ASSOCIATE", behaviour="no-contexts"))
    driver = drivers(printer(sim.port))
    failure = expect_failure(driver, [sheet(0)], Action.RETRY)
    assert failure.reason.startswith(f"printer {peer(sim)} accepted none of the proposed presentation "
                                     "contexts (Basic Grayscale Print Management Meta")
    still_prints(driver, sim)


@pytest.mark.parametrize("behaviour, words", [
    ("abort", "the printer aborted the association (A-ABORT, source: service-user)"),
    ("close", "the printer closed the connection without an A-ABORT"),
])
def test_association_request_aborted_or_closed(sim, drivers, behaviour, words):
    sim.add_fault(Fault("A-ASSOCIATE", behaviour=behaviour))
    driver = drivers(printer(sim.port))
    failure = expect_failure(driver, [sheet(0)], Action.RETRY)
    assert words in failure.reason and "during negotiation" in failure.reason
    still_prints(driver, sim)


def test_association_request_unanswered_past_the_acse_timeout(sim, drivers):
    sim.add_fault(Fault("A-ASSOCIATE", behaviour="stall", stall_s=None))
    driver = drivers(printer(sim.port, acse_timeout_s=1.0))
    start = time.monotonic()
    failure = expect_failure(driver, [sheet(0)], Action.RETRY)
    assert time.monotonic() - start < 4
    assert failure.reason == (f"printer {peer(sim)} did not answer the association request within 1 s "
                              "(ACSE timeout)")
    still_prints(driver, sim)


# --------------------------------------------------------------------------- silence
def test_stall_past_the_dimse_timeout(sim, drivers):
    sim.add_fault(Fault("N-CREATE", "film-box", behaviour="stall", stall_s=None))
    driver = drivers(printer(sim.port, dimse_timeout_s=1.0))
    start = time.monotonic()
    failure = expect_failure(driver, [sheet(0)], Action.RETRY)
    assert time.monotonic() - start < 4
    assert failure.reason == (f"N-CREATE film-box: no response within 1 s (DIMSE timeout); association "
                              f"aborted ({peer(sim)})")
    still_prints(driver, sim)


def test_stall_forever_in_the_middle_of_a_pdu(sim, drivers):
    # Half a P-DATA-TF PDU, then nothing, the connection left open: pynetdicom's network
    # thread would wait in recv() for good, and its abort would wait for that thread.
    sim.add_fault(Fault("N-SET", behaviour="half-pdu", stall_s=60))
    driver = drivers(printer(sim.port, dimse_timeout_s=1.0))
    start = time.monotonic()
    failure = expect_failure(driver, [sheet(0)], Action.RETRY)
    assert time.monotonic() - start < 5
    assert failure.reason == ("N-SET grayscale-image-box: the printer stopped sending in the middle of a "
                              "P-DATA-TF PDU of 206 bytes (nothing more for 1 s); association ended "
                              f"({peer(sim)})")
    still_prints(driver, sim)


# --------------------------------------------------------------------------- bad bytes
def test_connection_closed_in_the_middle_of_a_pdu(sim, drivers):
    sim.add_fault(Fault("N-SET", behaviour="half-pdu", nth=2))
    driver = drivers(printer(sim.port))
    failure = expect_failure(driver, [sheet(0)], Action.RETRY)
    assert failure.reason == ("N-SET grayscale-image-box: the printer closed the connection in the middle "
                              "of a P-DATA-TF PDU (20 of 206 bytes received); association ended "
                              f"({peer(sim)})")
    assert sim.films == []
    still_prints(driver, sim)


RANDOM_BYTES = bytes.fromhex("9be1 07c4 5a3d 1f88 e2b0 4c71 d6a9 305e 8f12 c47b 6e0d 29f3 b58a 71c6")
GARBAGE_CASES = {
    "unknown PDU type": (GARBAGE, "the printer sent data that is not a DICOM PDU (unknown PDU type 0xA5)"),
    "random bytes": (RANDOM_BYTES, "the printer sent data that is not a DICOM PDU (unknown PDU type 0x9B)"),
    # a P-DATA-TF whose PDV item claims 16 bytes in a 6-byte PDU
    "undecodable P-DATA-TF": (b"\x04\x00" + struct.pack(">IIBB", 6, 16, 1, 3),
                              "the printer sent an invalid P-DATA-TF PDU that could not be decoded"),
    # well-formed PDUs that have no business here
    "A-RELEASE-RP": (b"\x06\x00" + struct.pack(">I", 4) + bytes(4),
                     "the printer sent an A-RELEASE-RP PDU, which is not allowed at this point"),
    "A-ASSOCIATE-RJ": (b"\x03\x00" + struct.pack(">I", 4) + bytes([0, 1, 1, 1]),
                       "the printer sent an A-ASSOCIATE-RJ PDU, which is not allowed at this point"),
}


@pytest.mark.parametrize("payload, words", GARBAGE_CASES.values(), ids=GARBAGE_CASES.keys())
def test_garbage_in_answer_to_a_request(sim, drivers, payload, words):
    sim.add_fault(Fault("N-ACTION", behaviour="garbage", payload=payload))
    driver = drivers(printer(sim.port, dimse_timeout_s=3.0))
    start = time.monotonic()
    failure = expect_failure(driver, [sheet(0)], Action.RETRY)
    assert time.monotonic() - start < 2.5          # at once, not at the DIMSE timeout
    assert failure.reason == f"N-ACTION film-box: {words}; association ended ({peer(sim)})"
    assert sim.films == []
    still_prints(driver, sim)


def test_response_to_another_message_id(sim, drivers):
    # Message IDs count up per association: N-GET Printer 1, N-GET Printer Configuration Retrieval 2
    # (the driver's first job asks it), N-CREATE film session 3, film box 4.
    sim.add_fault(Fault("N-CREATE", "film-box", behaviour="wrong-message-id"))
    driver = drivers(printer(sim.port))
    observer = RecordingObserver()
    failure = expect_failure(driver, [sheet(0)], Action.RETRY, observer)
    assert failure.reason == ("N-CREATE film-box: the printer's response answers Message ID 5, not the "
                              "request's 4 (Message ID Being Responded To), a DICOM protocol error; "
                              f"association aborted ({peer(sim)})")
    assert sim.received_count("N-SET") == 0
    assert observer.operations()[-1] == ("N-CREATE", "film-box")
    still_prints(driver, sim)


# --------------------------------------------------------------------------- A-ABORT at every step
STEPS = [
    # (operation, SOP class, nth matching request, films printed before the abort)
    ("N-GET", "printer", 1, 0),
    ("N-CREATE", "film-session", 1, 0),
    ("N-CREATE", "film-box", 1, 0),
    ("N-SET", "image-box", 1, 0),
    ("N-SET", "image-box", 2, 0),
    ("N-SET", "image-box", 3, 0),
    ("N-SET", "image-box", 4, 0),
    ("N-ACTION", "film-box", 1, 0),
    ("N-DELETE", "film-box", 1, 1),       # the film was printed: the failure comes after it
    ("N-DELETE", "film-session", 1, 1),
]


@pytest.mark.parametrize("operation, sop, nth, printed", STEPS,
                         ids=[f"{op}-{sop}-{nth}" for op, sop, nth, _ in STEPS])
def test_abort_at_every_step(sim, drivers, operation, sop, nth, printed):
    sim.add_fault(Fault(operation, sop, behaviour="abort", nth=nth))
    driver = drivers(printer(sim.port))
    failure = expect_failure(driver, [sheet(0)], Action.RETRY)
    name = "grayscale-image-box" if sop == "image-box" else sop
    assert failure.reason == (f"{operation} {name}: the printer aborted the association (A-ABORT, source: "
                              f"service-user); association ended ({peer(sim)})")
    assert failure.operation == operation
    assert len(sim.films) == printed
    assert sim.open_associations == 0
    still_prints(driver, sim)


@pytest.mark.parametrize("operation, sop", [("N-GET", "printer"), ("N-SET", "image-box"),
                                            ("N-DELETE", "film-session")])
def test_connection_closed_without_abort(sim, drivers, operation, sop):
    sim.add_fault(Fault(operation, sop, behaviour="close"))
    driver = drivers(printer(sim.port))
    failure = expect_failure(driver, [sheet(0)], Action.RETRY)
    assert "the printer closed the connection without an A-ABORT" in failure.reason
    still_prints(driver, sim)


# --------------------------------------------------------------------------- responses missing attributes
@pytest.mark.parametrize("fault, words", [
    (Fault("N-CREATE", "film-box", behaviour="malformed", omit=("ReferencedImageBoxSequence",)),
     "N-CREATE film-box: the printer's response for STANDARD\\2,2 holds no Referenced Image Box Sequence"),
    (Fault("N-CREATE", "film-box", behaviour="malformed", empty=("ReferencedImageBoxSequence",)),
     "N-CREATE film-box: the printer's response for STANDARD\\2,2 holds an empty Referenced Image Box "
     "Sequence (no image boxes)"),
    (Fault("N-CREATE", "film-box", behaviour="malformed",
           omit=("ReferencedImageBoxSequence/ReferencedSOPInstanceUID",)),
     "N-CREATE film-box: item 1 of the Referenced Image Box Sequence in the printer's response for "
     "STANDARD\\2,2 has no Referenced SOP Instance UID"),
], ids=["no sequence", "no image boxes", "item without instance UID"])
def test_film_box_response_without_image_boxes_fails(sim, drivers, fault, words):
    # Nothing can be printed from it, and asking again gets the same answer.
    sim.add_fault(fault)
    driver = drivers(printer(sim.port))
    failure = expect_failure(driver, [sheet(0)], Action.FAIL)
    assert failure.reason == words
    assert sim.received_count("N-SET") == 0 and sim.films == []
    still_prints(driver, sim)


def test_printer_status_missing_from_n_get_is_a_warning(sim, drivers):
    sim.add_fault(Fault("N-GET", "printer", behaviour="malformed", omit=("PrinterStatus",)))
    driver = drivers(printer(sim.port))
    observer = run_job(driver, [sheet(0)])
    assert observer.warnings == [("N-GET", None, "printer status unknown: the N-GET Printer response holds "
                                  "no Printer Status (2110,0010) (Printer Status Info: NORMAL)")]
    assert observer.statuses == [PrinterStatus("", "NORMAL")]
    assert len(sim.films) == 1


def test_fault_command_line_forms():
    assert parse_fault("N-SET:garbage:payload=ff00000000020000").payload == bytes.fromhex("ff00000000020000")
    half = parse_fault("N-ACTION/film-box:half-pdu:stall=30")
    assert (half.behaviour, half.sop_class, half.stall_s) == ("half-pdu", "film-box", 30.0)
    assert parse_fault("N-CREATE/film-box:wrong-message-id").behaviour == "wrong-message-id"
    malformed = parse_fault("N-CREATE/film-box:malformed:omit=ReferencedImageBoxSequence/ReferencedSOPClassUID,"
                            "FilmSizeID:empty=ReferencedImageBoxSequence")
    assert malformed.omit == ("ReferencedImageBoxSequence/ReferencedSOPClassUID", "FilmSizeID")
    assert malformed.empty == ("ReferencedImageBoxSequence",)
    for spec, words in [("N-GET:malformed", "needs omit= or empty="),
                        ("N-GET:abort:omit=PrinterStatus", "go with the 'malformed' behaviour"),
                        ("N-GET:0x0110:payload=00", "goes with the 'garbage' behaviour"),
                        ("N-GET:garbage:payload=xyz", "hexadecimal"),
                        ("A-ASSOCIATE:garbage", "not valid for A-ASSOCIATE")]:
        with pytest.raises(ValueError, match=words):
            parse_fault(spec)


# --------------------------------------------------------------------------- never wedged
@pytest.mark.slow
def test_a_stuck_printer_does_not_hold_up_another(tmp_path, drivers):
    half = Fault("N-SET", behaviour="half-pdu", stall_s=60)
    with PrinterSimulator(port=0, faults=[half]) as bad, PrinterSimulator(port=0) as good:
        stuck = drivers(printer(bad.port, dimse_timeout_s=3.0))
        fine = drivers(printer(good.port))
        outcome: dict[str, object] = {}

        def print_on_the_stuck_one() -> None:
            try:
                run_job(stuck, [sheet(0)])
            except Exception as exc:  # noqa: BLE001 - the test looks at it
                outcome["failure"] = exc
            outcome["done"] = time.monotonic()

        thread = threading.Thread(target=print_on_the_stuck_one)
        thread.start()
        deadline = time.monotonic() + 5
        while half.fired == 0:                      # the N-SET got half an answer
            assert time.monotonic() < deadline
            time.sleep(0.01)
        run_job(fine, [sheet(0), sheet(1)])         # while the other one waits mid-PDU
        assert len(good.films) == 2 and "done" not in outcome
        thread.join(10)
        assert not thread.is_alive()
        failure = outcome["failure"]
        assert getattr(failure, "action", None) is Action.RETRY
        assert "stopped sending in the middle of a P-DATA-TF PDU" in failure.reason
        run_job(stuck, [sheet(1)])
        assert len(bad.films) == 1


DAEMON_CONFIG = """
[server]
state_dir = "@STATE@"
retry_interval_s = 0.2
retry_max_interval_s = 0.5
retry_limit = 3
idle_release_s = 1.5

[printers.good]
driver = "dicom"
ae_title = "HCSIM"
host = "127.0.0.1"
port = {good}
dpi = 40
dimse_timeout_s = 3
status_poll_s = 0.3

[printers.bad]
driver = "dicom"
ae_title = "HCSIM"
host = "127.0.0.1"
port = {bad}
dpi = 40
dimse_timeout_s = 6
status_poll_s = 0.3
"""


@pytest.mark.dicom
@pytest.mark.slow
def test_daemon_prints_on_one_printer_while_the_other_misbehaves(tmp_path, images):
    # The bad printer stops in the middle of its first answer and leaves the connection
    # open; from then on it answers every request with bytes that are no PDU.
    half = Fault("N-GET", "printer", behaviour="half-pdu", stall_s=60)
    faults = [half, Fault(None, None, behaviour="garbage", times=None)]
    with PrinterSimulator(port=0, faults=faults) as bad, \
            PrinterSimulator(port=0, out_dir=tmp_path / "good") as good:
        process = DaemonProcess(DAEMON_CONFIG.format(good=good.port, bad=bad.port)).start()
        try:
            with process.client() as hc:
                bad_job = hc.submit(job_of(images, printer="bad"))
                deadline = time.monotonic() + 20
                while half.fired == 0:
                    assert time.monotonic() < deadline
                    time.sleep(0.02)
                good_job = hc.submit(job_of(images, films=2, printer="good"))
                assert hc.wait(good_job, timeout=60)["state"] == "completed"
                assert hc.show(bad_job)["state"] not in ("completed", "failed")   # still on its first try
                result = hc.wait(bad_job, timeout=60)
                events = hc.show(bad_job)["events"]
                # the bad printer's worker is not wedged: once the printer behaves, it prints
                bad.clear_faults()
                assert hc.wait(hc.submit(job_of(images, printer="bad")), timeout=60)["state"] == "completed"
        finally:
            process.cleanup()
    assert len(good.films) == 2 and len(bad.films) == 1
    assert result["state"] == "failed" and result["attempts"] == 3
    where = f"HCSIM@127.0.0.1:{bad.port}"
    assert result["error"] == ("gave up after 3 failed attempts: N-GET printer: the printer sent data that "
                               "is not a DICOM PDU (unknown PDU type 0xA5); association ended "
                               f"({where})")
    retries = [e["reason"] for e in events if e["kind"] == "retry"]
    assert len(retries) == 2
    assert retries[0].startswith("N-GET printer: the printer stopped sending in the middle of a P-DATA-TF "
                                 f"PDU of 206 bytes (nothing more for 6 s); association ended ({where})")
    assert retries[1].startswith("N-GET printer: the printer sent data that is not a DICOM PDU")
