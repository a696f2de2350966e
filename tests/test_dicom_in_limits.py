"""What a hostile peer may make the front door hold, in a real daemon: a DIMSE message bigger than
``max_message_bytes``, or an association sending more than ``max_association_bytes``, is aborted
as it arrives (pynetdicom would collect the whole message in memory first), and other modalities
go on storing and printing."""
from __future__ import annotations

import threading

import numpy as np
import pydicom
import pytest
from pynetdicom import AE

from tests.support.configs import PREVIEW_CONFIG
from tests.support.daemon import wait_for
from tests.support.images import write_image
from tests.support.modality import Modality, flood
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
    # the front door logs the abort in the association's thread, which then ends it (queueing nothing)
    wait_for(lambda: "association from HOSTILE" in daemon.log.read_text(), 30, "the daemon to log the abort")
    log = daemon.log.read_text()
    assert "association from HOSTILE at 127.0.0.1:" in log and f"({reason})" in log and "aborted" in log
    assert daemon.alive()
    with daemon.client() as hc:
        assert hc.list(all=True) == []                # nothing of the aborted association is queued
    # another modality stores and prints as ever
    image = write_image(tmp_path / "ct.dcm", np.full((32, 32), 100, np.uint8), Modality="CT")
    assert store_as(port, "CT1", image) == 0
    with daemon.client() as hc:
        [job] = wait_for(lambda: hc.list(all=True), 30, "the stored image's job")
        assert job["owner"] == "dicom:CT1@AUTOFILM"
        assert hc.wait(job["id"], timeout=60)["state"] == "completed"
    spool = daemon.dir / "var" / "spool"
    assert sum(1 for p in spool.rglob("*") if p.is_file()) == 1   # the stored image alone


def store_as(port: int, calling: str, path: str) -> int:
    """One C-STORE in an association of its own, under the calling AE title ``calling``."""
    ds = pydicom.dcmread(path)
    ae = AE(ae_title=calling)
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", port, ae_title="AUTOFILM")
    assert assoc.is_established
    status = int(assoc.send_c_store(ds).Status)
    assoc.release()
    return status


IMAGE = 64 * 64                 # pixel bytes of each image below (a few hundred more as a file)
DOOR_QUOTA = 10 * IMAGE         # max_spool_bytes of the front door: some nine images


def test_a_peer_posing_as_many_modalities_fills_the_front_doors_quota_not_the_spool(hcserver, tmp_path):
    config, port = door_config(f"max_spool_bytes = {DOOR_QUOTA}")
    daemon = hcserver(config)
    with daemon.client() as hc:
        hc.printer_admin("disable", "film")            # the jobs wait: their images stay in the spool
    with Modality(port, calling="MR2").established() as modality:   # a film session opened meanwhile
        session = modality.create_session()
        box = modality.create_film_box(session.uid, "STANDARD\\1,1")
        assert (session.status, box.status) == (0, 0)
        statuses = []
        for n in range(30):                            # a new calling AE title for every association
            path = write_image(tmp_path / f"img{n}.dcm", np.full((64, 64), n, np.uint8), Modality="CT",
                               StudyInstanceUID=f"1.2.3.{n}")
            statuses.append(store_as(port, f"FAKE{n}", path))
            if statuses[-1]:
                break
        assert statuses[-1] == 0xA700, statuses       # out of resources, not the whole spool
        assert 5 <= len(statuses) - 1 <= 10 and set(statuses[:-1]) == {0}
        # the print route: an image box of the session opened before, and a new film session
        status, comment = modality.set_image_box(box.image_boxes[0], np.zeros((64, 64), np.uint8))
        assert status == 0x0213 and "max_spool_bytes" not in (comment or "x") and "quota" in (comment or "")
    with Modality(port, calling="MR3").established() as other:
        assert other.create_session().status == 0x0213
    with daemon.client() as hc:
        stored = hc.list(all=True)
        assert len(stored) == len(statuses) - 1 and {job["state"] for job in stored} == {"pending"}
        # a local user uploads and prints as ever
        local = write_image(tmp_path / "local.dcm", np.full((64, 64), 7, np.uint8))
        job = hc.submit_files([local], printer="film")
        hc.printer_admin("enable", "film")
        assert hc.wait(job, timeout=60)["state"] == "completed"
        for queued in stored:
            assert hc.wait(queued["id"], timeout=60)["state"] == "completed"
    # the front door's jobs ended: their images no longer count (the daemon looks the jobs up once a
    # second at most: a refused attempt changes nothing, so it is tried again until then)
    path = write_image(tmp_path / "after.dcm", np.full((64, 64), 200, np.uint8), Modality="CT")
    wait_for(lambda: store_as(port, "CT1", path) == 0, 10, "room in the front door's quota")
    assert "front door spool quota used up" in daemon.log.read_text()


def test_one_origin_may_hold_its_upload_quota_of_images_not_yet_in_a_job(hcserver, tmp_path):
    config, port = door_config("")
    daemon = hcserver(config.replace("retry_interval_s = 1", f"retry_interval_s = 1\nmax_upload_bytes_per_owner = "
                                                              f"{3 * IMAGE}"))
    images = [write_image(tmp_path / f"img{n}.dcm", np.full((64, 64), n, np.uint8), Modality="CT")
              for n in range(4)]
    datasets = [pydicom.dcmread(p) for p in images]
    ae = AE(ae_title="CT1")
    ae.add_requested_context(datasets[0].SOPClassUID, datasets[0].file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", port, ae_title="AUTOFILM")
    statuses = [int(assoc.send_c_store(ds).Status) for ds in datasets]
    assoc.release()
    assert statuses == [0, 0, 0xA700, 0xA700]     # the third image would pass 3 x 4096 bytes with its header
    assert "spool quota of dicom:CT1@AUTOFILM used up" in daemon.log.read_text()
    with daemon.client() as hc:                  # the two stored are printed; the quota is free again
        [job] = wait_for(lambda: hc.list(all=True), 30, "the batch's job")
        assert hc.wait(job["id"], timeout=60)["state"] == "completed"
        assert job["films_total"] == 1
    assert store_as(port, "CT1", images[3]) == 0


def test_the_front_doors_unfinished_jobs_still_count_after_a_restart(hcserver, tmp_path):
    config, port = door_config(f"max_spool_bytes = {DOOR_QUOTA}")
    daemon = hcserver(config)
    with daemon.client() as hc:
        hc.printer_admin("disable", "film")            # the jobs wait: their images stay in the spool
    statuses = []
    for n in range(30):                                # until the front door's total is used up
        path = write_image(tmp_path / f"img{n}.dcm", np.full((64, 64), n, np.uint8), Modality="CT",
                           StudyInstanceUID=f"1.2.3.{n}")
        statuses.append(store_as(port, f"FAKE{n}", path))
        if statuses[-1]:
            break
    assert statuses[-1] == 0xA700 and 5 <= len(statuses) - 1 <= 10 and set(statuses[:-1]) == {0}, statuses
    with daemon.client() as hc:
        wait_for(lambda: len(hc.list(all=True)) == len(statuses) - 1, 30, "a job for every image stored")
    daemon.stop()
    daemon.start()
    # the jobs still wait with their images: a new image has no more room than before the restart
    late = write_image(tmp_path / "late.dcm", np.full((64, 64), 250, np.uint8), Modality="CT")
    assert store_as(port, "NEW1", late) == 0xA700
    with daemon.client() as hc:
        stored = hc.list(all=True)
        assert len(stored) == len(statuses) - 1 and {job["state"] for job in stored} == {"pending"}
        hc.printer_admin("enable", "film")
        for queued in stored:
            assert hc.wait(queued["id"], timeout=60)["state"] == "completed"
    # their jobs ended: the images charged at start no longer count
    wait_for(lambda: store_as(port, "NEW1", late) == 0, 10, "room in the front door's quota")


IN_FLIGHT = 48 * MB        # max_bytes_in_flight below: one peer's message fits, two do not


def test_messages_of_all_associations_together_are_held_to_max_bytes_in_flight(hcserver):
    config, port = door_config(f"max_bytes_in_flight = {IN_FLIGHT}")
    daemon = hcserver(config)
    reached, go_on = threading.Event(), threading.Event()
    first: list = []

    def hold() -> None:               # the first peer's message, all but its last fragment, is in flight
        reached.set()
        assert go_on.wait(60)

    peer = threading.Thread(target=lambda: first.append(flood(port, "AUTOFILM", 32 * MB, calling="PEER1",
                                                              before_last=hold)))
    peer.start()
    try:
        assert reached.wait(60), "the first peer did not get its message out"
        second = flood(port, "AUTOFILM", 32 * MB, calling="PEER2")   # 32 + 32 MiB would pass 48 MiB
    finally:
        go_on.set()
        peer.join(60)
    assert second.aborted and second.sent < 32 * MB - 8 * MB, second
    log = daemon.log.read_text()
    assert "association from PEER2 at 127.0.0.1:" in log and "(max_bytes_in_flight)" in log
    assert "PEER1" not in log.split("(max_bytes_in_flight)")[0].splitlines()[-1]
    [done] = first
    assert not done.aborted and done.sent == 32 * MB      # the first peer's message was whole and answered
    # its association has ended: its bytes no longer count, and a third peer's message fits
    third = flood(port, "AUTOFILM", 32 * MB, calling="PEER3")
    assert not third.aborted and third.sent == 32 * MB
    assert daemon.alive()
