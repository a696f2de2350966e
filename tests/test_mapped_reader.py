"""Pixels in a file mapping are streamed into a request and the mapping's pages given back
(hcserver.drivers.dicom.mapped)."""
from __future__ import annotations

import io
import mmap
import os

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from hcserver.drivers.dicom.mapped import MappedReader, whole_mapping

SIZE = 64 << 20


def mapped_file(tmp_path, data: bytes) -> mmap.mmap:
    path = tmp_path / "pixels"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        return mmap.mmap(fd, 0, prot=mmap.PROT_READ)
    finally:
        os.close(fd)


def rss_file_kb() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("RssFile:"):
            return int(line.split()[1])
    raise AssertionError("no RssFile in /proc/self/status")


def test_an_array_is_recognised_as_a_whole_mapping_only_when_it_is_one(tmp_path):
    mapping = mapped_file(tmp_path, bytes(range(256)) * 16)
    whole = np.frombuffer(mapping, np.uint16).reshape(32, 64)
    assert whole_mapping(whole) is mapping
    assert whole_mapping(whole[1:]) is None                    # a part of it
    assert whole_mapping(whole[:, ::2]) is None                # not contiguous
    assert whole_mapping(np.ascontiguousarray(whole).copy()) is None
    assert whole_mapping(np.zeros((32, 64), np.uint16)) is None


def test_the_reader_gives_every_byte_and_again_after_a_seek(tmp_path):
    data = np.random.default_rng(3).integers(0, 256, 3 * (1 << 20) + 12345, np.uint8).tobytes()
    reader = MappedReader(mapped_file(tmp_path, data))
    assert reader.readable() and reader.seekable()
    chunks = iter(lambda: reader.read(8192), b"")
    assert b"".join(chunks) == data
    assert reader.seek(0, io.SEEK_END) == len(data) and reader.read() == b""
    assert reader.seek(100) == 100 and reader.read(10) == data[100:110]    # read again after given back
    reader.seek(0)
    assert reader.read() == data


def test_reading_through_the_reader_leaves_the_mapping_out_of_memory(tmp_path):
    data = np.random.default_rng(5).integers(0, 256, SIZE, np.uint8).tobytes()
    mapping = mapped_file(tmp_path, data)
    del data
    before = rss_file_kb()
    reader = MappedReader(mapping)
    total = sum(len(chunk) for chunk in iter(lambda: reader.read(8192), b""))
    assert total == SIZE
    assert rss_file_kb() - before < 8 << 10, "at most a few MB of the 64 MB mapping stay resident"
    touched = sum(mapping[k] for k in range(0, SIZE, mmap.PAGESIZE))   # read in place: every page resident
    assert touched >= 0 and rss_file_kb() - before > 48 << 10


def test_pydicom_streams_a_mapped_pixel_value_into_the_encoded_request(tmp_path):
    pixels = np.random.default_rng(7).integers(0, 4096, (512, 640), np.uint16)
    mapping = mapped_file(tmp_path, pixels.tobytes())
    ds = Dataset()
    ds.Rows, ds.Columns = 512, 640
    ds.add_new(0x7FE00010, "OW", MappedReader(mapping))
    out = DicomBytesIO()
    out.is_little_endian, out.is_implicit_VR = True, False
    write_dataset(out, ds)
    back = pydicom.dcmread(io.BytesIO(out.getvalue()), force=True)
    assert np.array_equal(np.frombuffer(back.PixelData, "<u2").reshape(512, 640), pixels)
