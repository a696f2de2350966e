"""Every file of pydicom's bundled test data, submitted through the daemon, either prints or is
refused at submit with its reason — and the daemon serves on."""
from __future__ import annotations

import os

import pytest

from hcserver.client import ClientError
from tests.support.configs import PREVIEW_CONFIG
from tests.support.daemon import DaemonProcess
from tests.support.images import local_test_files

pytestmark = pytest.mark.slow   # every test starts a daemon process

REFUSALS = {"unprintable-image", "invalid-spec", "image-too-large"}


def test_every_bundled_file_prints_or_is_refused_with_its_reason(images):
    files = [path for path in local_test_files() if os.path.isfile(path)]   # never downloads
    assert len(files) > 50
    process = DaemonProcess(PREVIEW_CONFIG.replace("dpi = 40", "dpi = 10")).start()
    outcomes = {}
    try:
        with process.client(timeout=120) as hc:
            jobs = {}
            for path in files:
                try:
                    jobs[path] = hc.submit({"printer": "film", "films": [
                        {"film_size": "8INX10IN", "layout": "STANDARD\\1,1", "frames": [path]}]})
                except ClientError as exc:
                    assert exc.code in REFUSALS, (path, exc.code, str(exc))
                    assert os.path.basename(path) in str(exc), str(exc)   # names the file ...
                    assert len(str(exc)) > len(os.path.basename(path)) + 10  # ... and a reason
                    outcomes[path] = "refused"
            for path, job in jobs.items():
                result = hc.wait(job, timeout=120)
                assert result["state"] == "completed", (path, result)
                outcomes[path] = "printed"
            assert hc.request("ping")["ok"]
    finally:
        process.cleanup()
    printed = sum(1 for outcome in outcomes.values() if outcome == "printed")
    assert len(outcomes) == len(files)
    assert printed > len(files) // 2   # most of pydicom's test files are images
