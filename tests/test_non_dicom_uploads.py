"""Uploads that are not DICOM are refused at once: their first bytes, or the first element
headers, give them away, before pydicom's forced parse (about 0.5 s of CPU per MiB of zeros,
each 8 bytes read as an empty element) and before they are hashed and stored. The daemon's CPU
time (from /proc) for a refusal is measured against a generous bound."""
from __future__ import annotations

import struct

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import FileMetaDataset

from hcserver.client import ClientError
from tests.support.configs import PREVIEW_CONFIG
from tests.support.daemon import DaemonProcess
from tests.support.proc import MB, cpu_seconds

pytestmark = pytest.mark.slow   # the tests share a daemon process, started for the module

CPU_BOUND_S = 1.0      # receiving 500 MiB costs about 0.2 s; a forced parse of it, minutes


def meta_prefix() -> bytes:
    """A real file's preamble, 'DICM' and File Meta Information, without its data set."""
    data = open(get_testdata_file("CT_small.dcm"), "rb").read()
    return data[:144 + struct.unpack_from("<L", data, 140)[0]]


def write_zeros(path, size: int, prefix: bytes = b""):
    chunk = bytes(16 * MB)
    with open(path, "wb") as out:
        out.write(prefix)
        for start in range(0, size, len(chunk)):
            out.write(chunk[:min(len(chunk), size - start)])
    return path


@pytest.fixture(scope="module")
def server():
    process = DaemonProcess(PREVIEW_CONFIG).start()
    yield process
    process.cleanup()


def spooled(server) -> set:
    return {f for f in (server.dir / "var" / "spool").rglob("*") if f.is_file()}


def refused_upload(server, path) -> tuple[ClientError, float]:
    """Upload ``path``; the refusal and the daemon's CPU seconds spent on it."""
    with server.client(timeout=600) as hc:
        hc.request("ping")
        before = cpu_seconds(server.proc.pid)
        with pytest.raises(ClientError) as refused:
            hc.upload(path)
        spent = cpu_seconds(server.proc.pid) - before
        assert hc.request("ping")["ok"]
    return refused.value, spent


@pytest.mark.parametrize("prefix", ["none", "dicm"])
def test_500_mib_of_zeros_is_refused_at_once(server, tmp_path, prefix):
    path = write_zeros(tmp_path / "zeros.dcm", 500 * MB, meta_prefix() if prefix == "dicm" else b"")
    stored = spooled(server)
    refusal, spent = refused_upload(server, path)
    print(f"500 MiB of zeros ({prefix} prefix): refused after {spent:.2f} s of daemon CPU")
    assert refusal.code == "unprintable-image"
    if prefix == "none":
        assert str(refusal) == f"{path}: not a DICOM file (no 'DICM' prefix and no DICOM data set at its start)"
    else:
        assert str(refusal) == f"{path}: not a DICOM file: data element (0000,0000) repeats at byte 344"
    assert spent < CPU_BOUND_S
    assert spooled(server) == stored


def test_a_stream_of_empty_elements_is_refused_at_the_element_limit(server, tmp_path):
    """Distinct, ascending, empty private elements after a real file meta: DICOM in form only."""
    path = tmp_path / "empty-elements.dcm"
    path.write_bytes(meta_prefix() + b"".join(struct.pack("<HHL", 0x0009 + 2 * (n >> 16), n & 0xFFFF, 0)
                                              for n in range(2 << 20)))     # 16 MiB, 2 Mi elements
    refusal, spent = refused_upload(server, path)
    assert refusal.code == "unprintable-image"
    assert str(refusal) == f"{path}: not a DICOM image: more than 250000 data elements (damaged, or not DICOM)"
    assert spent < CPU_BOUND_S


def test_images_without_a_preamble_still_print(server, tmp_path):
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    ds.preamble, ds.file_meta = None, FileMetaDataset()
    raw = tmp_path / "raw.dcm"
    pydicom.dcmwrite(raw, ds, implicit_vr=True, little_endian=True, enforce_file_format=False)
    with server.client() as hc:
        job = hc.submit_files([raw], printer="film")
        assert hc.wait(job, timeout=60)["state"] == "completed"
