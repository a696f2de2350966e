"""What hcq printers and hcq list say of a printer that is not printing, and why: a printer that
refuses connections, one stopped by a film jam, one removed from the configuration."""
from __future__ import annotations

import os
import subprocess

import pytest

from hcserver.queue import AttemptEnd
from hcserver.server.printers import state_of
from hcserver.simulator import PrinterSimulator
from hcserver.states import Transition
from tests.support.configs import PREVIEW_CONFIG, dicom_config
from tests.support.daemon import DaemonProcess, wait_for
from tests.support.hcq import run_hcq
from tests.support.ports import free_port
from tests.support.queue import JOB, make_queue
from tests.support.root import needs_root
from tests.support.users import NOBODY, hcq_as, hcq_in_process, run_as
from tests.support.web import Browser


def hcq(daemon, *args) -> subprocess.CompletedProcess:
    return run_hcq(daemon, *args, env={"COLUMNS": "200"})   # tables as wide as they come


def test_the_printers_view_has_the_job_printing_and_the_retry_waited_for(tmp_path):
    queue = make_queue(f"sqlite:///{tmp_path / 'q.db'}")
    first, second = queue.jobs.submit("alice", JOB), queue.jobs.submit("alice", JOB)
    queue.attempts.claim_next("p")
    assert queue.printers.views()[0]["printing"] == first
    later = queue.store.clock().replace(year=2100)
    queue.attempts.end(first, AttemptEnd(Transition.RETRY, "cannot connect: connection refused", not_before=later,
                                         failed_attempts=1))
    queue.jobs.hold(second, "alice")
    view = queue.printers.views()[0]
    assert view["printing"] is None
    assert view["retry"]["job"] == first and view["retry"]["reason"] == "cannot connect: connection refused"


@pytest.mark.parametrize("view, state", [
    ({"configured": False, "enabled": True, "stopped": False}, "removed"),
    ({"configured": True, "enabled": True, "stopped": True, "printing": 3}, "stopped"),
    ({"configured": True, "enabled": False, "stopped": False}, "disabled"),
    ({"configured": True, "enabled": True, "stopped": False, "printing": 3}, "printing"),
    ({"configured": True, "enabled": True, "stopped": False, "printing": None, "retry": {"job": 3}}, "retrying"),
    ({"configured": True, "enabled": True, "stopped": False, "printing": None, "retry": None}, "idle"),
])
def test_a_printers_state(view, state):
    assert state_of(view) == state


@pytest.mark.slow
@pytest.mark.dicom
def test_a_printer_refusing_connections_says_so_and_why(images):
    closed = free_port()   # nothing listens there
    config = dicom_config({"sim": closed}).replace(   # one attempt, then a long back-off
        "retry_interval_s = 0.2\nretry_max_interval_s = 0.5", "retry_interval_s = 600\nretry_max_interval_s = 600")
    daemon = DaemonProcess(config).start()
    try:
        with daemon.client() as hc:
            job = hc.submit_files([images["CT_small.dcm"]], printer="sim")
            wait_for(lambda: hc.show(job)["not_before"], what="the first attempt to fail")
            view = next(p for p in hc.printers() if p["name"] == "sim")
        assert view["state"] == "retrying"
        assert view["retry"]["job"] == job and "connection refused" in view["retry"]["reason"]
        shown = hcq(daemon, "printers").stdout
        line = next(line for line in shown.splitlines() if line.startswith(" sim"))
        assert " retrying " in line and f"job {job} retries at " in line and "connection refused" in line
        daemon.stop()
        log = daemon.log.read_text()
        assert "pynetdicom" not in log and "connection refused" in log   # said once, by hcserver
    finally:
        daemon.cleanup()


@pytest.mark.slow
@pytest.mark.dicom
@needs_root("switching users")
def test_why_a_printers_job_retries_is_said_only_to_its_owner_and_administrators(images):
    closed = free_port()   # nothing listens there
    config = dicom_config({"sim": closed}).replace(   # one attempt, then a long back-off
        "retry_interval_s = 0.2\nretry_max_interval_s = 0.5", "retry_interval_s = 600\nretry_max_interval_s = 600")
    config = config.replace("[server]\n", '[server]\nsocket_group = "nogroup"\n', 1)
    config += f'\n[web]\nlisten = "127.0.0.1:{free_port()}"\n'
    daemon = DaemonProcess(config)
    os.chmod(daemon.dir, 0o755)   # as /var/lib: anyone may pass to the socket's directory
    daemon.start()
    try:
        with daemon.client() as hc:
            job = hc.submit_files([images["CT_small.dcm"]], printer="sim")
            wait_for(lambda: hc.show(job)["not_before"], what="the first attempt to fail")
            mine = next(p for p in hc.printers() if p["name"] == "sim")["retry"]
            link = hc.request("web-login")["url"]
        assert mine["job"] == job and "connection refused" in mine["reason"]   # root's own job
        theirs = run_as(NOBODY, daemon.socket,
                        lambda client: next(p for p in client.printers() if p["name"] == "sim")["retry"])
        assert theirs["job"] == job and theirs["reason"] == "retrying (details for the job's owner)"
        assert theirs["private"] is True
        assert "connection refused" in hcq_in_process(daemon.socket, "printers")   # as root
        shown = hcq_as(NOBODY, daemon.socket, "printers")
        assert f"job {job} retries at " in shown and "connection refused" not in shown
        nobody = Browser.signed_in(run_as(NOBODY, daemon.socket, lambda client: client.request("web-login")["url"]))
        page = nobody.get("/").body
        assert f"job {job}</a> retries at" in page and "connection refused" not in page
        assert "details for the job&#39;s owner" in page
        assert "connection refused" in Browser.signed_in(link).get("/").body
    finally:
        daemon.cleanup()


@pytest.mark.slow
@pytest.mark.dicom
def test_a_film_jam_is_said_on_submit_and_in_the_list(images):
    with PrinterSimulator(port=0, printer_status=("FAILURE", "FILM JAM")) as sim:
        daemon = DaemonProcess(dicom_config({"sim": sim.port})).start()
        try:
            first = hcq(daemon, "submit", "-p", "sim", images["CT_small.dcm"])
            assert first.returncode == 0 and first.stderr == ""
            with daemon.client() as hc:
                wait_for(lambda: next(p for p in hc.printers() if p["name"] == "sim")["stopped"],
                         what="the printer to stop")
            second = hcq(daemon, "submit", "-p", "sim", images["CT_small.dcm"])
            job = int(second.stdout)
            assert second.stderr.startswith("hcq: warning: printer sim is stopped (")
            assert "FILM JAM" in second.stderr and f"job {job} waits until it is enabled" in second.stderr
            listed = hcq(daemon, "list").stdout
            row = next(line for line in listed.splitlines() if line.split()[:1] == [str(job)])
            assert "waits: printer sim is stopped: " in row and "FILM JAM" in row
        finally:
            daemon.cleanup()


@pytest.mark.slow
def test_a_removed_printer_is_not_listed_unless_jobs_are_left_and_those_are_not_released(images):
    daemon = DaemonProcess(PREVIEW_CONFIG).start()
    try:
        with daemon.client() as hc:
            hc.printer_admin("disable", "other")
            job = hc.submit_files([images["CT_small.dcm"]], printer="other")
            daemon.config.write_text(daemon.config.read_text().split("[printers.other]")[0])
            assert hc.reload()["removed"] == ["other"]
            other = next(p for p in hc.printers() if p["name"] == "other")
            assert (other["state"], other["configured"], other["queued"]) == ("removed", False, 1)
            released = hcq(daemon, "release", str(job))
            assert released.returncode == 1
            assert f"job {job} is for printer 'other', which was removed from the configuration" in released.stderr
            assert hc.show(job)["state"] == "held"
            hc.move(job, "film")
            hc.release(job)
            wait_for(lambda: hc.show(job)["state"] == "completed", what="the moved job to print")
            assert [p["name"] for p in hc.printers()] == ["film"]
            assert "other" not in hcq(daemon, "printers").stdout
    finally:
        daemon.cleanup()
