"""Every status code the reference Print SCU's conformance statement names, through the daemon.

The printer simulator answers one code once on one operation; the job must end as the
documented behaviour says. The expectations are written here by hand:

* WARN  — the job completes on its first attempt, the warning (operation, code) recorded;
* RETRY — the attempt ends, the job is retried and completes on attempt 2;
* FAIL  — the job fails on attempt 1 with the code in its error;
* STOP  — the printer is stopped, the job waits, the status poll finds the printer NORMAL
          and the job completes on attempt 2.
"""
from __future__ import annotations

import pytest

from hcserver.simulator import Fault, PrinterSimulator
from tests.support.configs import dicom_config
from tests.support.daemon import DaemonProcess
from tests.support.jobs import job_of

pytestmark = pytest.mark.dicom

WARN, RETRY, FAIL, STOP = "warn", "retry", "fail", "stop"

SESSION = ("N-CREATE", "film-session")
BOX = ("N-CREATE", "film-box")
IMAGE = ("N-SET", "image-box")
PRINT = ("N-ACTION", "film-box")
DELETE_BOX = ("N-DELETE", "film-box")
DELETE_SESSION = ("N-DELETE", "film-session")
PRINTER = ("N-GET", "printer")

CASES = [
    # warnings: printing goes on
    (SESSION, 0x0107, WARN), (SESSION, 0x0116, WARN), (SESSION, 0xB600, WARN),
    (BOX, 0x0107, WARN), (BOX, 0x0116, WARN), (BOX, 0xB605, WARN),
    (IMAGE, 0xB604, WARN), (IMAGE, 0xB605, WARN), (IMAGE, 0xB609, WARN), (IMAGE, 0xB60A, WARN),
    (PRINT, 0xB601, WARN), (PRINT, 0xB602, WARN), (PRINT, 0xB603, WARN), (PRINT, 0xB604, WARN),
    (PRINT, 0xB609, WARN), (PRINT, 0xB60A, WARN),
    (PRINTER, 0x0107, WARN),
    # failures of requests the films do not depend on: recorded, the job completes
    (DELETE_BOX, 0x0110, WARN), (DELETE_BOX, 0x0117, WARN), (DELETE_SESSION, 0x0118, WARN),
    (DELETE_SESSION, 0x0211, WARN),
    (DELETE_BOX, 0x0112, WARN), (DELETE_BOX, 0xC7FF, WARN),   # not listed for N-DELETE: warn all the same
    # transient failures: retried
    (SESSION, 0x0110, RETRY), (SESSION, 0x0210, RETRY), (SESSION, 0x0213, RETRY),
    (BOX, 0x0110, RETRY), (BOX, 0x0210, RETRY), (BOX, 0x0213, RETRY), (BOX, 0xC616, RETRY),
    (IMAGE, 0x0110, RETRY), (IMAGE, 0x0210, RETRY), (IMAGE, 0x0213, RETRY),
    (PRINT, 0x0110, RETRY), (PRINT, 0x0112, RETRY), (PRINT, 0x0210, RETRY), (PRINT, 0x0213, RETRY),
    (PRINT, 0xC601, RETRY),
    (PRINTER, 0x0110, RETRY), (PRINTER, 0x0210, RETRY), (PRINTER, 0x0213, RETRY),
    # the job itself is wrong for this printer: failed
    (SESSION, 0x0105, FAIL), (SESSION, 0x0106, FAIL), (SESSION, 0x0111, FAIL), (SESSION, 0x0117, FAIL),
    (SESSION, 0x0118, FAIL), (SESSION, 0x0120, FAIL), (SESSION, 0x0121, FAIL), (SESSION, 0x0124, FAIL),
    (SESSION, 0x0211, FAIL), (SESSION, 0x0212, FAIL),
    (BOX, 0x0105, FAIL), (BOX, 0x0106, FAIL), (BOX, 0x0111, FAIL), (BOX, 0x0120, FAIL), (BOX, 0x0121, FAIL),
    (IMAGE, 0x0105, FAIL), (IMAGE, 0x0106, FAIL), (IMAGE, 0x0117, FAIL), (IMAGE, 0x0119, FAIL),
    (IMAGE, 0x0120, FAIL), (IMAGE, 0x0121, FAIL), (IMAGE, 0x0124, FAIL), (IMAGE, 0xC603, FAIL),
    (IMAGE, 0xC605, FAIL), (IMAGE, 0xC613, FAIL),
    (PRINT, 0x0114, FAIL), (PRINT, 0x0115, FAIL), (PRINT, 0x0117, FAIL), (PRINT, 0x0118, FAIL),
    (PRINT, 0x0119, FAIL), (PRINT, 0x0123, FAIL), (PRINT, 0x0124, FAIL), (PRINT, 0xC600, FAIL),
    (PRINT, 0xC602, FAIL), (PRINT, 0xC603, FAIL), (PRINT, 0xC613, FAIL),
    # the printer cannot say how it is: stopped until it answers
    (PRINTER, 0x0112, STOP), (PRINTER, 0x0117, STOP), (PRINTER, 0x0118, STOP), (PRINTER, 0x0119, STOP),
    (PRINTER, 0x0124, STOP), (PRINTER, 0x0211, STOP), (PRINTER, 0x0212, STOP),
    (PRINTER, 0x0105, STOP),   # not listed for N-GET Printer: stops the printer all the same
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    with PrinterSimulator(port=0, out_dir=tmp_path_factory.mktemp("films")) as sim:
        process = DaemonProcess(dicom_config({"sim": sim.port})).start()
        yield sim, process
        process.cleanup()


@pytest.mark.parametrize("where, code, expected", CASES,
                         ids=[f"{op}-{sop}-0x{code:04X}" for (op, sop), code, _ in CASES])
def test_status_code_outcome(setup, images, where, code, expected):
    sim, process = setup
    operation, sop_class = where
    sim.clear_faults()
    printed_before = len(sim.films)
    sim.add_fault(Fault(operation=operation, sop_class=sop_class, status=code))
    hex_code = f"0x{code:04X}"
    with process.client() as hc:
        job = hc.submit(job_of(images, per_film=2))
        result = hc.wait(job, timeout=60)
        events = hc.show(job)["events"]
    kinds = [event["kind"] for event in events]
    if expected == WARN:
        assert (result["state"], result["attempts"]) == ("completed", 1), result
        assert (operation, hex_code) in [(w["operation"], w["status"]) for w in result["warnings"]]
    elif expected == RETRY:
        assert (result["state"], result["attempts"]) == ("completed", 2), result
        retry = events[kinds.index("retry")]
        assert hex_code in retry["reason"] and operation in retry["reason"]
    elif expected == FAIL:
        assert (result["state"], result["attempts"]) == ("failed", 1), result
        assert hex_code in result["error"] and operation in result["error"]
    else:
        assert (result["state"], result["attempts"]) == ("completed", 2), result
        requeue = events[kinds.index("requeue")]
        assert "printer stopped" in requeue["reason"] and hex_code in requeue["reason"]
    assert len(sim.films) - printed_before == (0 if expected == FAIL else 1)
