"""Operating hcserver: events, logs, reprints, the live view."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from hcserver.simulator import PrinterSimulator
from tests.support.configs import PREVIEW_CONFIG, dicom_config
from tests.support.daemon import DaemonProcess
from tests.support.hcq import hcq_command, hcq_environment, run_hcq
from tests.support.jobs import job_of

pytestmark = pytest.mark.slow   # every test starts a daemon process


def test_events_are_pushed_as_they_happen(daemon, images):
    with daemon.client() as watcher, daemon.client() as hc:
        stream = watcher.follow(timeout=20)
        assert next(stream) == []
        hc.printer_admin("disable", "film")
        job = hc.submit_files([images["CT_small.dcm"]], printer="film")
        seen = []
        while not any(e["kind"] == "submit" for e in seen):
            seen += next(stream)
        assert [e["job"] for e in seen if e["kind"] == "submit"] == [job]
        hc.printer_admin("enable", "film")
        while not any(e["kind"] == "complete" for e in seen):
            seen += next(stream)
        assert [e["kind"] for e in seen] == ["submit", "start", "film-printed", "complete"]


def test_submit_wait_reports_progress_and_exit_status(daemon, images):
    done = run_hcq(daemon, "submit", "-p", "film", "--layout", "STANDARD\\1,1", "--wait",
                   images["CT_small.dcm"], images["MR_small.dcm"])
    assert done.returncode == 0, done.stderr
    assert "film-printed: film 2 of 2 printed" in done.stderr and "complete" in done.stderr
    with daemon.client() as hc:
        hc.printer_admin("disable", "film")
    waiting = subprocess.Popen(hcq_command("submit", "-p", "film", "--wait", images["CT_small.dcm"]),
                               env=hcq_environment(daemon), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    job = int(waiting.stdout.readline())
    assert run_hcq(daemon, "cancel", str(job)).returncode == 0
    _, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 1
    assert f"job {job}: cancel: canceled by root" in err and err.strip().endswith(f"hcq: job {job} canceled")


@pytest.mark.dicom
def test_show_log_lists_each_dimse_exchange_and_reprint_copies_a_job(tmp_path, images):
    with PrinterSimulator(port=0, out_dir=tmp_path / "films") as sim:
        process = DaemonProcess(dicom_config({"sim": sim.port})).start()
        try:
            with process.client() as hc:
                job = hc.submit(job_of(images, films=2, per_film=2))
                assert hc.wait(job, timeout=60)["state"] == "completed"
                log = hc.show(job, log=True)["log"]
                assert "log" not in hc.show(job)
                copy = hc.reprint(job)
                assert hc.wait(copy, timeout=60)["state"] == "completed"
                assert hc.show(copy)["events"][0]["data"]["reprint_of"] == job
            shown = run_hcq(process, "show", str(job), "--log")
        finally:
            process.cleanup()
    operations = [(x["operation"], x["sop_class"], x["status"]) for x in log]
    # the printer's first job also asks its configuration (Printer Configuration Retrieval)
    assert operations == [("N-GET", "printer", "0x0000"), ("N-GET", "printer-configuration", "0x0000"),
                          ("N-CREATE", "film-session", "0x0000")] + [
        ("N-CREATE", "film-box", "0x0000"), ("N-SET", "grayscale-image-box", "0x0000"),
        ("N-SET", "grayscale-image-box", "0x0000"), ("N-ACTION", "film-box", "0x0000"),
        ("N-DELETE", "film-box", "0x0000")] * 2 + [("N-DELETE", "film-session", "0x0000")]
    assert all(x["attempt"] == 1 and x["ms"] >= 0 and x["meaning"] for x in log)
    assert "DIMSE log" in shown.stdout and "N-ACTION" in shown.stdout
    assert len(sim.films) == 4


def test_watch_shows_printers_and_jobs_and_updates_on_events(daemon, images):
    env = hcq_environment(daemon, {"COLUMNS": "160", "PYTHONUNBUFFERED": "1"})
    watcher = subprocess.Popen(hcq_command("watch", "--plain", "--updates", "3"),
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(iter(watcher.stdout.readline, "")), daemon=True)
    reader.start()

    def snapshot_with(marker: str) -> str:
        """Wait until the watcher has shown ``marker``; return everything shown so far."""
        deadline = time.monotonic() + 30
        while marker not in "".join(output):
            assert time.monotonic() < deadline and watcher.poll() is None, f"no {marker!r} in {output}"
            time.sleep(0.05)
        return "".join(output)

    first = snapshot_with("jobs")                 # subscribed, initial view
    assert "film" in first and "idle" in first and "disabled" not in first
    with daemon.client() as hc:
        hc.printer_admin("disable", "film")
        assert "disabled" in snapshot_with("disabled")
        hc.submit_files([images["CT_small.dcm"]] * 2, printer="film", layout="STANDARD\\1,1")
        assert "pending" in snapshot_with("[............] 0/2")
    assert watcher.wait(timeout=30) == 0
    assert "".join(output).count("printers") == 3    # the initial view and one per change


def test_reload_applies_printer_changes_and_keeps_jobs(daemon, images):
    from PIL import Image

    with daemon.client() as hc:
        hc.printer_admin("disable", "other")
        queued = hc.submit_files([images["CT_small.dcm"]], printer="other")
    config = daemon.config.read_text()
    config = config.replace("[printers.other]\ndriver = \"preview\"\ndpi = 40\n", "")
    config = config.replace("[printers.film]\ndriver = \"preview\"\ndpi = 40",
                            "[printers.film]\ndriver = \"preview\"\ndpi = 20")
    daemon.config.write_text(config + '\n[printers.third]\ndriver = "preview"\ndpi = 30\n')
    reloaded = run_hcq(daemon, "reload")
    assert reloaded.returncode == 0, reloaded.stderr
    assert reloaded.stdout.split("\n")[:3] == ["added: third", "removed: other", "changed: film"]
    with daemon.client() as hc:
        job = hc.show(queued)
        assert job["state"] == "held" and "removed from the configuration" in job["events"][-1]["reason"]
        printed = hc.submit_files([images["CT_small.dcm"]], printer="film")
        assert hc.wait(printed, timeout=30)["state"] == "completed"
        assert Image.open(hc.show(printed)["films"][0]["output"]).size == (280, 340)  # 14x17 in at 20 dpi
        assert hc.wait(hc.submit_files([images["CT_small.dcm"]], printer="third"), timeout=30)["state"] == \
            "completed"


def test_sighup_with_a_broken_config_changes_nothing(daemon, images):
    import signal

    daemon.config.write_text(daemon.config.read_text() + "\n[printers.broken]\ndriver = 'fax'\n")
    daemon.proc.send_signal(signal.SIGHUP)
    refused = run_hcq(daemon, "reload")
    assert refused.returncode != 0 and "'fax' is not one of" in refused.stderr
    with daemon.client() as hc:
        assert hc.wait(hc.submit_files([images["CT_small.dcm"]], printer="film"), timeout=30)["state"] == \
            "completed"
    deadline = time.monotonic() + 10
    while "reload refused" not in daemon.log.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert daemon.alive()


def test_history_is_purged_with_its_images_and_previews(images):
    from pathlib import Path


    config = PREVIEW_CONFIG.replace("retry_interval_s = 1", "retry_interval_s = 1\nhistory_max_jobs = 2")
    process = DaemonProcess(config).start()
    try:
        with process.client() as hc:
            old = hc.submit_files([images["MR_small.dcm"]], printer="film")
            assert hc.wait(old, timeout=30)["state"] == "completed"
            old_preview = Path(hc.show(old)["films"][0]["output"])
            kept = [hc.submit_files([images["CT_small.dcm"]], printer="film") for _ in range(2)]
            for job in kept:
                assert hc.wait(job, timeout=30)["state"] == "completed"
            held = hc.submit_files([images["CT_small.dcm"]], printer="film", hold=True)
        spool = process.dir / "var" / "spool"
        for image in spool.rglob("*"):
            if image.is_file():
                os.utime(image, (time.time() - 7200, time.time() - 7200))  # past the upload grace time
        process.stop()
        process.start()   # the purge runs at start, then hourly
        with process.client() as hc:
            deadline = time.monotonic() + 10
            while len(hc.list(all=True)) > 3:
                assert time.monotonic() < deadline
                time.sleep(0.1)
            assert sorted(job["id"] for job in hc.list(all=True)) == sorted(kept + [held])
            listed = run_hcq(None, "-s", process.socket, "list", "--all", timeout=None).stdout
            assert "completed" in listed and "held" in listed
        assert not old_preview.exists()
        remaining = [p.name for p in spool.rglob("*") if p.is_file()]
        assert len(remaining) == 1   # MR_small (only the purged job used it) is gone; CT_small stays
    finally:
        process.cleanup()


def test_version_and_json_log_lines(tmp_path):
    import json
    import signal

    from hcserver import __version__

    version = subprocess.run([sys.executable, "-m", "hcserver.cli.hcserver_cmd", "--version"],
                             capture_output=True, text=True)
    assert version.returncode == 0 and __version__ in version.stdout
    server = subprocess.Popen([sys.executable, "-m", "hcserver.cli.hcserver_cmd", "serve", "--log-format", "json"],
                              cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    first = json.loads(server.stderr.readline())   # one JSON object per line
    server.send_signal(signal.SIGTERM)
    rest = [json.loads(line) for line in server.communicate(timeout=30)[1].splitlines()]
    assert first["level"] == "info" and "listening" in first["message"]
    assert rest[-1]["message"] == "hcserver stopping" and server.returncode == 0
