"""Writing small DICOM files for tests and benchmarks."""
from __future__ import annotations

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid


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
