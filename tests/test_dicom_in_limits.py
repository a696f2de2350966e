"""What a hostile peer may make the front door hold, in a real daemon: a DIMSE message bigger than
``max_message_bytes``, or an association sending more than ``max_association_bytes``, is aborted
as it arrives (pynetdicom would collect the whole message in memory first), and other modalities
go on storing and printing."""
from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pynetdicom import AE

from tests.support.configs import PREVIEW_CONFIG
from tests.support.daemon import DaemonProcess, wait_for
from tests.support.images import write_image
from tests.support.modality import flood
from tests.support.ports import free_port
from tests.support.proc import MB, peak_rss, reset_peak_rss

pytestmark = [pytest.mark.slow, pytest.mark.dicom]

FLOOD = 384 * MB          # what the hostile peer would send, in one message
GROWTH = 96 * MB          # what the daemon may grow by meanwhile: the limit below, pynetdicom's copies, slack


def door_config(listener: str) -> tuple[str, int]:
    port = free_port()
    return PREVIEW_CONFIG + f"""
[dicom_in]
host = "127.0.0.1"
port = {port}
{listener}

[dicom_in.ae.FILMSPOOL]
service = "print"
printer = "film"

[dicom_in.ae.AUTOFILM]
service = "store"
printer = "film"
""", port


@pytest.fixture
def hcserver():
    started: list[DaemonProcess] = []

    def start(config: str) -> DaemonProcess:
        daemon = DaemonProcess(config).start()
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.cleanup()


def store_one(port: int, path: str) -> int:
    ds = pydicom.dcmread(path)
    ae = AE(ae_title="CT1")
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", port, ae_title="AUTOFILM")
    assert assoc.is_established
    status = int(assoc.send_c_store(ds).Status)
    assoc.release()
    return status


@pytest.mark.parametrize("called, listener, reason", [
    # one C-STORE of a data set bigger than a message may be
    ("AUTOFILM", "max_message_bytes = 16777216", "max_message_bytes"),
    # one image box N-SET passing what the whole association may send
    ("FILMSPOOL", "max_association_bytes = 16777216", "max_association_bytes"),
])
def test_a_peer_streaming_a_huge_message_is_aborted_before_the_daemon_holds_it(hcserver, tmp_path, called,
                                                                               listener, reason):
    config, port = door_config(listener)
    daemon = hcserver(config)
    pid = daemon.proc.pid
    reset_peak_rss(pid)
    before = peak_rss(pid)
    result = flood(port, called, FLOOD)
    grown = peak_rss(pid) - before
    assert result.aborted, f"the association was not aborted ({result.sent >> 20} MiB sent)"
    assert result.sent < FLOOD // 2
    assert grown < GROWTH, f"the daemon grew by {grown >> 20} MiB"
    log = daemon.log.read_text()
    assert "association from HOSTILE at 127.0.0.1:" in log and f"({reason})" in log and "aborted" in log
    assert daemon.alive()
    with daemon.client() as hc:
        assert hc.list(all=True) == []                # nothing of the aborted association is queued
    # another modality stores and prints as ever
    image = write_image(tmp_path / "ct.dcm", np.full((32, 32), 100, np.uint8), Modality="CT")
    assert store_one(port, image) == 0
    with daemon.client() as hc:
        [job] = wait_for(lambda: hc.list(all=True), 30, "the stored image's job")
        assert job["owner"] == "dicom:CT1@AUTOFILM"
        assert hc.wait(job["id"], timeout=60)["state"] == "completed"
    spool = daemon.dir / "var" / "spool"
    assert sum(1 for p in spool.rglob("*") if p.is_file()) == 1   # the stored image alone
