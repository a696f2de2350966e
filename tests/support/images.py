"""DICOM images for tests and benchmarks: pydicom's bundled files, and small files written here."""
from __future__ import annotations

from pathlib import Path
from unittest import mock

import numpy as np
from pydicom.data import data_manager, get_testdata_file, get_testdata_files
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid


def bundled(name: str) -> str:
    """A test file bundled with pydicom (never one it would download)."""
    path = get_testdata_file(name, download=False)
    assert path, f"pydicom does not bundle {name}"
    return str(path)


def local_test_files() -> list[str]:
    """pydicom's test files present on this machine: its online index is switched off for the
    listing, so nothing is ever downloaded."""
    with mock.patch.object(data_manager, "online_test_file_dummy_paths", return_value={}):
        return sorted(get_testdata_files())


def new_dataset(sop_class_uid: str) -> Dataset:
    """An empty dataset of ``sop_class_uid`` with its file meta (Explicit VR Little Endian) and a
    new SOP Instance UID: fill in the attributes, then ``save_as(path, enforce_file_format=True)``."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class_uid
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class_uid, ds.file_meta.MediaStorageSOPInstanceUID
    return ds


def write_image(path: Path, pixels, photometric: str = "MONOCHROME2", **attrs) -> str:
    """Write a small uncompressed DICOM image; ``pixels`` is (rows, cols[, 3]) or frames of those."""
    arr = np.ascontiguousarray(pixels)
    colour = photometric == "RGB"
    multi = arr.ndim == (4 if colour else 3)
    frame_shape = arr.shape[1:] if multi else arr.shape
    ds = new_dataset(SecondaryCaptureImageStorage)
    ds.Modality = "OT"
    ds.Rows, ds.Columns = frame_shape[0], frame_shape[1]
    ds.SamplesPerPixel = 3 if colour else 1
    if colour:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = ds.BitsStored = arr.dtype.itemsize * 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if arr.dtype.kind == "i" else 0
    if multi:
        ds.NumberOfFrames = arr.shape[0]
    for key, value in attrs.items():
        setattr(ds, key, value)
    ds.PixelData = arr.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return str(path)


def unique_image(path, number: int) -> None:
    """A small 8-bit image whose pixels encode ``number``: its film is recognisable at the printer."""
    ds = new_dataset(SecondaryCaptureImageStorage)
    ds.Modality, ds.PatientName = "OT", "Crash^Test"
    ds.Rows = ds.Columns = 16
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    pixels = np.zeros((16, 16), np.uint8)
    pixels.flat[:12] = [int(bit) * 255 for bit in f"{number:012b}"]  # the number, in bits
    pixels[8:, :] = 128
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)
