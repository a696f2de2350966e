"""Access control, limits, audit and privacy, through a real daemon.

Other users are real: the test forks children that switch to other uids (the test runs as
root, as CI does) and talk to the daemon's socket with the client library.
"""
from __future__ import annotations

import json
import os
import stat

import pytest

from hcserver.client import ClientError
from tests.support.configs import PREVIEW_CONFIG
from tests.support.daemon import DaemonProcess
from tests.support.root import needs_root
from tests.support.users import NOBODY, NOGROUP, OTHER, run_as

pytestmark = [needs_root("switching users"),
              pytest.mark.slow]   # every test starts a daemon process


@pytest.fixture
def shared_daemon(images):
    config = PREVIEW_CONFIG.replace('retry_interval_s = 1', 'retry_interval_s = 1\nsocket_group = "nogroup"\n'
                                                           'max_jobs_per_owner = 3')
    process = DaemonProcess(config)
    os.chmod(process.dir, 0o755)   # let other users reach the state directory
    process.start()
    yield process
    process.cleanup()


def submit_held(image):
    return lambda client: client.submit_files([image], printer="film", hold=True)


def test_socket_and_directory_permissions(shared_daemon):
    sock, directory = shared_daemon.socket, shared_daemon.socket.parent
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o660
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o750
    assert os.stat(sock).st_gid == os.stat(directory).st_gid == NOGROUP


def test_users_act_only_on_their_own_jobs_and_admins_on_all(shared_daemon, images):
    ct = images["CT_small.dcm"]
    socket_path = shared_daemon.socket
    mine = run_as(NOBODY, socket_path, submit_held(ct))
    theirs = run_as(OTHER, socket_path, submit_held(ct))
    with shared_daemon.client() as admin:
        assert admin.show(mine)["owner"] == "nobody"
        assert admin.show(theirs)["owner"] == str(OTHER)
    for action in (lambda c: c.cancel(theirs), lambda c: c.release(theirs), lambda c: c.hold(theirs),
                   lambda c: c.set_priority(theirs, "high"), lambda c: c.move(theirs, "other")):
        refused = run_as(NOBODY, socket_path, action)
        assert refused[:2] == ["error", "forbidden"] and "only its owner or an administrator" in refused[2]
    assert run_as(NOBODY, socket_path, lambda c: c.set_priority(mine, "high")["priority"]) == "high"
    assert run_as(NOBODY, socket_path, lambda c: c.cancel(mine)["state"]) == "canceled"
    for op in ("disable", "enable", "reject", "accept"):
        refused = run_as(NOBODY, socket_path, lambda c, op=op: c.printer_admin(op, "film"))
        assert refused[:2] == ["error", "forbidden"] and "for administrators" in refused[2]
    with shared_daemon.client() as admin:   # root is an administrator
        assert admin.release(theirs)["state"] == "pending"
        assert admin.wait(theirs, timeout=30)["state"] == "completed"
        admin.printer_admin("disable", "film")
        admin.printer_admin("enable", "film")
    audit = [json.loads(line) for line in (shared_daemon.dir / "var" / "audit.log").read_text().splitlines()]
    done = [e for e in audit if "refused" not in e]   # the refusals above are audited too
    assert [(e["who"], e["action"], e.get("job")) for e in done if e["action"] != "submit"] == [
        ("nobody", "priority", mine), ("nobody", "cancel", mine), ("root", "release", theirs),
        ("root", "disable", None), ("root", "enable", None)]
    assert [(e["who"], e["job"]) for e in done if e["action"] == "submit"] == [("nobody", mine),
                                                                               (str(OTHER), theirs)]


def test_queue_length_per_owner(shared_daemon, images):
    ct = images["CT_small.dcm"]
    for _ in range(3):
        assert isinstance(run_as(NOBODY, shared_daemon.socket, submit_held(ct)), int)
    refused = run_as(NOBODY, shared_daemon.socket, submit_held(ct))
    assert refused[:2] == ["error", "queue-limit"] and "already has 3 jobs queued" in refused[2]
    assert isinstance(run_as(OTHER, shared_daemon.socket, submit_held(ct)), int)  # others are not affected


def test_full_spool_refuses_new_jobs_and_keeps_the_queue(images):
    process = DaemonProcess(PREVIEW_CONFIG).start()
    try:
        with process.client() as hc:
            hc.printer_admin("disable", "film")
            kept = hc.submit_files([images["CT_small.dcm"]], printer="film")
    finally:
        process.stop()
    # The same state, restarted believing the disk is (nearly) full.
    process.config.write_text(process.config.read_text().replace(
        "retry_interval_s = 1", "retry_interval_s = 1\nmin_free_spool_bytes = 1152921504606846976"))
    process.start()
    try:
        with process.client() as hc:
            with pytest.raises(ClientError, match="the spool has only .* MiB free") as refused:
                hc.submit_files([images["MR_small.dcm"]], printer="film")
            assert refused.value.code == "spool-full"
            assert [job["id"] for job in hc.list()] == [kept]
            hc.printer_admin("enable", "film")
            assert hc.wait(kept, timeout=30)["state"] == "completed"
    finally:
        process.cleanup()


def test_image_size_and_films_per_job_limits(images):
    config = PREVIEW_CONFIG.replace("retry_interval_s = 1",
                                    "retry_interval_s = 1\nmax_image_pixels = 10000\nmax_films_per_job = 2")
    process = DaemonProcess(config).start()
    try:
        with process.client() as hc:
            with pytest.raises(ClientError, match="128x128 pixels exceed the limit of 10000") as refused:
                hc.submit_files([images["CT_small.dcm"]], printer="film")
            assert refused.value.code == "image-too-large"
            with pytest.raises(ClientError, match="3 films exceed the limit of 2 per job"):
                hc.submit_files([images["MR_small.dcm"]] * 3, printer="film", layout="STANDARD\\1,1")
    finally:
        process.cleanup()


def test_logs_events_and_audit_carry_no_patient_data(images, tmp_path):
    import pydicom

    ds = pydicom.dcmread(images["CT_small.dcm"])
    ds.PatientName, ds.PatientID = "Secret^Patient", "SECRET-ID-123"
    private = tmp_path / "private.dcm"
    ds.save_as(private)
    process = DaemonProcess(PREVIEW_CONFIG).start()
    try:
        with process.client() as hc:
            job = hc.submit_files([private], printer="film")
            assert hc.wait(job, timeout=30)["state"] == "completed"
            shown = json.dumps(hc.show(job))
            with pytest.raises(ClientError):
                hc.submit({"printer": "film", "films": [{"layout": "STANDARD\\9,9,9", "frames": [str(private)]}]})
    finally:
        process.stop()
    texts = [shown, process.log.read_text(), (process.dir / "var" / "audit.log").read_text()]
    assert not any("Secret" in text or "SECRET-ID" in text for text in texts)
    # ... unless the configuration turns it on: then the submit event names the patient.
    process.config.write_text(process.config.read_text().replace(
        "retry_interval_s = 1", "retry_interval_s = 1\nlog_patient_data = true"))
    process.start()
    try:
        with process.client() as hc:
            job = hc.submit_files([private], printer="film")
            submit = hc.show(job)["events"][0]
        assert submit["data"]["patients"] == ["Secret^Patient (SECRET-ID-123)"]
    finally:
        process.cleanup()
