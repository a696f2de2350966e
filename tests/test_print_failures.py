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
from tests.daemon import DaemonProcess, wait_for


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
