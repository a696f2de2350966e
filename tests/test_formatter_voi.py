"""Formatter, grayscale pipeline: VOI choice, VOI functions, automatic window, modality LUT,
MONOCHROME1, contrast/brightness — exact pixel values on synthetic datasets."""
from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from hcserver import formatter as F
from hcserver.formatter.imaging import choose_voi, grey_levels
from tests.support.formatting import linear, one_box
from tests.support.images import write_image

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

RAMP = np.arange(256, dtype=np.uint8).reshape(16, 16)
IDENTITY = {"WindowCenter": 128, "WindowWidth": 256}        # LINEAR: level = stored value


def lut_item(data, explanation: str | None = None, bits: int = 8) -> Dataset:
    item = Dataset()
    item.add_new("LUTDescriptor", "US", [len(data), 0, bits])
    item.add_new("LUTData", "US", [int(v) for v in data])
    if explanation:
        item.LUTExplanation = explanation
    return item


@pytest.fixture
def two_windows(tmp_path):
    """CT-like: HU = stored - 1024, windows SOFT 40/400 and BONE 300/1500."""
    stored = (np.arange(32 * 64, dtype=np.int16).reshape(32, 64) * 2)
    path = write_image(tmp_path / "ct.dcm", stored, RescaleSlope=1, RescaleIntercept=-1024,
                       WindowCenter=[40, 300], WindowWidth=[400, 1500],
                       WindowCenterWidthExplanation=["SOFT", "BONE"])
    return path, stored.astype(np.float64) - 1024


def test_window_by_index_and_by_explanation(two_windows):
    path, hu = two_windows
    assert np.array_equal(one_box(path).boxes[0].pixels, linear(hu, 40, 400))          # default: index 0
    assert np.array_equal(one_box(path, window={"index": 0}).boxes[0].pixels, linear(hu, 40, 400))
    assert np.array_equal(one_box(path, window={"index": 1}).boxes[0].pixels, linear(hu, 300, 1500))
    assert np.array_equal(one_box(path, window={"explanation": " bone "}).boxes[0].pixels, linear(hu, 300, 1500))
    assert F.inspect_image(path).vois == ("SOFT", "BONE")


def test_window_index_or_explanation_the_image_lacks_is_refused_naming_the_field(two_windows):
    path, _ = two_windows
    with pytest.raises(F.OptionError, match=r"^films\[0\]\.frames\[0\]\.window: index 2: the image has 2 VOI") as info:
        one_box(path, window={"index": 2})
    assert info.value.field == "films[0].frames[0].window"
    with pytest.raises(F.OptionError, match=r"explanation 'LUNG'.*'SOFT', 'BONE'"):
        one_box(path, window={"explanation": "LUNG"})


def test_voi_lut_items_come_first_and_are_chosen_by_index_or_explanation(tmp_path):
    items = Sequence([lut_item(range(255, -1, -1), "REVERSED"), lut_item([v // 2 for v in range(256)], "HALF")])
    path = write_image(tmp_path / "luts.dcm", RAMP, VOILUTSequence=items, WindowCenter=10, WindowWidth=20,
                       WindowCenterWidthExplanation="NARROW")
    assert F.inspect_image(path).vois == ("REVERSED", "HALF", "NARROW")
    assert np.array_equal(one_box(path).boxes[0].pixels, 255 - RAMP)
    assert np.array_equal(one_box(path, window={"index": 1}).boxes[0].pixels, RAMP // 2)
    assert np.array_equal(one_box(path, window={"explanation": "half"}).boxes[0].pixels, RAMP // 2)
    assert np.array_equal(one_box(path, window={"index": 2}).boxes[0].pixels, linear(RAMP, 10, 20))


def test_voi_lut_output_range_follows_its_descriptor(tmp_path):
    # A 12-bit LUT: entries 0..4095 map onto 0..255 of an 8-bit film, 0..4095 of a 12-bit one.
    data = np.round(np.arange(256) * 4095 / 255).astype(int)
    path = write_image(tmp_path / "lut12.dcm", RAMP, VOILUTSequence=Sequence([lut_item(data, bits=12)]))
    assert np.array_equal(one_box(path).boxes[0].pixels, RAMP)
    twelve = one_box(path, profile=F.PrinterProfile(dpi=100, bit_depth=12)).boxes[0].pixels
    assert np.array_equal(twelve, data.reshape(16, 16))


def test_monochrome1_is_inverted_after_the_voi_lut(tmp_path):
    path = write_image(tmp_path / "m1.dcm", RAMP, PhotometricInterpretation="MONOCHROME1",
                       VOILUTSequence=Sequence([lut_item([v // 2 for v in range(256)])]))
    assert np.array_equal(one_box(path).boxes[0].pixels, 255 - RAMP // 2)


def test_job_voi_function_overrides_the_images(tmp_path):
    path = write_image(tmp_path / "w.dcm", RAMP, WindowCenter=128, WindowWidth=64)
    exact = one_box(path, window={"center": 128, "width": 128}, voi_function="LINEAR_EXACT").boxes[0].pixels
    assert np.array_equal(exact, np.floor(np.clip((RAMP - 128.0) / 128 + 0.5, 0, 1) * 255 + 0.5))
    sigmoid = one_box(path, voi_function="sigmoid").boxes[0].pixels            # the image's own window
    expected = np.floor(255 / (1 + np.exp(-4 * (RAMP - 128.0) / 64)) + 0.5)
    assert np.abs(sigmoid.astype(int) - expected).max() == 0


def test_voi_function_is_ignored_for_a_voi_lut_with_a_note(tmp_path):
    path = write_image(tmp_path / "l.dcm", RAMP, VOILUTSequence=Sequence([lut_item(range(256))]))
    sheet = one_box(path, voi_function="SIGMOID")
    assert np.array_equal(sheet.boxes[0].pixels, RAMP)
    assert any("voi_function SIGMOID ignored" in note for note in sheet.notes)


def test_modality_lut_sequence_then_window(tmp_path):
    item = Dataset()
    item.add_new("LUTDescriptor", "US", [256, 0, 16])
    item.add_new("LUTData", "US", [4 * v for v in range(256)])
    item.ModalityLUTType = "OD"
    path = write_image(tmp_path / "mlut.dcm", RAMP, ModalityLUTSequence=Sequence([item]),
                       WindowCenter=512, WindowWidth=1024)
    assert np.array_equal(one_box(path).boxes[0].pixels, linear(RAMP.astype(float) * 4, 512, 1024))


def test_rescale_slope_and_intercept(tmp_path):
    stored = np.arange(0, 2000, 2, dtype=np.uint16).reshape(25, 40)
    path = write_image(tmp_path / "r.dcm", stored, RescaleSlope="0.5", RescaleIntercept="-100")
    sheet = one_box(path, window={"center": 200, "width": 500})
    assert np.array_equal(sheet.boxes[0].pixels, linear(stored * 0.5 - 100, 200, 500))


def test_auto_window_ignores_pixel_padding(tmp_path):
    # Half the image is padding (-2000): left in, it would be the 0.5th percentile.
    body = np.arange(-500, 500, dtype=np.int16).reshape(25, 40)
    stored = np.vstack([np.full((25, 40), -2000, np.int16), body])
    path = write_image(tmp_path / "pad.dcm", stored, PixelPaddingValue=-2000, WindowCenter=0, WindowWidth=10)
    values = np.sort(body.ravel())
    lo, hi = float(values[4]), float(values[994])          # 0.5th / 99.5th of the 1000 body pixels
    pixels = one_box(path, window="auto").boxes[0].pixels
    expected = np.floor(np.clip((stored - lo) / (hi - lo), 0, 1) * 255 + 0.5)
    assert np.array_equal(pixels, expected)
    assert choose_voi(__import__("pydicom").dcmread(path), 0, "auto").auto


def test_auto_window_on_float_path_matches_the_lookup_table_path(tmp_path):
    # Values spread wider than the pixel count take the direct (non-table) path.
    rng = np.random.default_rng(3)
    stored = rng.integers(0, 60000, size=(20, 20)).astype(np.uint16)
    path = write_image(tmp_path / "wide.dcm", stored)
    ds = __import__("pydicom").dcmread(path)
    direct, rendering = grey_levels(ds, stored, 0, 255, "auto")
    values = np.sort(stored.ravel().astype(float))
    lo, hi = values[1], values[397]                        # inverted CDF of 400 values
    expected = np.clip((stored - lo) / (hi - lo), 0, 1) * 255 + 0.5
    assert np.allclose(direct, expected, atol=1e-3)
    assert rendering.label == f"C {(lo + hi) / 2:.6g} W {hi - lo:.6g}"


def test_unusable_image_window_falls_back_to_auto_with_a_note(tmp_path):
    path = write_image(tmp_path / "bad.dcm", RAMP, WindowCenter=100, WindowWidth=0)
    sheet = one_box(path)
    assert any("ignored the image's window" in n and "automatic window" in n for n in sheet.notes)
    assert sheet.boxes[0].pixels.min() == 0 and sheet.boxes[0].pixels.max() == 255


@pytest.mark.parametrize("contrast, brightness", [(1.8, 0.0), (0.5, 0.0), (1.0, 0.2), (1.5, -0.1)])
def test_contrast_and_brightness(tmp_path, contrast, brightness):
    path = write_image(tmp_path / "cb.dcm", RAMP, **IDENTITY)
    pixels = one_box(path, contrast=contrast, brightness=brightness).boxes[0].pixels
    y = np.clip((RAMP / 255.0 - 0.5) * contrast + 0.5 + brightness, 0, 1)
    assert np.abs(pixels.astype(int) - np.floor(y * 255 + 0.5)).max() <= 1        # float32 rounding
    assert np.mean(pixels == np.floor(y * 255 + 0.5)) > 0.95


def test_contrast_applies_after_monochrome1_inversion(tmp_path):
    path = write_image(tmp_path / "m1.dcm", RAMP, PhotometricInterpretation="MONOCHROME1", **IDENTITY)
    pixels = one_box(path, brightness=0.5).boxes[0].pixels
    assert np.array_equal(pixels, np.minimum(255, 255 - RAMP.astype(int) + 128))    # brighter on film


def test_colour_contrast_and_brightness(tmp_path):
    rgb = np.stack([RAMP, 255 - RAMP, np.full_like(RAMP, 100)], axis=2)
    path = write_image(tmp_path / "rgb.dcm", rgb, photometric="RGB")
    pixels = one_box(path, brightness=0.1, profile=F.PrinterProfile(dpi=100, color=True)).boxes[0].pixels
    expected = np.floor(np.clip(rgb / 255.0 + 0.1, 0, 1) * 255 + 0.5)
    assert np.abs(pixels.astype(int) - expected).max() <= 1


def test_sigmoid_twelve_bit(tmp_path):
    stored = np.arange(0, 4096, 4, dtype=np.uint16).reshape(32, 32)
    path = write_image(tmp_path / "s.dcm", stored, WindowCenter=2048, WindowWidth=1024, VOILUTFunction="SIGMOID")
    pixels = one_box(path, profile=F.PrinterProfile(dpi=100, bit_depth=12)).boxes[0].pixels
    expected = 4095 / (1 + np.exp(-4 * (stored - 2048.0) / 1024))
    assert pixels.dtype == np.uint16 and np.abs(pixels - expected).max() <= 0.5 + 1e-3


def test_window_label_describes_the_voi_in_use(two_windows, tmp_path):
    import pydicom
    path, _ = two_windows
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    assert grey_levels(ds, arr, 0, 255)[1].label == "C 40 W 400"
    assert grey_levels(ds, arr, 0, 255, {"index": 1})[1].label == "C 300 W 1500"
    lut = write_image(tmp_path / "l.dcm", RAMP, VOILUTSequence=Sequence([lut_item(range(256), "NORMAL")]))
    ds = pydicom.dcmread(lut)
    assert grey_levels(ds, ds.pixel_array, 0, 255)[1].label == "VOI LUT NORMAL"
