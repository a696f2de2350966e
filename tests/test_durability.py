"""What the daemon tells a client it has written survives a power cut: a real daemon whose
fsync, mkdir and rename calls are recorded (tests/fs_calls/sitecustomize.py), checked in the
order a power cut needs them — a file's data before its rename, a new directory entry (a file
renamed into place, a directory created) by an fsync of the directory that holds it."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.configs import PREVIEW_CONFIG
from tests.support.daemon import DaemonProcess

pytestmark = pytest.mark.slow   # every test starts a daemon process

RECORDER = Path(__file__).resolve().parent / "fs_calls"


def in_order(calls: list[list[str]], *expected: list[str]) -> bool:
    """Whether ``expected`` occur in ``calls`` in this order (other calls between them)."""
    position = 0
    for call in expected:
        try:
            position = calls.index(call, position) + 1
        except ValueError:
            return False
    return True


def test_spool_audit_log_and_previews_are_durable(tmp_path, monkeypatch, images):
    log = tmp_path / "fs-calls.log"
    monkeypatch.setenv("HCSERVER_TEST_FS_CALLS", str(log))
    monkeypatch.setenv("PYTHONPATH", str(RECORDER))
    process = DaemonProcess(PREVIEW_CONFIG).start()

    def calls() -> list[list[str]]:
        return [line.split("\t") for line in log.read_text().splitlines()]

    try:
        state = (process.dir / "var").resolve()
        spool, preview, audit = state / "spool", state / "preview", state / "audit.log"
        assert in_order(calls(), ["mkdir", str(spool)], ["fsync", str(state)]), "the new spool directory"
        with process.client() as hc:
            before = len(calls())
            digest = hc.upload(images["CT_small.dcm"]).removeprefix("sha256:")
            prefix, image = spool / digest[:2], spool / digest[:2] / digest
            upload = calls()[before:]
            # The new prefix directory's entry in the spool, the image's data, then its name.
            assert in_order(upload, ["mkdir", str(prefix)], ["fsync", str(spool)]), upload
            temporary = next(call[1] for call in upload if call[0] == "rename" and call[2] == str(image))
            assert in_order(upload, ["fsync", temporary], ["rename", temporary, str(image)],
                            ["fsync", str(prefix)]), upload

            def audited(action) -> int:
                """Run ``action``; its result, once the audit log has been fsynced for it."""
                synced = calls().count(["fsync", str(audit)])
                result = action()
                assert calls().count(["fsync", str(audit)]) == synced + 1, "one fsync per audit record"
                return result

            job = audited(lambda: hc.submit({"printer": "film", "films": [
                {"layout": "STANDARD\\1,1", "frames": [f"sha256:{digest}"]},
                {"layout": "STANDARD\\1,1", "frames": [images["MR_small.dcm"]]}]}, hold=True))
            audited(lambda: hc.set_priority(job, "high"))
            audited(lambda: hc.release(job))
            assert hc.wait(job, timeout=30)["state"] == "completed"
            outputs = [Path(film["output"]).resolve() for film in hc.show(job)["films"]]
        printed = calls()
        assert in_order(printed, ["mkdir", str(preview)], ["fsync", str(state)]), "the new preview directory"
        for png in outputs:
            temporary = str(png.with_name(f".{png.name}.tmp"))
            assert in_order(printed, ["fsync", temporary], ["rename", temporary, str(png)],
                            ["fsync", str(preview)]), png
    finally:
        process.cleanup()
