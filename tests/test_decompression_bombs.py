"""Decompression bombs: files of a few KB whose pixels take gigabytes once decoded. A real daemon
refuses them from their headers before decoding anything, serves on, and its peak memory (VmHWM
from /proc) stays far below what one decode would take. The daemon's address space is capped a
few GB above its size, so that a regression fails these tests instead of exhausting the machine."""
from __future__ import annotations

import resource

import pytest

from hcserver.client import ClientError
from hcserver.spool import Spool
from tests.support.configs import PREVIEW_CONFIG
from tests.support.daemon import DaemonProcess
from tests.support.hostile_files import (
    deflated_zeros,
    jpeg_claiming,
    native_image,
    rle_bomb,
    rle_overflowing,
    rle_overlong,
)
from tests.support.proc import MB, descendants, peak_rss, reset_peak_rss

pytestmark = pytest.mark.slow   # the tests share a daemon process (one starts its own)

#: Each bomb decodes to 800 MB or more (4.3 GB for the RLE one of 65535 x 65535): a daemon that
#: decoded one would pass this.
RSS_BOUND = 600 * MB
LIMIT = 64 << 20    # the default max_image_pixels


def capped(process: DaemonProcess) -> DaemonProcess:
    size = int(next(line.split()[1] for line in open(f"/proc/{process.proc.pid}/status")
                    if line.startswith("VmSize:"))) * 1024
    resource.prlimit(process.proc.pid, resource.RLIMIT_AS, (size + (3 << 30), size + (3 << 30)))
    return process


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("bombs")
    return {"rle-65535": (rle_bomb(folder / "rle-65535.dcm", 65535, 65535, bits=8), "65535x65535"),
            "rle-20000": (rle_bomb(folder / "rle-20000.dcm", 20000, 20000), "20000x20000"),
            "deflated-20000": (deflated_zeros(folder / "deflated-20000.dcm", 20000, 20000), "20000x20000")}


@pytest.fixture(scope="module")
def server():
    process = capped(DaemonProcess(PREVIEW_CONFIG).start())
    yield process
    process.cleanup()


@pytest.mark.parametrize("bomb", ["rle-65535", "rle-20000", "deflated-20000"])
def test_a_bomb_is_refused_from_its_header(server, bombs, bomb):
    path, size = bombs[bomb]
    assert path.stat().st_size < 1 << 20
    reset_peak_rss(server.proc.pid)
    with server.client() as hc:
        with pytest.raises(ClientError) as refused:
            hc.upload(path)
        assert refused.value.code == "image-too-large"
        assert f"{path}: 1 frame(s) of {size} pixels exceed the limit of {LIMIT} pixels per image" \
            == str(refused.value)
        assert hc.request("ping")["ok"]
    peak = peak_rss(server.proc.pid)
    print(f"{bomb}: {path.stat().st_size} bytes, daemon peak RSS {peak / MB:.0f} MB")
    assert peak < RSS_BOUND
    assert server.alive()


def test_deflated_data_is_inflated_only_as_far_as_its_header_declares(server, tmp_path):
    liar = deflated_zeros(tmp_path / "liar.dcm", 64, 64, size=800 << 20)    # 8 KB declared, 800 MB inflated
    reset_peak_rss(server.proc.pid)
    with server.client() as hc:
        with pytest.raises(ClientError, match="the deflated data set inflates to more than [0-9]+ bytes, more "
                                              "than the image it declares needs") as refused:
            hc.upload(liar)
        assert refused.value.code == "unprintable-image"
        small = hc.upload(deflated_zeros(tmp_path / "small.dcm", 64, 64))    # an honest one prints
        job = hc.submit({"printer": "film", "films": [{"film_size": "8INX10IN", "layout": "STANDARD\\1,1",
                                                        "frames": [small]}]})
        assert hc.wait(job, timeout=60)["state"] == "completed"
    assert peak_rss(server.proc.pid) < RSS_BOUND


def test_a_jpeg_frame_is_decoded_only_within_what_its_header_declares(server, tmp_path):
    """A JPEG frame header may claim more pixels than the DICOM header: the decoder would
    allocate what the codestream says."""
    claiming = jpeg_claiming(tmp_path / "claiming.dcm", 60000, 60000)    # 3.6 GB decoded
    reset_peak_rss(server.proc.pid)
    with server.client() as hc:
        with pytest.raises(ClientError, match=r"frame 1 is 60000x60000 pixels of 1 components in its "
                                              r"codestream, the header says 16x16 of 1$") as refused:
            hc.upload(claiming)
        assert refused.value.code == "unprintable-image"
    assert peak_rss(server.proc.pid) < RSS_BOUND


def test_an_rle_frame_is_decoded_only_within_what_its_header_declares(server, tmp_path):
    """An RLE segment expands up to 64 times whatever the header says; pydicom's own decoder
    (which pydicom falls back to when pylibjpeg-rle refuses a frame) expands it all before
    comparing."""
    overlong = rle_overlong(tmp_path / "overlong.dcm", 12 << 20)         # 800 MB decoded
    reset_peak_rss(server.proc.pid)
    with server.client() as hc:
        with pytest.raises(ClientError, match=r"cannot decode the pixel data \(RLE Lossless\): .*segment offset"):
            hc.upload(overlong)
    assert peak_rss(server.proc.pid) < RSS_BOUND


def test_a_decoder_panic_costs_the_upload_not_the_connection(server, tmp_path):
    with server.client() as hc:
        with pytest.raises(ClientError, match=r"cannot decode the pixel data \(RLE Lossless\): ") as refused:
            hc.upload(rle_overflowing(tmp_path / "overflowing.dcm"))
        assert refused.value.code == "unprintable-image"
        assert hc.request("ping")["ok"]     # the same connection serves on


def test_an_overlay_plane_larger_than_its_image_is_skipped_not_unpacked(server, tmp_path):
    """pydicom unpacks an overlay plane whole, a byte per pixel: 98 MB on disk declaring
    28000 x 28000 would take 784 MB in the formatting process, for a 64 x 64 image."""
    image = native_image(tmp_path / "overlay.dcm", 64, 64, overlay=(28000, 28000))
    for pid in descendants(server.proc.pid):
        reset_peak_rss(pid)
    with server.client() as hc:
        job = hc.submit_files([image], printer="film")
        result = hc.wait(job, timeout=120)
        assert result["state"] == "completed", result
        assert [w["meaning"] for w in hc.show(job)["warnings"]] == [
            "films[0].frames[0]: overlay plane 6000 skipped: 28000x28000 pixels in 1 frame(s), more than 4 "
            "times the image (64x64 in 1)"]
    assert max(peak_rss(pid) for pid in descendants(server.proc.pid)) < RSS_BOUND


def test_a_bomb_put_in_the_spool_is_refused_at_submit_and_preview(server, bombs):
    """Images normally arrive by upload; one that reached the spool another way (another node,
    a limit lowered since) is checked again when a job or a preview names it."""
    path, size = bombs["rle-20000"]
    reference = "sha256:" + Spool(server.dir / "var" / "spool").put(path.read_bytes())
    spec = {"printer": "film", "films": [{"film_size": "8INX10IN", "layout": "STANDARD\\1,1",
                                           "frames": [reference]}]}
    reset_peak_rss(server.proc.pid)
    with server.client() as hc:
        for attempt in (hc.submit, hc.preview):
            with pytest.raises(ClientError, match=f"{size} pixels exceed the limit of {LIMIT}") as refused:
                attempt(spec)
            assert refused.value.code == "image-too-large"
        assert hc.list() == []
    assert peak_rss(server.proc.pid) < RSS_BOUND


def test_the_formatting_process_checks_the_budget_before_decoding(tmp_path):
    """A job queued under a larger limit is printed under the limit of the daemon that prints it:
    its film fails, named by the header check, before its pixels are decoded."""
    image = native_image(tmp_path / "large.dcm", 1000, 1000)
    config = PREVIEW_CONFIG.replace("retry_interval_s = 1", "retry_interval_s = 1\nmax_image_pixels = 1048576")
    first, second = DaemonProcess(config).start(), None
    try:
        with first.client() as hc:
            job = hc.submit_files([image], printer="film", hold=True)
        first.stop()
        second = DaemonProcess(config.replace("1048576", "500000"), directory=first.dir).start()
        with second.client() as hc:
            hc.release(job)
            result = hc.wait(job, timeout=60)
        assert result["state"] == "failed", result
        assert "1 frame(s) of 1000x1000 pixels exceed the limit of 500000 pixels per image" in result["error"]
        assert second.alive()
    finally:
        if second:
            second.stop()
        first.cleanup()
