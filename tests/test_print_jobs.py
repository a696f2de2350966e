"""The printer's own print jobs (Print Job SOP class, ``print_job = true``) followed to their end, and
what the printer says of its configuration (Printer Configuration Retrieval): against the simulator,
which offers both (its print jobs take ``print_job_seconds``, report themselves with
``print_job_events``, and fail with a ``print-job-failure`` fault), and DCMTK's dcmprscp, which
offers neither.

Expected outcomes are written here by hand from the documented behaviour
(drivers/dicom/print_jobs.py, README "Print jobs").
"""
from __future__ import annotations

import json
import time

import pytest

from hcserver.simulator import Fault, PrinterSimulator
from tests.support.configs import dicom_config
from tests.support.daemon import DaemonProcess
from tests.support.hcq import run_hcq
from tests.support.jobs import numbered_films
from tests.support.scu import printer, run_job, sheet

pytestmark = pytest.mark.dicom

DONE = "DONE", "NORMAL"


def outcomes(observer) -> list[tuple[tuple[int, ...], str, str]]:
    return observer.print_jobs


# --------------------------------------------------------------------------- following print jobs
def test_print_jobs_are_followed_to_done_before_the_film_session_is_deleted(drivers):
    with PrinterSimulator(port=0, print_job_seconds=0.6) as sim:
        observer = run_job(drivers(printer(sim.port, print_job=True)), [sheet(0), sheet(1)])
        assert outcomes(observer) == [((0,), *DONE), ((1,), *DONE)]
        assert observer.warnings == []
        operations = observer.operations()
        last_get = max(i for i, op in enumerate(operations) if op == ("N-GET", "print-job"))
        assert last_get < operations.index(("N-DELETE", "film-session"))
        assert sim.received_count("N-GET", "print-job") >= 2    # PENDING or PRINTING first


def test_print_job_reports_end_the_wait_without_asking_again(drivers):
    with PrinterSimulator(port=0, print_job_seconds=0.3, print_job_events=True) as sim:
        observer = run_job(drivers(printer(sim.port, print_job=True)), [sheet(0)])
        assert outcomes(observer) == [((0,), *DONE)]
        assert sim.received_count("N-GET", "print-job") == 1   # the report of DONE came before the next
        assert ("N-EVENT-REPORT", "print-job") in observer.operations()


def test_a_print_job_failure_is_a_warning_and_the_job_goes_on(drivers):
    with PrinterSimulator(port=0) as sim:
        sim.add_fault("N-ACTION:print-job-failure:comment=FILM JAM")      # the first film's
        observer = run_job(drivers(printer(sim.port, print_job=True)), [sheet(0), sheet(1)])
        assert outcomes(observer) == [((0,), "FAILURE", "FILM JAM"), ((1,), *DONE)]
        assert [(op, text.split(":")[0]) for op, _, text in observer.warnings] == [("print-job", "film 1")]
        assert "ended in FAILURE (FILM JAM)" in observer.warnings[0][2]
        assert "not sent again" in observer.warnings[0][2]
        assert len(sim.films) == 2 and [i for i, _, _ in observer.accepted] == [0, 1]


def test_a_print_job_still_going_at_print_job_timeout_s_is_unknown(drivers):
    with PrinterSimulator(port=0, print_job_seconds=60) as sim:
        driver = drivers(printer(sim.port, print_job=True, print_job_timeout_s=1.5))
        start = time.monotonic()
        observer = run_job(driver, [sheet(0)])
        assert 1.5 <= time.monotonic() - start < 5
        ((films, status, why),) = outcomes(observer)
        assert (films, status) == ((0,), "UNKNOWN")
        assert "not ended after print_job_timeout_s (1.5 s), last status PENDING" in why
        assert observer.warnings[-1][2] == f"film 1: the outcome of the printer's print job is unknown: {why}"
        assert len(sim.films) == 1


def test_a_print_job_the_printer_no_longer_knows_is_unknown(drivers):
    with PrinterSimulator(port=0, print_job_seconds=5) as sim:
        sim.add_fault(Fault("N-GET", "print-job", status=0x0112))   # e.g. dropped once printed
        observer = run_job(drivers(printer(sim.port, print_job=True)), [sheet(0)])
        ((_, status, why),) = outcomes(observer)
        assert status == "UNKNOWN" and "the printer did not say (its N-GET failed)" in why
        assert ("N-GET", 0x0112) in [(op, code) for op, code, _ in observer.warnings]
        assert sim.received_count("N-GET", "print-job") == 1


def test_one_print_job_for_the_films_of_a_film_session(drivers):
    with PrinterSimulator(port=0, session_print_only=True, print_job_seconds=0.2) as sim:
        observer = run_job(drivers(printer(sim.port, print_job=True, print_action="film-session")),
                           [sheet(0), sheet(1)])
        assert outcomes(observer) == [((0, 1), *DONE)]


def test_without_print_job_nothing_is_followed(sim, drivers):
    observer = run_job(drivers(printer(sim.port)), [sheet(0)])
    assert outcomes(observer) == [] and sim.received_count("N-GET", "print-job") == 0


# --------------------------------------------------------------------------- printer configuration
def test_echo_shows_the_printers_configuration(drivers):
    with PrinterSimulator(port=0, supports_12bit=False) as sim:
        driver = drivers(printer(sim.port))
        result = driver.echo()
        assert result["ok"] is True
        (item,) = result["printer_configuration"]
        assert (item["MemoryBitDepth"], item["PrintingBitDepth"]) == (8, 8)
        assert (item["MinDensity"], item["MaxDensity"]) == (20, 300)
        assert "1.2.840.10008.5.1.1.9" in item["SOPClassesSupported"]
        assert driver.configuration() == result["printer_configuration"]


def test_the_first_job_asks_the_configuration_once(sim, drivers):
    driver = drivers(printer(sim.port))
    assert driver.configuration() is None
    first = run_job(driver, [sheet(0)])
    run_job(driver, [sheet(1)])
    assert sim.received_count("N-GET", "printer-configuration") == 1
    assert ("N-GET", "printer-configuration") in first.operations()
    assert driver.configuration()[0]["MemoryBitDepth"] == 12


def test_dcmprscp_offers_neither_print_job_nor_its_configuration(dcmprscp, drivers):
    driver = drivers(printer(dcmprscp.port, "PRINTSCP", print_job=True))
    observer = run_job(driver, [sheet(0)])
    assert dcmprscp.film_count() == 1
    assert outcomes(observer) == [] and observer.warnings == []
    assert ("N-GET", "printer-configuration") not in observer.operations()
    result = driver.echo()
    assert result["ok"] is True and result["printer_configuration"] is None
    assert driver.configuration() is None


# --------------------------------------------------------------------------- through the daemon
@pytest.mark.slow
def test_print_job_outcomes_are_events_and_the_configuration_is_shown_by_hcq(images):
    with PrinterSimulator(port=0, print_job_seconds=0.3) as sim:
        sim.add_fault("N-ACTION:print-job-failure:comment=SUPPLY EMPTY:nth=2")
        process = DaemonProcess(dicom_config({"sim": sim.port}, print_job="true")).start()
        try:
            with process.client() as hc:
                result = hc.wait(hc.submit(numbered_films(images, 2)), timeout=60)
                shown = hc.show(result["id"])
            listed = json.loads(run_hcq(process, "printers", "--json").stdout)
            table = run_hcq(process, "printers").stdout
            echoed = run_hcq(process, "echo", "sim").stdout
        finally:
            process.cleanup()
    assert (result["state"], result["films_printed"]) == ("completed", 2)
    events = [(e["data"]["films"], e["data"]["status"], e["data"]["info"])
              for e in shown["events"] if e["kind"] == "print-job"]
    assert events == [([0], "DONE", "NORMAL"), ([1], "FAILURE", "SUPPLY EMPTY")]
    assert [w["operation"] for w in result["warnings"]] == ["print-job"]
    assert result["warnings"][0]["meaning"].startswith("film 2: the printer's print job ended in FAILURE "
                                                       "(SUPPLY EMPTY)")
    (view,) = listed
    assert view["configuration"][0]["PrintingBitDepth"] == 12
    assert "sim: printer configuration" in table and "PrintingBitDepth 12" in table
    assert "printer configuration" in echoed and "MemoryBitDepth 12" in echoed
