"""Formatter geometry: every layout at two printer resolutions, CUSTOM films, automatic layout,
true-size printing."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from hcserver import formatter as F
from hcserver.formatter.autolayout import MIN_IMAGE_MM
from hcserver.formatter.geometry import custom_rect, gap_pixels
from hcserver.formatter.sizing import fit_size
from tests.support.formatting import one_box
from tests.support.images import bundled, write_image

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

DPIS = (100, 300)

# 8INX10IN PORTRAIT: 800 x 1000 at 100 dpi (gap 8), 2400 x 3000 at 300 dpi (gap 24); worked out by
# hand: avail = side - (n + 1) * gap, box i at gap * (i + 1) + avail * i // n.
HAND_RECTS = {
    ("STANDARD\\2,2", 100): [(8, 8, 388, 488), (404, 8, 388, 488), (8, 504, 388, 488), (404, 504, 388, 488)],
    ("STANDARD\\2,2", 300): [(24, 24, 1164, 1464), (1212, 24, 1164, 1464), (24, 1512, 1164, 1464),
                             (1212, 1512, 1164, 1464)],
    ("STANDARD\\3,1", 100): [(8, 8, 256, 984), (272, 8, 256, 984), (536, 8, 256, 984)],
    ("STANDARD\\3,1", 300): [(24, 24, 768, 2952), (816, 24, 768, 2952), (1608, 24, 768, 2952)],
    ("ROW\\1,2", 100): [(8, 8, 784, 488), (8, 504, 388, 488), (404, 504, 388, 488)],
    ("ROW\\1,2", 300): [(24, 24, 2352, 1464), (24, 1512, 1164, 1464), (1212, 1512, 1164, 1464)],
    ("COL\\2,1", 100): [(8, 8, 388, 488), (8, 504, 388, 488), (404, 8, 388, 984)],
    ("COL\\2,1", 300): [(24, 24, 1164, 1464), (24, 1512, 1164, 1464), (1212, 24, 1164, 2952)],
}


@pytest.mark.parametrize("layout, dpi", sorted(HAND_RECTS))
def test_box_rects_by_hand(layout, dpi):
    rects = F.box_rects(layout, "PORTRAIT", "8INX10IN", dpi)
    assert [(r.x, r.y, r.width, r.height) for r in rects] == HAND_RECTS[layout, dpi]


# Film sizes at 150 dpi, by hand: inches x 150, millimetres x 150 / 25.4, rounded (10INX14IN is
# 257 x 364 mm).
FILM_150 = {"8INX10IN": (1200, 1500), "8_5INX11IN": (1275, 1650), "10INX12IN": (1500, 1800),
            "10INX14IN": (1518, 2150), "11INX14IN": (1650, 2100), "11INX17IN": (1650, 2550),
            "14INX14IN": (2100, 2100), "14INX17IN": (2100, 2550), "24CMX24CM": (1417, 1417),
            "24CMX30CM": (1417, 1772), "A4": (1240, 1754), "A3": (1754, 2480)}


@pytest.mark.parametrize("film_size", sorted(FILM_150))
def test_film_pixels_at_a_second_dpi(film_size):
    width, height = FILM_150[film_size]
    assert F.film_pixels(film_size, "PORTRAIT", 150) == (width, height)
    assert F.film_pixels(film_size, "LANDSCAPE", 150) == (height, width)


LAYOUTS = ["STANDARD\\1,1", "STANDARD\\2,3", "STANDARD\\4,5", "STANDARD\\5,4", "ROW\\1,2,3", "ROW\\4",
           "COL\\3,1", "COL\\1,2,1", "SLIDE", "SUPERSLIDE"]


def _lines(rects, by_rows):
    """Group rects into rows (by y) or columns (by x)."""
    key = (lambda r: r.y) if by_rows else (lambda r: r.x)
    groups: dict[int, list] = {}
    for r in rects:
        groups.setdefault(key(r), []).append(r)
    return [groups[k] for k in sorted(groups)]


@pytest.mark.parametrize("layout, orientation, dpi",
                         list(itertools.product(LAYOUTS, ["PORTRAIT", "LANDSCAPE"], DPIS)))
def test_every_layout_tiles_the_film_at_two_dpi(layout, orientation, dpi):
    """Boxes of a line are equal to a pixel, separated by exactly one gap, and the lines span the
    film from one gap in to one gap in."""
    width, height = F.film_pixels("14INX17IN", orientation, dpi)
    gap = gap_pixels(dpi)
    rects = F.box_rects(layout, orientation, "14INX17IN", dpi)
    assert len(rects) == F.film_box_count(layout)
    by_rows = not layout.startswith("COL")
    for line in _lines(rects, by_rows):
        pos = sorted(line, key=lambda r: r.x if by_rows else r.y)
        starts = [r.x if by_rows else r.y for r in pos]
        sizes = [r.width if by_rows else r.height for r in pos]
        side = width if by_rows else height
        assert starts[0] == gap and starts[-1] + sizes[-1] == side - gap
        assert all(a + s + gap == b for a, s, b in zip(starts, sizes, starts[1:]))
        assert max(sizes) - min(sizes) <= 1
        cross = {(r.height if by_rows else r.width) for r in pos}
        assert len(cross) == 1
    lines = _lines(rects, by_rows)
    first = [(line[0].y if by_rows else line[0].x) for line in lines]
    extent = [(line[0].height if by_rows else line[0].width) for line in lines]
    side = height if by_rows else width
    assert first[0] == gap and first[-1] + extent[-1] == side - gap


def test_slides_keep_their_shape_in_both_orientations():
    portrait = F.box_rects("SLIDE", "PORTRAIT", "14INX17IN", 100)
    landscape = F.box_rects("SLIDE", "LANDSCAPE", "14INX17IN", 100)
    assert len({r.x for r in portrait}) == 5 and len({r.y for r in portrait}) == 7
    assert len({r.x for r in landscape}) == 7 and len({r.y for r in landscape}) == 5


# --- CUSTOM --------------------------------------------------------------------------------------

def test_custom_rect_in_printer_pixels():
    # 254 dpi is 10 printer pixels per millimetre.
    assert custom_rect([10, 20, 50.8, 25.4], "A4", "PORTRAIT", 254) == F.BoxRect(100, 200, 508, 254)
    assert custom_rect([10, 20, 50.8, 25.4], "A4", "PORTRAIT", 100) == F.BoxRect(39, 79, 200, 100)
    left, right = (custom_rect(r, "A4", "PORTRAIT", 97) for r in ([0, 0, 33.3, 50], [33.3, 0, 40, 50]))
    assert left.x + left.width == right.x                   # frames touching in mm touch in pixels


def custom_film(frames, **film):
    return {"film_size": "A4", "orientation": "PORTRAIT", "layout": "CUSTOM", "magnification": "REPLICATE",
            "frames": frames, **film}


@pytest.fixture
def flat(tmp_path):
    """A 40 x 20 (rows x columns) image printing as level 200."""
    return write_image(tmp_path / "flat.dcm", np.full((40, 20), 200, np.uint8), WindowCenter=128, WindowWidth=256)


@pytest.mark.parametrize("dpi", DPIS)
def test_custom_film_is_one_box_composed_at_printer_dpi(flat, dpi):
    rect_mm = [20, 30, 100, 100]
    sheet = F.format_film(custom_film([{"image": "f", "rect_mm": rect_mm}], border_density="WHITE"),
                          {"f": flat}, F.PrinterProfile(dpi=dpi))
    width, height = F.film_pixels("A4", "PORTRAIT", dpi)
    assert sheet.display_format == "STANDARD\\1,1" and sheet.film_pixels == (width, height)
    assert sheet.rects == (F.BoxRect(0, 0, width, height),) and len(sheet.boxes) == 1
    box = sheet.boxes[0]
    assert box.position == 1 and box.polarity == "NORMAL" and box.pixels.shape == (height, width)
    rect = custom_rect(rect_mm, "A4", "PORTRAIT", dpi)
    rows, columns = fit_size(40, 20, 1.0, rect.width, rect.height)
    y, x = rect.y + (rect.height - rows) // 2, rect.x + (rect.width - columns) // 2
    image = np.zeros(box.pixels.shape, bool)
    image[y:y + rows, x:x + columns] = True
    assert (box.pixels[image] == 200).all() and (box.pixels[~image] == 255).all()
    assert np.array_equal(F.compose(sheet), box.pixels)               # the preview is the box


def test_custom_film_border_density_polarity_and_overlap(flat):
    frames = [{"image": "f", "rect_mm": [0, 0, 100, 100]},
              {"image": "f", "rect_mm": [50, 0, 100, 100], "polarity": "REVERSE"}]
    sheet = F.format_film(custom_film(frames, border_density="150"), {"f": flat}, F.PrinterProfile(dpi=100))
    pixels = sheet.boxes[0].pixels
    assert pixels[-1, -1] == 128                                       # 1.5 OD of 0..3: mid grey
    assert set(np.unique(pixels)) == {55, 128, 200}                    # REVERSE: 255 - 200
    second = custom_rect([50, 0, 100, 100], "A4", "PORTRAIT", 100)
    row = pixels[second.y + second.height // 2]
    assert row[second.x + second.width // 2] == 55                     # the later frame is on top
    twelve = F.format_film(custom_film(frames, border_density="150"), {"f": flat},
                           F.PrinterProfile(dpi=100, bit_depth=12))
    assert twelve.boxes[0].pixels.dtype == np.uint16 and twelve.boxes[0].pixels[-1, -1] == 2048
    colour = F.format_film(custom_film(frames, border_density="WHITE"), {"f": flat},
                           F.PrinterProfile(dpi=100, color=True))
    assert colour.boxes[0].pixels.shape[2] == 3 and (colour.boxes[0].pixels[-1, -1] == 255).all()


@pytest.mark.parametrize("frame, message", [
    ({"image": "f"}, r"frames\[0\]\.rect_mm: missing: a CUSTOM film needs"),
    ({"image": "f", "rect_mm": [100, 100, 200, 50]}, r"frames\[0\]\.rect_mm: .*outside the A4 PORTRAIT film"),
    ({"image": "f", "rect_mm": [0, 0, 0.5, 50]}, r"rect_mm: .*at least 1 mm"),
    ({"image": "f", "rect_mm": [0, 0, 10, 10], "position": 1}, r"frames\[0\]\.position: a CUSTOM film"),
    ({"image": "f", "rect_mm": [0, 0, "10", 10]}, r"frames\[0\]\.rect_mm: expected \[x, y, width, height\]"),
])
def test_custom_film_refusals(flat, frame, message):
    with pytest.raises(F.OptionError, match=message):
        F.format_film(custom_film([frame]), {"f": flat}, F.PrinterProfile(dpi=50))


def test_rect_mm_only_with_custom(flat):
    film = {"film_size": "A4", "layout": "STANDARD\\1,1", "frames": [{"image": "f", "rect_mm": [0, 0, 10, 10]}]}
    with pytest.raises(F.OptionError, match=r"frames\[0\]\.rect_mm: only for layout CUSTOM"):
        F.format_film(film, {"f": flat}, F.PrinterProfile(dpi=50))


def test_custom_layout_names():
    assert F.canonical_layout(" custom ") == "CUSTOM"
    assert F.film_box_count("CUSTOM") == 100
    F.validate_layout("CUSTOM", "LANDSCAPE", "8INX10IN")
    with pytest.raises(ValueError, match="CUSTOM\\\\i .*rect_mm"):
        F.validate_layout("CUSTOM\\3", "PORTRAIT", "A4")


# --- automatic layout ----------------------------------------------------------------------------

@pytest.mark.parametrize("count, expected", [(1, "1,1"), (2, "1,2"), (3, "2,2"), (4, "2,2"), (5, "2,3"),
                                             (6, "2,3"), (7, "3,3"), (12, "3,4"), (20, "4,5"), (21, "4,6")])
def test_auto_layout_on_14x17_portrait(count, expected):
    assert F.auto_layout(count, "14INX17IN", "PORTRAIT") == f"STANDARD\\{expected}"


def test_auto_layout_follows_orientation_and_allowed_formats():
    assert F.auto_layout(2, "14INX17IN", "LANDSCAPE") == "STANDARD\\2,1"
    allowed = ["STANDARD\\1,1", "STANDARD\\2,2", "ROW\\2,3", "SLIDE"]
    assert F.auto_layout(3, "14INX17IN", "PORTRAIT", allowed) == "STANDARD\\2,2"
    assert F.auto_layout(9, "14INX17IN", "PORTRAIT", allowed) == "STANDARD\\2,2"      # 3 films, not 9
    assert F.auto_layout(1, "14INX17IN", "PORTRAIT", allowed) == "STANDARD\\1,1"
    with pytest.raises(ValueError, match="no STANDARD layout among ROW"):
        F.auto_layout(3, "14INX17IN", "PORTRAIT", ["ROW\\2,3", "SLIDE"])
    with pytest.raises(ValueError, match="image count 0"):
        F.auto_layout(0, "14INX17IN", "PORTRAIT")
    with pytest.raises(ValueError, match="film size"):
        F.auto_layout(3, "15INX15IN", "PORTRAIT")


@pytest.mark.parametrize("film_size, orientation", [("14INX17IN", "PORTRAIT"), ("8INX10IN", "LANDSCAPE"),
                                                    ("A4", "PORTRAIT"), ("24CMX24CM", "PORTRAIT")])
def test_auto_layout_properties(film_size, orientation):
    for count in range(1, 151):
        layout = F.auto_layout(count, film_size, orientation)
        F.validate_layout(layout, orientation, film_size)
        columns, rows = (int(v) for v in layout.split("\\")[1].split(","))
        boxes = columns * rows
        if count <= boxes:                      # one film: never a whole empty row or column
            assert boxes - count < min(columns, rows), (count, layout)
        if count > boxes:                       # several films only when one would make tiny images
            for c, r in itertools.product(range(1, 11), repeat=2):
                if c * r >= count:
                    rects = F.box_rects(f"STANDARD\\{c},{r}", orientation, film_size, 254)
                    assert min(rects[0].width, rects[0].height) < MIN_IMAGE_MM * 10, (count, layout, c, r)


# --- true size -----------------------------------------------------------------------------------

@pytest.mark.parametrize("dpi", DPIS)
def test_true_size_within_one_printer_pixel(dpi):
    sheet = one_box(bundled("CT_small.dcm"), true_size=True, magnification="CUBIC",
                    profile=F.PrinterProfile(dpi=dpi))
    box = sheet.boxes[0]
    physical = 128 * 0.661468                                     # mm, Pixel Spacing x Columns
    assert box.requested_image_size_mm == pytest.approx(physical, abs=1e-3)
    for printed in box.pixels.shape:
        assert abs(printed * 25.4 / dpi - physical) <= 25.4 / dpi / 2 + 1e-9
    assert box.pixels.shape == (round(physical * dpi / 25.4),) * 2


def test_true_size_with_anisotropic_and_imager_pixel_spacing(tmp_path):
    ramp = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    tall = write_image(tmp_path / "tall.dcm", ramp, PixelSpacing=[1.0, 0.5])
    box = one_box(tall, true_size=True, magnification="BILINEAR", profile=F.PrinterProfile(dpi=254)).boxes[0]
    assert box.pixels.shape == (640, 320) and box.requested_image_size_mm == 32.0
    imager = write_image(tmp_path / "dx.dcm", ramp, ImagerPixelSpacing=[0.2, 0.2])
    box = one_box(imager, true_size=True, magnification="BILINEAR", profile=F.PrinterProfile(dpi=254)).boxes[0]
    assert box.pixels.shape == (128, 128) and box.requested_image_size_mm == pytest.approx(12.8)


def test_true_size_with_magnification_none_replicates(tmp_path):
    values = np.arange(256, dtype=np.uint8).reshape(16, 16)
    path = write_image(tmp_path / "r.dcm", values, PixelSpacing=[0.2, 0.2], WindowCenter=128, WindowWidth=256)
    box = one_box(path, true_size=True, magnification="NONE", profile=F.PrinterProfile(dpi=254)).boxes[0]
    assert np.array_equal(box.pixels, np.repeat(np.repeat(values, 2, 0), 2, 1))


def test_true_size_refusals(tmp_path):
    ramp = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    plain = write_image(tmp_path / "plain.dcm", ramp)
    with pytest.raises(F.OptionError, match=r"films\[0\]\.frames\[0\]\.true_size: .*no Pixel Spacing"):
        one_box(plain, true_size=True)
    big = write_image(tmp_path / "big.dcm", ramp, PixelSpacing=[5.0, 5.0])         # 320 mm
    with pytest.raises(F.OptionError, match=r"true_size: at true size the image is 320.0 x 320.0 mm, larger "
                                            r"than its box \(\d+\.\d x \d+\.\d mm\)"):
        one_box(big, true_size=True, magnification="CUBIC")
    with pytest.raises(F.OptionError, match=r"frames\[1\]\.true_size: the image has no Pixel Spacing"):
        F.check_frame_options({"image": "x", "true_size": True}, "films[0].frames[1]", F.inspect_image(plain))
