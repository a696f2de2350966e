"""Every file of pydicom's bundled test data either formats or is refused with UnprintableImage
and a clear reason; no other exception escapes. Also: each pixel encoding prints, and objects
that are not images are refused by name."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import data_manager
from pydicom.uid import EncapsulatedPDFStorage

from hcserver import formatter as F
from tests.support.images import bundled, local_test_files, new_dataset

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


FILES = local_test_files()
ANNOTATIONS = [{"text": "{PatientName} {StudyDate} {Window}", "at": "top-left"},
               {"text": "{Frame}/{Frames} {Modality}", "at": "bottom-right"}]
GRAPHICS = [{"type": "line", "points": [[0, 0], [10, 10]]}, {"type": "ellipse", "center": [5, 5], "radii": [3, 2]}]


def test_there_are_bundled_files():
    assert len(FILES) > 50


@pytest.mark.parametrize("path", FILES, ids=lambda p: os.path.relpath(p, data_manager.DATA_ROOT))
def test_bundled_file_formats_or_is_refused_clearly(path):
    try:
        info = F.inspect_image(path)
    except F.UnprintableImage as exc:
        assert exc.path == path and str(exc) == f"{path}: {exc.reason}" and len(exc.reason) > 10
        return
    last = info.frames - 1
    frames = [{"image": "i", "annotations": ANNOTATIONS, "graphics": GRAPHICS, "overlays": True},
              {"image": "i", "frame": last, "window": "auto", "contrast": 1.2}]
    film = {"film_size": "8INX10IN", "layout": "STANDARD\\2,1", "magnification": "BILINEAR", "frames": frames}
    for colour in (False, True):
        try:
            sheet = F.format_film(film, {"i": path}, F.PrinterProfile(dpi=20, color=colour))
        except F.UnprintableImage as exc:      # a later frame may still be undecodable
            assert "films[0].frames[1]" in exc.reason and exc.path == path
            return
        assert len(sheet.boxes) == 2
        for box in sheet.boxes:
            assert box.pixels.size and box.pixels.dtype == np.uint8
            assert box.pixels.ndim == (3 if colour else 2)
        assert F.compose(sheet).shape[:2] == (sheet.film_pixels[1], sheet.film_pixels[0])


@pytest.mark.parametrize("name, syntax", [
    ("SC_rgb_jpeg_dcmtk.dcm", "JPEG Baseline"), ("JPGExtended.dcm", "JPEG Extended"),
    ("SC_rgb_jpeg_gdcm.dcm", "JPEG Lossless"), ("MR_small_jpeg_ls_lossless.dcm", "JPEG-LS Lossless"),
    ("JPEGLSNearLossless_16.dcm", "JPEG-LS Lossy"), ("JPEG2000.dcm", "JPEG 2000"),
    ("MR_small_jp2klossless.dcm", "JPEG 2000"), ("MR_small_RLE.dcm", "RLE"),
    ("MR_small_bigendian.dcm", "Big Endian"), ("image_dfl.dcm", "Deflated"),
    ("SC_ybr_full_422_uncompressed.dcm", "Explicit VR Little Endian"),
])
def test_every_encoding_prints(name, syntax):
    path = bundled(name)
    assert syntax in pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID.name
    sheet = F.format_film({"film_size": "8INX10IN", "layout": "STANDARD\\1,1", "frames": [{"image": "i"}]},
                          {"i": path}, F.PrinterProfile(dpi=30, magnification="CUBIC"))
    assert sheet.boxes[0].pixels.std() > 1                  # a picture, not a flat fill


def test_not_images_are_refused_by_name(tmp_path):
    assert "RT Plan Storage" in refusal(bundled("rtplan.dcm"))
    assert "Comprehensive SR Storage" in refusal(bundled("test-SR.dcm"))
    assert "Waveform" in refusal(bundled("waveform_ecg.dcm"))
    assert "RT Structure Set Storage" in refusal(bundled("rtstruct.dcm"))    # no DICM prefix
    ds = new_dataset(EncapsulatedPDFStorage)
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = b"%PDF-1.4\n%%EOF\n"
    pdf = tmp_path / "report.dcm"
    ds.save_as(pdf, enforce_file_format=True)
    reason = refusal(pdf)
    assert "no Pixel Data" in reason and "Encapsulated PDF Storage" in reason


def refusal(path) -> str:
    with pytest.raises(F.UnprintableImage) as info:
        F.inspect_image(path)
    assert str(info.value).startswith(f"{path}: ")
    return info.value.reason


def test_damaged_files_are_refused_with_the_reason(tmp_path):
    assert "cannot decode the pixel data (JPEG Extended" in refusal(bundled("JPEG-lossy.dcm"))
    assert "invalid Number of Frames" in refusal(bundled("badVR.dcm"))
    data = Path(bundled("MR_small_RLE.dcm")).read_bytes()
    short = tmp_path / "rle.dcm"
    short.write_bytes(data[:len(data) - 3000])
    assert "truncated" in refusal(short)
    assert "is a directory" in refusal(tmp_path)
