"""Formatter: geometry, grayscale/colour pipeline, refusals, format_film and compose."""
from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import pixel_array
from pydicom.sequence import Sequence
from skimage.transform import resize

from hcserver import formatter as F
from hcserver.formatter.composition import density_level
from hcserver.formatter.geometry import GAP_MM, box_rects, canonical_layout, parse_layout
from hcserver.formatter.imaging import Window, window_unit
from hcserver.formatter.pipeline import fit_size
from hcserver.formatter.resample import resample
from tests.support.formatting import linear, one_box
from tests.support.images import bundled, write_image

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# --- geometry ------------------------------------------------------------------------------------

# (width, height) in PORTRAIT at 320 dpi, worked out by hand: inches x 320, millimetres x 320 / 25.4
# (10INX14IN is 257 x 364 mm, PS3.3 C.13.8)
FILM_320 = {
    "8INX10IN": (2560, 3200), "8_5INX11IN": (2720, 3520), "10INX12IN": (3200, 3840),
    "10INX14IN": (3238, 4586), "11INX14IN": (3520, 4480), "11INX17IN": (3520, 5440),
    "14INX14IN": (4480, 4480), "14INX17IN": (4480, 5440), "24CMX24CM": (3024, 3024),
    "24CMX30CM": (3024, 3780), "A4": (2646, 3742), "A3": (3742, 5291),
}


@pytest.mark.parametrize("film_size", sorted(FILM_320))
def test_film_pixels_every_size_both_orientations(film_size):
    width, height = FILM_320[film_size]
    assert F.film_pixels(film_size, "PORTRAIT", 320) == (width, height)
    assert F.film_pixels(film_size, "LANDSCAPE", 320) == (height, width)
    assert set(F.FILM_SIZES) == set(FILM_320)


def test_film_pixels_refuses_unknown_size_orientation_and_dpi():
    with pytest.raises(ValueError, match="film size '15INX15IN'"):
        F.film_pixels("15INX15IN", "PORTRAIT", 320)
    with pytest.raises(ValueError, match="orientation 'SIDEWAYS'"):
        F.film_pixels("A4", "SIDEWAYS", 320)
    with pytest.raises(ValueError, match="dpi 0"):
        F.film_pixels("A4", "PORTRAIT", 0)


@pytest.mark.parametrize("layout, count", [
    ("STANDARD\\1,1", 1), ("STANDARD\\2,2", 4), ("STANDARD\\4,5", 20), ("STANDARD\\10,10", 100),
    ("ROW\\2,3", 5), ("ROW\\1", 1), ("COL\\1,2", 3), ("COL\\3,3,3", 9),
    ("SLIDE", 35), ("SUPERSLIDE", 40), ("standard\\3,2", 6),
])
def test_film_box_count(layout, count):
    assert F.film_box_count(layout) == count


@pytest.mark.parametrize("layout, message", [
    ("STANDARD\\0,2", "at least 1"), ("STANDARD\\2", "exactly two values"),
    ("STANDARD\\2,3,4", "exactly two values"), ("STANDARD\\11,2", "limit of 10"),
    ("STANDARD\\a,2", "'a' is not a whole number"), ("STANDARD", "needs values"),
    ("ROW\\", "comma-separated"), ("ROW\\1,,2", "comma-separated"),
    ("ROW\\" + ",".join("1" * 11), "limit of 10"),
    ("COL\\-1", "not a whole number"), ("GRID\\2,2", "unknown display format 'GRID'"),
    ("CUSTOM\\1", "CUSTOM"), ("SLIDE\\2", "no values"), ("", "expected a display format"),
])
def test_film_box_count_refuses_malformed_layouts(layout, message):
    with pytest.raises(ValueError, match=message):
        F.film_box_count(layout)


def test_canonical_layout():
    assert canonical_layout(" standard\\ 2, 03") == "STANDARD\\2,3"
    assert canonical_layout("slide") == "SLIDE"
    assert canonical_layout("ROW\\1,2") == "ROW\\1,2"


def test_validate_layout_names_the_problem():
    F.validate_layout("STANDARD\\4,5", "PORTRAIT", "14INX17IN")
    F.validate_layout("SUPERSLIDE", "LANDSCAPE", "8INX10IN")
    with pytest.raises(ValueError, match="film size 'LETTER'"):
        F.validate_layout("STANDARD\\1,1", "PORTRAIT", "LETTER")
    with pytest.raises(ValueError, match="orientation"):
        F.validate_layout("STANDARD\\1,1", "UPRIGHT", "A4")
    with pytest.raises(ValueError, match="at least 1"):
        F.validate_layout("STANDARD\\0,1", "PORTRAIT", "A4")
    with pytest.raises(ValueError, match="limit of 10"):
        F.validate_layout("STANDARD\\12,12", "PORTRAIT", "14INX17IN")


def test_slides_put_the_long_count_along_the_long_side():
    assert parse_layout("SLIDE", "PORTRAIT").lines == (5,) * 7
    assert parse_layout("SLIDE", "LANDSCAPE").lines == (7,) * 5
    assert parse_layout("SUPERSLIDE", "PORTRAIT").lines == (5,) * 8
    assert parse_layout("SUPERSLIDE", "LANDSCAPE").lines == (8,) * 5


LAYOUTS = ["STANDARD\\1,1", "STANDARD\\2,3", "STANDARD\\4,5", "STANDARD\\10,10", "ROW\\1,2,3",
           "COL\\3,1", "SLIDE", "SUPERSLIDE"]


@pytest.mark.parametrize("layout, film_size, orientation",
                         list(itertools.product(LAYOUTS, ["8INX10IN", "14INX17IN", "A3", "24CMX24CM"],
                                                ["PORTRAIT", "LANDSCAPE"])))
def test_box_rects_are_inside_the_film_and_do_not_overlap(layout, film_size, orientation):
    dpi = 150
    width, height = F.film_pixels(film_size, orientation, dpi)
    rects = box_rects(layout, orientation, film_size, dpi)
    assert len(rects) == F.film_box_count(layout)
    gap = round(GAP_MM * dpi / 25.4)
    for r in rects:
        assert r.width > 0 and r.height > 0
        assert gap <= r.x and r.x + r.width <= width - gap
        assert gap <= r.y and r.y + r.height <= height - gap
    for a, b in itertools.combinations(rects, 2):
        apart = (a.x + a.width + gap <= b.x or b.x + b.width + gap <= a.x
                 or a.y + a.height + gap <= b.y or b.y + b.height + gap <= a.y)
        assert apart, (a, b)


def test_box_positions_run_by_rows_except_col():
    std = box_rects("STANDARD\\3,2", "PORTRAIT", "14INX17IN", 100)
    assert [(r.x, r.y) for r in std] == sorted([(r.x, r.y) for r in std], key=lambda p: (p[1], p[0]))
    assert len({r.y for r in std[:3]}) == 1 and std[3].y > std[0].y
    col = box_rects("COL\\2,3", "PORTRAIT", "14INX17IN", 100)
    assert col[0].x == col[1].x and col[1].y > col[0].y          # down the first column
    assert col[2].x > col[0].x and len({r.x for r in col[2:]}) == 1
    row = box_rects("ROW\\1,3", "PORTRAIT", "14INX17IN", 100)
    assert row[0].width > 2 * row[1].width and row[1].y == row[2].y == row[3].y


# --- windowing and grayscale ---------------------------------------------------------------------

def test_window_unit_matches_the_standard_formulas():
    x = np.array([-1000, -161, -160, -159.5, 0, 39.5, 40, 100, 239, 239.5, 240, 3000], dtype=np.float64)
    got = np.floor(window_unit(x, Window(40, 400)) * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(got, linear(x, 40, 400))
    exact = window_unit(np.array([-160.0, 40.0, 140.0, 240.0]), Window(40, 400, "LINEAR_EXACT"))
    assert np.allclose(exact, [0.0, 0.5, 0.75, 1.0])
    sigmoid = window_unit(np.array([40.0, 140.0, -1e6]), Window(40, 400, "SIGMOID"))
    assert np.allclose(sigmoid, [0.5, 1 / (1 + np.exp(-1.0)), 0.0])
    step = window_unit(np.array([9.0, 9.5, 10.0]), Window(10, 1))
    assert step.tolist() == [0.0, 0.0, 1.0]


@pytest.fixture
def ct_ramp(tmp_path):
    """A CT-like image: stored 0..1023 (+ ramp), rescaled to HU = stored - 1024, window 40/400."""
    stored = (np.arange(32 * 64, dtype=np.int16).reshape(32, 64) * 2)      # 0 .. 4094
    path = write_image(tmp_path / "ct.dcm", stored, RescaleSlope=1, RescaleIntercept=-1024,
                       WindowCenter=[40, 300], WindowWidth=[400, 1500])
    return path, stored.astype(np.float64) - 1024


def test_dataset_window_after_rescale(ct_ramp):
    path, hu = ct_ramp
    sheet = one_box(path)
    assert np.array_equal(sheet.boxes[0].pixels, linear(hu, 40, 400))


def test_job_window_overrides_the_dataset(ct_ramp):
    path, hu = ct_ramp
    sheet = one_box(path, window={"center": -600, "width": 1500})
    assert np.array_equal(sheet.boxes[0].pixels, linear(hu, -600, 1500))


def test_no_window_uses_an_automatic_percentile_window(tmp_path):
    # 100..1099 twice each, the ten lowest replaced by hot pixels (4000): the 0.5th percentile
    # (inverted CDF: the 10th smallest of 2000) is 109 and the 99.5th (the 1990th) 1099, so the
    # hot pixels do not flatten the picture as a min..max window would.
    stored = (np.arange(2000) // 2 + 100).astype(np.uint16).reshape(50, 40)
    stored[0, :10] = 4000
    values = np.sort(stored.ravel())
    lo, hi = float(values[9]), float(values[1989])
    assert (lo, hi) == (109.0, 1099.0)
    sheet = one_box(write_image(tmp_path / "plain.dcm", stored))
    expected = np.floor(np.clip((stored - lo) / (hi - lo), 0, 1) * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(sheet.boxes[0].pixels, expected)
    assert sheet.boxes[0].pixels.min() == 0 and sheet.boxes[0].pixels.max() == 255


def test_voi_lut_function_and_sequence(tmp_path):
    values = np.arange(256, dtype=np.uint8).reshape(16, 16)
    exact = one_box(write_image(tmp_path / "exact.dcm", values, WindowCenter=128, WindowWidth=128,
                                VOILUTFunction="LINEAR_EXACT")).boxes[0].pixels
    assert np.array_equal(exact, np.floor(np.clip((values - 128.0) / 128 + 0.5, 0, 1) * 255 + 0.5))
    sigmoid = one_box(write_image(tmp_path / "sigmoid.dcm", values, WindowCenter=128, WindowWidth=64,
                                  VOILUTFunction="SIGMOID")).boxes[0].pixels
    expected = np.floor(255 / (1 + np.exp(-4 * (values - 128.0) / 64)) + 0.5)
    assert np.abs(sigmoid.astype(int) - expected).max() <= 1
    item = Dataset()
    item.add_new("LUTDescriptor", "US", [256, 0, 8])
    item.add_new("LUTData", "US", list(range(255, -1, -1)))      # a reversing VOI LUT
    lut = one_box(write_image(tmp_path / "voilut.dcm", values, VOILUTSequence=Sequence([item]),
                              WindowCenter=10, WindowWidth=20)).boxes[0].pixels
    assert np.array_equal(lut, 255 - values)    # the VOI LUT Sequence wins over the window


def test_monochrome1_is_inverted(tmp_path):
    values = np.arange(256, dtype=np.uint8).reshape(16, 16)
    identity = {"WindowCenter": 128, "WindowWidth": 256}       # LINEAR: level = value
    mono2 = one_box(write_image(tmp_path / "m2.dcm", values, **identity)).boxes[0].pixels
    path1 = write_image(tmp_path / "m1.dcm", values, PhotometricInterpretation="MONOCHROME1", **identity)
    mono1 = one_box(path1).boxes[0]
    assert np.array_equal(mono2, values)
    assert np.array_equal(mono1.pixels, 255 - values)
    assert mono1.polarity == "NORMAL"


def test_reverse_polarity_travels_with_the_box_and_compose_applies_it(tmp_path):
    values = np.arange(256, dtype=np.uint8).reshape(16, 16)
    path = write_image(tmp_path / "m2.dcm", values, WindowCenter=128, WindowWidth=256)
    normal, reverse = one_box(path), one_box(path, polarity="REVERSE")
    assert reverse.boxes[0].polarity == "REVERSE"
    assert np.array_equal(reverse.boxes[0].pixels, normal.boxes[0].pixels)   # the printer inverts
    rect = reverse.rects[0]
    y, x = rect.y + (rect.height - 16) // 2, rect.x + (rect.width - 16) // 2
    assert np.array_equal(F.compose(reverse)[y:y + 16, x:x + 16], 255 - values)
    assert np.array_equal(F.compose(normal)[y:y + 16, x:x + 16], values)


def test_twelve_bit_output(ct_ramp):
    path, hu = ct_ramp
    sheet = one_box(path, profile=F.PrinterProfile(dpi=100, bit_depth=12))
    pixels = sheet.boxes[0].pixels
    assert pixels.dtype == np.uint16 and sheet.bit_depth == 12
    assert pixels.min() == 0 and pixels.max() == 4095
    inside = (hu > -160) & (hu < 239)
    expected = ((hu - 39.5) / 399 + 0.5) * 4095
    assert np.abs(pixels[inside] - expected[inside]).max() <= 0.5 + 1e-6
    film = F.compose(sheet)
    assert film.dtype == np.uint8 and film.max() == 255


def test_same_image_in_every_encoding_gives_the_same_pixels():
    reference = one_box(bundled("MR_small.dcm")).boxes[0].pixels
    for name in ("MR_small_bigendian.dcm", "MR_small_implicit.dcm", "MR_small_RLE.dcm",
                 "MR_small_jp2klossless.dcm"):
        assert np.array_equal(one_box(bundled(name)).boxes[0].pixels, reference), name


def test_bundled_ct_uses_its_rescale(tmp_path):
    ds = pydicom.dcmread(bundled("CT_small.dcm"))
    hu = pixel_array(ds).astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    sheet = one_box(bundled("CT_small.dcm"), window={"center": 40, "width": 400})
    assert np.array_equal(sheet.boxes[0].pixels, linear(hu, 40, 400))


# --- colour --------------------------------------------------------------------------------------

def test_colour_printer_gets_rgb():
    path = bundled("SC_rgb_rle.dcm")
    sheet = one_box(path, profile=F.PrinterProfile(dpi=100, color=True))
    pixels = sheet.boxes[0].pixels
    assert sheet.color and pixels.shape == (100, 100, 3) and pixels.dtype == np.uint8
    assert np.array_equal(pixels, pixel_array(path))
    assert sheet.notes == ()
    film = F.compose(sheet)
    assert film.shape == (*reversed(sheet.film_pixels), 3)


def test_ybr_and_palette_become_rgb():
    rgb = one_box(bundled("SC_rgb_rle.dcm"), profile=F.PrinterProfile(dpi=100, color=True)).boxes[0].pixels
    ybr = one_box(bundled("SC_rgb_jpeg_dcmtk.dcm"),     # YBR_FULL JPEG of the same picture
                  profile=F.PrinterProfile(dpi=100, color=True)).boxes[0].pixels
    assert np.abs(ybr.astype(int) - rgb).mean() < 3
    palette = one_box(bundled("examples_palette.dcm"), profile=F.PrinterProfile(dpi=100, color=True))
    assert palette.boxes[0].pixels.ndim == 3 and palette.boxes[0].pixels.shape[2] == 3


def test_colour_on_a_grey_printer_is_luminance_with_a_note():
    path = bundled("SC_rgb_rle.dcm")
    sheet = one_box(path)
    pixels = sheet.boxes[0].pixels
    assert pixels.shape == (100, 100) and pixels.dtype == np.uint8 and not sheet.color
    expected = pixel_array(path).astype(np.float64) @ [0.299, 0.587, 0.114]
    assert np.abs(pixels - expected).max() <= 0.5 + 1e-3
    assert len(sheet.notes) == 1 and "printed as grey" in sheet.notes[0]
    assert "films[0].frames[0]" in sheet.notes[0]


def test_grey_image_on_a_colour_film_is_repeated_over_three_channels():
    sheet = one_box(bundled("MR_small.dcm"), profile=F.PrinterProfile(dpi=100, color=True, bit_depth=12))
    pixels = sheet.boxes[0].pixels
    assert pixels.shape == (64, 64, 3) and pixels.dtype == np.uint8 and sheet.bit_depth == 8
    assert np.array_equal(pixels[..., 0], pixels[..., 2])


# --- frames --------------------------------------------------------------------------------------

def test_multi_frame_frame_choice(tmp_path):
    frames = np.stack([np.full((8, 8), v, dtype=np.uint16) for v in (0, 100, 200)])
    frames[:, 0, 0] = 0
    frames[:, 0, 1] = 1000          # every frame spans 0..1000
    path = write_image(tmp_path / "multi.dcm", frames)
    assert F.inspect_image(path).frames == 3
    for number, level in ((0, 0), (1, 26), (2, 51)):
        pixels = one_box(path, frame=number).boxes[0].pixels
        assert pixels[4, 4] == level, number      # round(v / 1000 * 255)
    with pytest.raises(ValueError, match=r"films\[0\]\.frames\[0\]\.frame: frame 3 does not exist.*3 frames"):
        one_box(path, frame=3)


def test_multi_frame_colour_frame_choice():
    path = bundled("SC_rgb_rle_2frame.dcm")
    profile = F.PrinterProfile(dpi=100, color=True)
    for number in (0, 1):
        pixels = one_box(path, frame=number, profile=profile).boxes[0].pixels
        assert np.array_equal(pixels, pixel_array(path, index=number))


def test_enhanced_per_frame_window(tmp_path):
    values = np.stack([np.arange(256, dtype=np.uint8).reshape(16, 16)] * 2)
    groups = []
    for center in (64, 192):
        voi = Dataset()
        voi.WindowCenter, voi.WindowWidth = center, 128
        group = Dataset()
        group.FrameVOILUTSequence = Sequence([voi])
        groups.append(group)
    path = write_image(tmp_path / "enhanced.dcm", values, PerFrameFunctionalGroupsSequence=Sequence(groups))
    first = one_box(path, frame=0).boxes[0].pixels
    second = one_box(path, frame=1).boxes[0].pixels
    assert np.array_equal(first, linear(values[0], 64, 128))
    assert np.array_equal(second, linear(values[1], 192, 128))


# --- refusals ------------------------------------------------------------------------------------

def test_inspect_image_accepts_printable_images():
    info = F.inspect_image(bundled("CT_small.dcm"))
    assert info == F.ImageInfo(1, 128, 128, "MONOCHROME2", False, (), (0.661468, 0.661468))
    assert F.inspect_image(bundled("MR_small.dcm")).vois == ("",)          # one window, unexplained
    info = F.inspect_image(bundled("examples_ybr_color.dcm"))
    assert (info.frames, info.color, info.photometric) == (30, True, "YBR_FULL_422")
    assert F.inspect_image(bundled("JPEG2000.dcm")).rows == 1024


def refusal(path) -> F.UnprintableImage:
    with pytest.raises(F.UnprintableImage) as info:
        F.inspect_image(path)
    exc = info.value
    assert exc.path == str(path) and str(exc) == f"{path}: {exc.reason}"
    assert isinstance(exc, ValueError)
    return exc


def test_refuses_objects_without_pixel_data():
    assert "RT Plan Storage" in refusal(bundled("rtplan.dcm")).reason
    assert "no Pixel Data" in refusal(bundled("rtplan.dcm")).reason
    assert "Comprehensive SR Storage" in refusal(bundled("test-SR.dcm")).reason
    assert "Waveform" in refusal(bundled("waveform_ecg.dcm")).reason


def test_refuses_non_dicom_and_missing_files(tmp_path):
    junk = tmp_path / "notes.dcm"
    junk.write_bytes(b"this is not a DICOM file\n" * 40)
    assert "not a DICOM file" in refusal(junk).reason
    assert "not found" in refusal(tmp_path / "missing.dcm").reason


def test_refuses_truncated_files(tmp_path):
    data = Path(bundled("CT_small.dcm")).read_bytes()
    for cut in (len(data) - 5000, 1000):
        short = tmp_path / f"ct_{cut}.dcm"
        short.write_bytes(data[:cut])
        assert "truncated" in refusal(short).reason, cut
    assert "truncated" in refusal(bundled("MR_truncated.dcm")).reason
    data = Path(bundled("JPEG2000.dcm")).read_bytes()           # encapsulated pixel data cut short
    short = tmp_path / "j2k.dcm"
    short.write_bytes(data[:-2000])
    assert "truncated" in refusal(short).reason


def test_accepts_an_image_dataset_without_file_meta(tmp_path):
    ds = pydicom.dcmread(bundled("MR_small.dcm"))
    ds.preamble = None
    ds.file_meta = FileMetaDataset()
    raw = tmp_path / "raw.dcm"
    pydicom.dcmwrite(raw, ds, implicit_vr=True, little_endian=True, enforce_file_format=False)
    assert not raw.read_bytes()[128:132] == b"DICM"
    assert F.inspect_image(raw).rows == 64
    assert np.array_equal(one_box(str(raw)).boxes[0].pixels, one_box(bundled("MR_small.dcm")).boxes[0].pixels)


def test_refuses_undecodable_pixel_data():
    reason = refusal(bundled("JPEG-lossy.dcm")).reason
    assert reason.startswith("cannot decode the pixel data (JPEG Extended")


def test_format_film_reports_unprintable_images_with_the_frame(tmp_path):
    film = {"film_size": "8INX10IN", "orientation": "PORTRAIT", "layout": "STANDARD\\1,2",
            "magnification": "CUBIC", "frames": [{"image": "a"}, {"image": "plan"}]}
    images = {"a": bundled("MR_small.dcm"), "plan": bundled("rtplan.dcm")}
    with pytest.raises(F.UnprintableImage, match=r"RT Plan Storage.*films\[2\]\.frames\[1\]"):
        F.format_film(film, images, F.PrinterProfile(dpi=50), index=2)


@pytest.mark.parametrize("change, message", [
    ({"layout": "STANDARD\\0,1"}, r"films\[0\]\.layout: layout 'STANDARD\\0,1'"),
    ({"film_size": "9INX9IN"}, r"films\[0\]\.film_size: '9INX9IN' is not one of"),
    ({"frames": [{"image": "nope"}]}, r"films\[0\]\.frames\[0\]\.image: unknown image 'nope'"),
    ({"frames": [{"image": "mr"}] * 5}, r"films\[0\]\.frames: 5 frames do not fit layout STANDARD\\2,2 \(4"),
    ({"frames": [{"image": "mr", "position": 5}]}, r"films\[0\]\.frames\[0\]\.position: 5 .*1\.\.4"),
    ({"frames": [{"image": "mr", "position": 2}, {"image": "mr", "position": 2}]}, "already used"),
    ({"frames": [{"image": "mr", "frame": 1}]}, r"frame 1 does not exist.*1 frame$"),
    ({"frames": [{"image": "mr", "window": {"center": 0, "width": 0}}]}, r"frames\[0\]\.window"),
    ({"frames": [{"image": "mr", "polarity": "INVERSE"}]}, r"frames\[0\]\.polarity"),
    ({"magnification": "SINC"}, r"films\[0\]\.magnification"),
    ({"border_density": "PURPLE"}, r"films\[0\]\.border_density"),
])
def test_format_film_refusals_name_film_frame_and_reason(change, message):
    film = {"film_size": "8INX10IN", "orientation": "PORTRAIT", "layout": "STANDARD\\2,2",
            "magnification": "CUBIC", "frames": [{"image": "mr"}]}
    film.update(change)
    with pytest.raises(ValueError, match=message):
        F.format_film(film, {"mr": bundled("MR_small.dcm")}, F.PrinterProfile(dpi=50))


# --- layout, magnification and compose -----------------------------------------------------------

def test_frames_fill_boxes_in_order_around_given_positions(tmp_path):
    # images told apart by their size (magnification NONE keeps it)
    paths = {str(n): write_image(tmp_path / f"{n}.dcm", np.arange(n * n, dtype=np.uint8).reshape(n, n))
             for n in (4, 5, 6)}
    film = {"film_size": "8INX10IN", "orientation": "PORTRAIT", "layout": "STANDARD\\2,2",
            "magnification": "NONE",
            "frames": [{"image": "4"}, {"image": "5", "position": 1}, {"image": "6"}]}
    sheet = F.format_film(film, paths, F.PrinterProfile(dpi=50))
    assert [(b.position, b.pixels.shape[0]) for b in sheet.boxes] == [(1, 5), (2, 4), (3, 6)]
    assert len(sheet.rects) == 4


def test_box_pixels_fit_the_box_with_aspect_kept(tmp_path):
    sheet = one_box(bundled("CT_small.dcm"), magnification="CUBIC", layout="STANDARD\\2,1")
    rect, pixels = sheet.rects[0], sheet.boxes[0].pixels
    assert pixels.shape[1] == rect.width and pixels.shape[0] <= rect.height
    assert abs(pixels.shape[0] - rect.width) <= 1          # square image, square pixels
    tall = write_image(tmp_path / "tall.dcm", np.arange(64 * 64, dtype=np.uint16).reshape(64, 64),
                       PixelSpacing=[1.0, 0.5])              # 64 mm tall, 32 mm wide
    sheet = one_box(tall, magnification="BILINEAR")
    rect, pixels = sheet.rects[0], sheet.boxes[0].pixels
    assert pixels.shape[0] == rect.height
    assert abs(pixels.shape[1] - rect.height / 2) <= 1
    assert fit_size(100, 50, 1.0, 300, 300) == (300, 150)
    assert fit_size(50, 100, 1.0, 300, 300) == (150, 300)
    assert fit_size(10, 10, 2.0, 100, 400) == (200, 100)


def test_magnification_none_keeps_pixels_and_crops_to_the_box(tmp_path):
    big = np.arange(400 * 300, dtype=np.uint32).reshape(400, 300) % 256
    path = write_image(tmp_path / "big.dcm", big.astype(np.uint8), WindowCenter=128, WindowWidth=256)
    sheet = one_box(path, profile=F.PrinterProfile(dpi=30))     # 8x10 in at 30 dpi: box ~ 233 x 293
    rect, pixels = sheet.rects[0], sheet.boxes[0].pixels
    assert pixels.shape == (min(400, rect.height), min(300, rect.width))
    top, left = (400 - pixels.shape[0]) // 2, (300 - pixels.shape[1]) // 2
    assert np.array_equal(pixels, big[top:top + pixels.shape[0], left:left + pixels.shape[1]])


def test_resample_agrees_with_scikit_image():
    y, x = np.mgrid[0:40, 0:50]
    smooth = (np.sin(x / 6.0) * np.cos(y / 4.0) * 100 + 120).astype(np.float32)
    assert np.array_equal(resample(smooth, 80, 100, "REPLICATE"), np.repeat(np.repeat(smooth, 2, 0), 2, 1))
    for method, order, tolerance in (("REPLICATE", 0, 1e-4), ("BILINEAR", 1, 1e-3), ("CUBIC", 3, 1.0)):
        ours = resample(smooth, 97, 123, method)
        ref = resize(smooth, (97, 123), order=order, preserve_range=True, anti_aliasing=False, mode="edge")
        assert np.abs(ours - ref)[4:-4, 4:-4].max() < tolerance, method
    shrunk = resample(smooth, 20, 25, "CUBIC")
    ref = resize(smooth, (20, 25), order=1, preserve_range=True, anti_aliasing=True)
    assert np.abs(shrunk - ref)[2:-2, 2:-2].mean() < 3
    rgb = np.stack([smooth, smooth * 0.5, 255 - smooth], axis=2)
    out = resample(rgb, 60, 70, "CUBIC")
    assert out.shape == (60, 70, 3) and out.dtype == np.float32
    assert np.allclose(out[..., 1], resample(smooth, 60, 70, "CUBIC") * 0.5, atol=1e-3)
    flat = np.full((13, 17), 42.0, np.float32)
    for method in ("REPLICATE", "BILINEAR", "CUBIC"):
        assert np.allclose(resample(flat, 31, 7, method), 42.0, atol=1e-4)


def test_compose_places_each_box_at_its_rect(tmp_path):
    stored = np.arange(64 * 48, dtype=np.uint16).reshape(64, 48)
    path = write_image(tmp_path / "ramp.dcm", stored)
    film = {"film_size": "10INX12IN", "orientation": "LANDSCAPE", "layout": "ROW\\2,3",
            "magnification": "REPLICATE", "empty_image_density": "WHITE", "border_density": None,
            "frames": [{"image": "r"}, {"image": "r", "position": 4, "polarity": "REVERSE"}]}
    sheet = F.format_film(film, {"r": path}, F.PrinterProfile(dpi=60))
    film_image = F.compose(sheet)
    assert film_image.shape == (sheet.film_pixels[1], sheet.film_pixels[0]) and film_image.dtype == np.uint8
    for box in sheet.boxes:
        rect = sheet.rects[box.position - 1]
        h, w = box.pixels.shape
        y, x = rect.y + (rect.height - h) // 2, rect.x + (rect.width - w) // 2
        expected = 255 - box.pixels if box.polarity == "REVERSE" else box.pixels
        assert np.array_equal(film_image[y:y + h, x:x + w], expected)
    empty = sheet.rects[1]
    assert (film_image[empty.y:empty.y + empty.height, empty.x:empty.x + empty.width] == 255).all()
    assert film_image[0, 0] == 0 and film_image[-1, -1] == 0                 # border: BLACK


def test_densities():
    assert density_level(None) == 0 and density_level("BLACK") == 0 and density_level("WHITE") == 255
    assert density_level("150") == 128 and density_level("0") == 255 and density_level("400") == 0
    assert density_level("150", min_density=100, max_density=200) == 128
    with pytest.raises(ValueError, match="PURPLE"):
        density_level("PURPLE")


def test_film_sheet_carries_the_film_attributes():
    film = {"film_size": "14INX17IN", "orientation": "PORTRAIT", "layout": "STANDARD\\2,2",
            "magnification": "BILINEAR", "smoothing": "MEDIUM", "border_density": "WHITE",
            "empty_image_density": "BLACK", "trim": "NO", "min_density": 20, "max_density": 320,
            "configuration_information": "PERCEPTION_LUT=LINEAR",
            "frames": [{"image": "mr", "annotations": [{"text": "x", "at": "top-left"}], "overlays": False}]}
    sheet = F.format_film(film, {"mr": bundled("MR_small.dcm")}, F.PrinterProfile(dpi=40), index=3)
    assert (sheet.index, sheet.display_format, sheet.film_size, sheet.orientation) == \
        (3, "STANDARD\\2,2", "14INX17IN", "PORTRAIT")
    assert sheet.film_pixels == (560, 680) and len(sheet.rects) == 4 and len(sheet.boxes) == 1
    assert (sheet.magnification, sheet.smoothing, sheet.trim) == ("BILINEAR", "MEDIUM", "NO")
    assert (sheet.border_density, sheet.empty_image_density) == ("WHITE", "BLACK")
    assert (sheet.min_density, sheet.max_density) == (20, 320)
    assert sheet.configuration_information == "PERCEPTION_LUT=LINEAR"
    assert sheet.bit_depth == 8 and not sheet.color


def test_same_file_twice_on_a_film(tmp_path):
    copy = tmp_path / "copy.dcm"
    shutil.copy(bundled("MR_small.dcm"), copy)
    film = {"film_size": "8INX10IN", "orientation": "PORTRAIT", "layout": "STANDARD\\2,1",
            "magnification": "CUBIC", "frames": [{"image": "a"}, {"image": "b"}]}
    sheet = F.format_film(film, {"a": copy, "b": str(copy)}, F.PrinterProfile(dpi=50))
    assert np.array_equal(sheet.boxes[0].pixels, sheet.boxes[1].pixels)
