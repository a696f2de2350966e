"""Printing failures that must not cost copies, hours or the truth, through a real daemon and
the real DICOM driver against the printer simulator:

* a printer that rejects associations permanently is stopped, not retried for an hour;
* a printer that prints a film and then aborts before answering its N-ACTION leaves the film
  *in doubt*: it is shown so, and reprinted at most once by default (``reprint_in_doubt``).

Expected outcomes are written here by hand from the documented behaviour (README, "Status
policy" and "Films in doubt").
"""
from __future__ import annotations

import time

import pytest

from hcserver.simulator import Fault, PrinterSimulator
from tests.support.daemon import DaemonProcess, wait_for
from tests.support.hcq import run_hcq
from tests.support.jobs import copies, numbered_films

pytestmark = [pytest.mark.slow, pytest.mark.dicom]   # daemons printing to the simulator


def config(port: int, **printer) -> str:
    text = f"""
[server]
state_dir = "@STATE@"
retry_interval_s = 0.2
retry_max_interval_s = 0.5
retry_limit = 4

[printers.sim]
driver = "dicom"
ae_title = "PRINTSCP"
host = "127.0.0.1"
port = {port}
dpi = 40
dimse_timeout_s = 3
status_poll_s = 0.3
"""
    return text + "".join(f"{key} = {value}\n" for key, value in printer.items())


@pytest.fixture
def simulator(tmp_path):
    with PrinterSimulator(port=0, out_dir=tmp_path / "films") as sim:
        yield sim


@pytest.fixture
def daemon_for(simulator):
    """Start a daemon for the simulator with these printer settings."""
    started: list[DaemonProcess] = []

    def start(**printer) -> DaemonProcess:
        started.append(DaemonProcess(config(simulator.port, **printer)).start())
        return started[-1]

    yield start
    for process in started:
        process.cleanup()


def printer_view(hc) -> dict:
    return {p["name"]: p for p in hc.printers()}["sim"]


# ---- 13: a permanent association rejection ------------------------------------------------

def test_a_permanent_rejection_stops_the_printer_until_it_accepts_again(daemon_for, simulator, images):
    # Result 1 (rejected-permanent), source 1 (service user), reason 3 (calling AE title not recognised)
    simulator.add_fault(Fault("A-ASSOCIATE", behaviour="reject", reject=(1, 1, 3), times=None))
    with daemon_for().client() as hc:
        job = hc.submit({"printer": "sim", "films": [{"layout": "STANDARD\\1,1",
                                                      "frames": [images["CT_small.dcm"]]}]})
        wait_for(lambda: printer_view(hc)["stopped"], what="the printer to stop")
        assert "Rejected Permanent" in printer_view(hc)["reason"]
        assert "Calling AE title not recognised" in printer_view(hc)["reason"]
        time.sleep(1.5)   # several status polls, each rejected: the printer stays stopped, the job waits
        shown = hc.show(job)
        assert printer_view(hc)["stopped"]
        assert (shown["state"], shown["attempts"], shown["failed_attempts"]) == ("pending", 1, 0)
        requeue = [e for e in shown["events"] if e["kind"] == "requeue"]
        assert len(requeue) == 1 and requeue[0]["reason"].startswith("printer stopped: association rejected")
        simulator.clear_faults()   # the printer's administrator adds our AE title
        result = hc.wait(job, timeout=60)   # the status poll's N-GET succeeds: printing resumes
        assert result["state"] == "completed" and result["attempts"] == 2
        assert printer_view(hc)["stopped"] is False
    assert len(simulator.films) == 1


def test_a_transient_rejection_is_still_retried(daemon_for, simulator, images):
    simulator.add_fault(Fault("A-ASSOCIATE", behaviour="reject", reject=(2, 3, 1), times=2))
    with daemon_for().client() as hc:
        result = hc.wait(hc.submit({"printer": "sim", "films": [{"layout": "STANDARD\\1,1",
                                                                 "frames": [images["CT_small.dcm"]]}]}),
                         timeout=60)
        assert printer_view(hc)["stopped"] is False
    assert (result["state"], result["attempts"], result["failed_attempts"]) == ("completed", 3, 2)


# ---- 12: a printer that prints, then aborts before answering the N-ACTION ------------------

def two_films(images) -> dict:
    return numbered_films(images, 2)


def test_a_film_printed_then_unanswered_is_in_doubt_and_reprinted_once_by_default(daemon_for, simulator, images):
    # Every N-ACTION prints the film, then the printer aborts instead of answering.
    simulator.add_fault(Fault("N-ACTION", behaviour="abort", perform=True, times=None))
    process = daemon_for()
    with process.client() as hc:
        result = hc.wait(hc.submit(two_films(images)), timeout=60)
        shown = hc.show(result["id"])
    # Each film is sent twice (once, then once more), never a third time: 4 copies, not 4 of film 1.
    assert copies(simulator) == ["1", "1", "2", "2"]
    assert (result["state"], result["films_printed"], result["attempts"]) == ("completed", 2, 4)
    assert shown["films_in_doubt"] == [0, 1]
    assert [f["in_doubt"] for f in shown["films"]] == [2, 2]
    assert all(f["printed_at"] is None and f["in_doubt_at"] for f in shown["films"])
    doubts = [e for e in shown["events"] if e["kind"] == "film-in-doubt"]
    assert [(e["data"]["film"], e["data"]["times"], e["data"]["counted"]) for e in doubts] == [
        (0, 1, False), (0, 2, True), (1, 1, False), (1, 2, True)]
    assert "it is sent again, once more at most (reprint_in_doubt = once)" in doubts[0]["reason"]
    assert "(N-ACTION film-box: the printer aborted the association" in doubts[0]["reason"]
    assert [w["meaning"].split(";")[0] for w in result["warnings"]] == [
        "film 1 of 2 is in doubt: sent 2 time(s) without an answer, it may have printed up to 2 times or not at all",
        "film 2 of 2 is in doubt: sent 2 time(s) without an answer, it may have printed up to 2 times or not at all"]
    text = run_hcq(process, "show", str(result["id"]), timeout=120, check=True).stdout
    assert "films in doubt    1, 2" in text
    assert "film 1: 14INX17IN PORTRAIT STANDARD\\1,1, 1 image(s), in doubt (2 print request(s) unanswered" in text
    assert "counted as printed, not sent again" in text
    assert "film-in-doubt" in text


def test_never_counts_a_film_in_doubt_as_printed(daemon_for, simulator, images):
    simulator.add_fault(Fault("N-ACTION", behaviour="close", perform=True))   # film 1 only
    with daemon_for(reprint_in_doubt='"never"').client() as hc:
        result = hc.wait(hc.submit(two_films(images)), timeout=60)
        shown = hc.show(result["id"])
    assert copies(simulator) == ["1", "2"]
    assert (result["state"], result["films_printed"], result["attempts"]) == ("completed", 2, 2)
    assert [f["in_doubt"] for f in shown["films"]] == [1, 0]
    assert shown["films"][1]["printed_at"] is not None
    assert [w["meaning"] for w in result["warnings"]] == [
        "film 1 of 2 is in doubt: sent 1 time(s) without an answer, it may have printed once or not at all; counted "
        "as printed, not sent again (reprint_in_doubt = never): check the printer's output"]


def test_once_reprints_a_film_in_doubt_and_says_it_may_be_on_film_twice(daemon_for, simulator, images):
    simulator.add_fault(Fault("N-ACTION", behaviour="abort", perform=True))   # film 1, the first time
    with daemon_for().client() as hc:
        result = hc.wait(hc.submit(two_films(images)), timeout=60)
        shown = hc.show(result["id"])
    assert copies(simulator) == ["1", "1", "2"]
    assert (result["state"], result["films_printed"]) == ("completed", 2)
    assert [f["in_doubt"] for f in shown["films"]] == [1, 0] and shown["films"][0]["printed_at"] is not None
    assert [w["meaning"] for w in result["warnings"]] == [
        "film 1 of 2 was in doubt and has been printed again: the printer may have printed it twice"]


def test_always_reprints_a_film_in_doubt_at_every_attempt(daemon_for, simulator, images):
    simulator.add_fault(Fault("N-ACTION", behaviour="abort", perform=True, times=None))
    with daemon_for(reprint_in_doubt='"always"').client() as hc:
        result = hc.wait(hc.submit(two_films(images)), timeout=60)
        shown = hc.show(result["id"])
    assert copies(simulator) == ["1", "1", "1", "1"]
    assert (result["state"], result["films_printed"], result["attempts"]) == ("failed", 0, 4)
    assert [f["in_doubt"] for f in shown["films"]] == [4, 0]


@pytest.mark.parametrize("fault", [
    Fault("N-ACTION", status=0x0213),                    # answered: not printed, retried
    Fault("N-SET", behaviour="abort", perform=True),      # lost before the print request
], ids=["answered", "before-the-print-request"])
def test_a_film_whose_print_request_was_answered_or_never_sent_is_not_in_doubt(daemon_for, simulator, images,
                                                                              fault):
    simulator.add_fault(fault)
    with daemon_for().client() as hc:
        result = hc.wait(hc.submit(two_films(images)), timeout=60)
        shown = hc.show(result["id"])
    assert copies(simulator) == ["1", "2"]
    assert (result["state"], result["attempts"], shown["films_in_doubt"]) == ("completed", 2, [])
    assert not [e for e in shown["events"] if e["kind"] == "film-in-doubt"]
