"""Uploads waiting for their job, through real daemons: orphaned uploads and the temporary files
of interrupted ones are collected (at start and periodically, asking the shared database on
several nodes), and each owner has an upload quota."""
from __future__ import annotations

import os
import time

import pytest

from hcserver.client import ClientError
from tests.support.configs import PREVIEW_CONFIG, node_config
from tests.support.daemon import DaemonProcess, start_nodes, wait_for
from tests.support.images import unique_image
from tests.support.root import needs_root
from tests.support.users import NOBODY, run_as

pytestmark = pytest.mark.slow   # every test starts a daemon process

HOUR = 3600


def preview_daemon(extra: str) -> DaemonProcess:
    return DaemonProcess(PREVIEW_CONFIG.replace("retry_interval_s = 1", f"retry_interval_s = 1\n{extra}"))


def made_images(tmp_path, count: int, first: int = 0) -> list[str]:
    paths = []
    for number in range(first, first + count):
        path = tmp_path / f"image-{number}.dcm"
        unique_image(path, number)
        paths.append(str(path))
    return paths


def spooled(spool, reference: str):
    digest = reference.removeprefix("sha256:")
    return spool / digest[:2] / digest


def age(path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def held_job(hc, references: list[str]) -> int:
    return hc.submit({"printer": "film", "films": [{"layout": "STANDARD\\1,1", "frames": [ref]}
                                                   for ref in references]}, hold=True)


def test_orphans_and_interrupted_uploads_are_removed_at_start(tmp_path):
    orphan_path, fresh_path, used_path, printed_path = made_images(tmp_path, 4)
    process = preview_daemon("upload_grace_s = 600").start()
    try:
        spool = process.dir / "var" / "spool"
        with process.client() as hc:
            orphan, fresh = hc.upload(orphan_path), hc.upload(fresh_path)
            used = hc.upload(used_path)
            waiting = held_job(hc, [used])
            printed = hc.upload(printed_path)
            printed_job = hc.submit({"printer": "film", "films": [{"layout": "STANDARD\\1,1",
                                                                  "frames": [printed]}]})
            assert hc.wait(printed_job, timeout=30)["state"] == "completed"   # history keeps it
        process.stop()
        # A kill in the middle of uploads leaves their temporary files, in a prefix directory
        # of its own too.
        new_prefix = next(f"{n:02x}" for n in range(256) if not (spool / f"{n:02x}").exists())
        temporary = [spooled(spool, orphan).with_name(".upload-k1lled"), spool / new_prefix / ".upload-n0tyet"]
        temporary[1].parent.mkdir()
        for path in temporary:
            path.write_bytes(b"half an image")
        for reference in (orphan, used, printed):   # uploaded long before the grace period
            age(spooled(spool, reference), 2 * HOUR)
        age(spooled(spool, fresh), 300)              # within it: its job may be on its way
        process.start()
        assert not spooled(spool, orphan).exists(), "an upload no job uses, past the grace period"
        assert [path for path in temporary if path.exists()] == [], "temporary files of a killed daemon"
        for reference in (fresh, used, printed):
            assert spooled(spool, reference).is_file(), reference
        with process.client() as hc:
            hc.release(waiting)
            assert hc.wait(waiting, timeout=30)["state"] == "completed"
            with pytest.raises(ClientError, match="has not been uploaded"):
                held_job(hc, [orphan])
            assert isinstance(held_job(hc, [fresh]), int)
    finally:
        process.cleanup()


def test_orphans_are_collected_while_the_daemon_runs(tmp_path):
    orphan_path, used_path = made_images(tmp_path, 2)
    process = preview_daemon("upload_grace_s = 2").start()
    try:
        spool = process.dir / "var" / "spool"
        with process.client() as hc:
            orphan, used = hc.upload(orphan_path), hc.upload(used_path)
            waiting = held_job(hc, [used])
            stale = spooled(spool, orphan).with_name(".upload-st4le")
            stale.write_bytes(b"half an image")
            age(stale, 60)
            wait_for(lambda: not spooled(spool, orphan).exists() and not stale.exists(), 20,
                     "the orphaned upload and the stale temporary file to be collected")
            assert spooled(spool, used).is_file()
            hc.release(waiting)
            assert hc.wait(waiting, timeout=30)["state"] == "completed"
    finally:
        process.cleanup()


def test_each_owner_has_an_upload_quota_until_they_submit(tmp_path):
    first, second, third, fourth = made_images(tmp_path, 4)
    size = os.path.getsize(first)
    process = preview_daemon(f"max_upload_bytes_per_owner = {2 * size + size // 2}").start()
    try:
        with process.client() as hc:
            uploaded = [hc.upload(first), hc.upload(second)]
            with pytest.raises(ClientError) as refused:
                hc.upload(third)
            assert refused.value.code == "upload-quota"
            message = str(refused.value)
            assert "upload quota exceeded: root has" in message and "max_upload_bytes_per_owner" in message
            assert third in message   # the image's name
            # A refused or unprintable upload takes nothing from the quota: still refused, not stored.
            with pytest.raises(ClientError, match="upload quota exceeded"):
                hc.upload(third)
            spool = process.dir / "var" / "spool"
            assert sum(1 for path in spool.rglob("*") if path.is_file()) == 2
            # Submitting a job with the uploaded images gives the room back.
            held_job(hc, uploaded)
            assert hc.upload(third).startswith("sha256:")
    finally:
        process.cleanup()


@needs_root("switching users")
def test_the_upload_quota_is_per_owner(tmp_path):
    first, second = made_images(tmp_path, 2)
    size = os.path.getsize(first)
    process = preview_daemon(f'max_upload_bytes_per_owner = {size + size // 2}\nsocket_group = "nogroup"')
    os.chmod(process.dir, 0o755)   # let the other user reach the socket
    process.start()
    try:
        with process.client() as hc:
            hc.upload(first)
            with pytest.raises(ClientError, match="upload quota exceeded: root has"):
                hc.upload(second)
        data = {path: open(path, "rb").read() for path in (first, second)}

        def upload(path):
            return lambda client: client.request("upload", data[path], name=path)["image"]

        assert run_as(NOBODY, process.socket, upload(second)).startswith("sha256:")
        refused = run_as(NOBODY, process.socket, upload(first))
        assert refused[:2] == ["error", "upload-quota"] and "nobody has" in refused[2]
    finally:
        process.cleanup()


def test_nodes_sharing_a_spool_remove_only_what_no_job_in_the_database_uses(postgres_url, tmp_path):
    """A job submitted on one node keeps its images when another node collects orphans, and
    that node's start removes only old temporary files (a fresh one may be another node's
    upload in flight)."""
    spool = tmp_path / "spool"
    orphan_path, used_path = made_images(tmp_path, 2)
    alpha, beta = nodes = start_nodes([node_config(postgres_url, spool, name, 30)
                                       .replace("[server]", "[server]\nupload_grace_s = 60", 1)
                                       for name in ("alpha", "beta")])
    try:
        with alpha.client() as hc:
            orphan, used = hc.upload(orphan_path), hc.upload(used_path)
            waiting = held_job(hc, [used])
        for reference in (orphan, used):
            age(spooled(spool, reference), 2 * HOUR)
        in_flight = spooled(spool, orphan).with_name(".upload-0therNode")
        abandoned = spooled(spool, orphan).with_name(".upload-l0ngAgo")
        for path in (in_flight, abandoned):
            path.write_bytes(b"half an image")
        age(abandoned, HOUR)
        beta.stop()
        beta.start()
        assert not spooled(spool, orphan).exists(), "an upload no job uses, past the grace period"
        assert spooled(spool, used).is_file(), "used by a job alpha submitted"
        assert not abandoned.exists()
        assert in_flight.exists(), "another node may be writing it"
        with beta.client() as hc:
            hc.release(waiting)
            assert hc.wait(waiting, timeout=30)["state"] == "completed"
    finally:
        for node in nodes:
            node.cleanup()
