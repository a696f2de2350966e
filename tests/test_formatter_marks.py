"""Formatter marks: DICOM overlay planes, text annotations and graphics, painted after windowing
at film resolution into the box pixels."""
from __future__ import annotations

import numpy as np
import pydicom
import pytest
from PIL import ImageFont
from pydicom.dataset import Dataset
from pydicom.pixels import pack_bits

import hcserver.formatter.annotations as texts
from hcserver import formatter as F
from hcserver.formatter.annotations import COMPUTED_FIELDS, render_template, template_problem
from hcserver.formatter.overlay_planes import overlay_mask, printed_mask
from hcserver.formatter.paint import MARGIN_MM, px
from hcserver.formatter.sizing import Placement
from tests.support.formatting import one_box
from tests.support.images import bundled, write_image

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

GREY = 128
IDENTITY = {"WindowCenter": 128, "WindowWidth": 256}        # LINEAR: level = stored value


def flat(tmp_path, rows=200, columns=200, name="flat.dcm", **attrs) -> str:
    return write_image(tmp_path / name, np.full((rows, columns), GREY, np.uint8), **IDENTITY, **attrs)


def add_overlay(path: str, mask: np.ndarray, origin=(1, 1), group=0x6000, frame_origin=None) -> str:
    """Add an overlay plane (mask: rows x cols, or frames x rows x cols) to a written image."""
    ds = pydicom.dcmread(path)
    frames = mask.shape[0] if mask.ndim == 3 else 1
    rows, columns = mask.shape[-2:]
    ds.add_new((group, 0x0010), "US", rows)
    ds.add_new((group, 0x0011), "US", columns)
    ds.add_new((group, 0x0040), "CS", "G")
    ds.add_new((group, 0x0050), "SS", list(origin))
    ds.add_new((group, 0x0100), "US", 1)
    ds.add_new((group, 0x0102), "US", 0)
    if frames > 1 or frame_origin:
        ds.add_new((group, 0x0015), "IS", frames)
        ds.add_new((group, 0x0051), "US", frame_origin or 1)
    ds.add_new((group, 0x3000), "OW", pack_bits(mask.astype(np.uint8).ravel()))
    ds.save_as(path)
    return path


def ring(mask: np.ndarray) -> np.ndarray:
    """The pixels one step (8-neighbourhood) outside a mask."""
    padded = np.pad(mask, 1)
    grown = np.zeros_like(padded)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            grown |= np.roll(np.roll(padded, dy, 0), dx, 1)
    return grown[1:-1, 1:-1] & ~mask


# --- overlay planes ------------------------------------------------------------------------------

def test_overlay_plane_is_burnt_at_its_pixels(tmp_path):
    mask = np.zeros((32, 32), bool)
    mask[10:13, 5:8] = True
    mask[20, 25] = True
    path = add_overlay(flat(tmp_path, 32, 32), mask)
    pixels = one_box(path).boxes[0].pixels                     # magnification NONE: 1:1
    assert (pixels[mask] == 255).all()                         # white...
    assert (pixels[ring(mask)] == 0).all()                     # ...with a one-pixel black outline
    assert (pixels[~mask & ~ring(mask)] == GREY).all()
    assert (one_box(path, overlays=False).boxes[0].pixels == GREY).all()


def test_overlay_origin_and_frames(tmp_path):
    mask = np.zeros((2, 8, 8), bool)
    mask[0, 0, 0] = mask[1, 7, 7] = True
    path = write_image(tmp_path / "multi.dcm", np.full((3, 16, 16), GREY, np.uint8), **IDENTITY)
    add_overlay(path, mask, origin=(5, 3), frame_origin=2)
    ds = pydicom.dcmread(path)
    assert overlay_mask(ds, 0x6000, 0, 16, 16) is None                # before the Image Frame Origin
    first, second = overlay_mask(ds, 0x6000, 1, 16, 16), overlay_mask(ds, 0x6000, 2, 16, 16)
    assert list(zip(*np.nonzero(first))) == [(4, 2)]                  # origin row 5, column 3 (1-based)
    assert list(zip(*np.nonzero(second))) == [(11, 9)]
    assert one_box(path, frame=2).boxes[0].pixels[11, 9] == 255


def test_overlay_mask_follows_the_image_when_scaled_or_cropped():
    mask = np.zeros((10, 12), bool)
    mask[2:4, 5] = True
    enlarged = printed_mask(mask, Placement(30, 36, 3.0, 3.0))
    assert np.array_equal(enlarged, np.repeat(np.repeat(mask, 3, 0), 3, 1))
    shrunk = printed_mask(mask, Placement(5, 6, 0.5, 0.5))
    assert shrunk.sum() == 1 and shrunk[1, 2] == 1                    # a thin line survives shrinking
    cropped = printed_mask(mask, Placement(6, 6, 1.0, 1.0, left=3, top=1, crop_rows=6, crop_columns=6))
    assert list(zip(*np.nonzero(cropped))) == [(1, 2), (2, 2)]


def test_bundled_overlay_plane(tmp_path):
    path = bundled("examples_overlay.dcm")
    plane = pydicom.dcmread(path).overlay_array(0x6000).astype(bool)
    burnt = one_box(path).boxes[0].pixels
    plain = one_box(path, overlays=False).boxes[0].pixels
    assert burnt.shape == plane.shape
    assert (burnt[plane] == 255).all()
    changed = burnt != plain
    assert changed[~plane].sum() <= ring(plane).sum() and (burnt[changed & ~plane] == 0).all()


# --- annotations ---------------------------------------------------------------------------------

def changed_box(pixels: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the pixels that are no longer the flat grey (bottom/right exclusive)."""
    ys, xs = np.nonzero(pixels != GREY)
    return ys.min(), xs.min(), ys.max() + 1, xs.max() + 1


@pytest.mark.parametrize("at", F.options.POSITIONS)
def test_annotation_is_drawn_inside_its_position(tmp_path, at):
    pixels = one_box(flat(tmp_path), annotations=[{"text": "HHHH", "at": at}]).boxes[0].pixels
    top, left, bottom, right = changed_box(pixels)
    rows, columns = pixels.shape
    margin = px(MARGIN_MM, 100)
    vertical, horizontal = (at.split("-") + ["center"])[:2] if "-" in at else (
        (at, "center") if at in ("top", "bottom") else ("middle", at))
    # The block (text and its outline) starts at the margin; a glyph's own side bearing may
    # put the first ink a pixel or two further in.
    if vertical == "top":
        assert margin - 1 <= top <= margin + 3
    elif vertical == "bottom":
        assert rows - margin - 3 <= bottom <= rows - margin + 1
    else:
        assert abs((top + bottom) / 2 - rows / 2) <= 2
    if horizontal == "left":
        assert margin - 1 <= left <= margin + 3
    elif horizontal == "right":
        assert columns - margin - 3 <= right <= columns - margin + 1
    else:
        assert abs((left + right) / 2 - columns / 2) <= 2


@pytest.mark.parametrize("dpi", [100, 300])
def test_annotation_is_legible_at_film_resolution(tmp_path, dpi):
    pixels = one_box(flat(tmp_path, 600, 600), annotations=[{"text": "HIH", "at": "top-left"}],
                     profile=F.PrinterProfile(dpi=dpi)).boxes[0].pixels
    white = pixels == 255
    rows = np.flatnonzero(white.any(axis=1))
    cap = 3.0 * dpi / 25.4                                     # default size: 3 mm capitals
    assert abs(len(rows) - cap) <= 2                           # H's are exactly cap height tall
    upper = white[rows[0] + len(rows) // 5]                    # a row above the H's crossbars
    strokes = np.count_nonzero(np.diff(np.concatenate([[0], upper.astype(int), [0]])) == 1)
    assert strokes == 5                                        # H I H: five separate vertical strokes
    outline = pixels < 32
    assert outline.sum() > 0.3 * white.sum()                   # a dark outline around the white text
    dark = pixels < GREY                                       # the outline's edge is anti-aliased
    top, left, bottom, right = changed_box(pixels)
    assert dark[top:bottom, left].any() and dark[top:bottom, right - 1].any()
    assert dark[top, left:right].any() and dark[bottom - 1, left:right].any()


def test_annotation_size_colour_grey_and_outline(tmp_path):
    path = flat(tmp_path, 300, 300)
    big = one_box(path, annotations=[{"text": "H", "at": "top-left", "size_mm": 6}]).boxes[0].pixels
    assert abs(np.flatnonzero((big == 255).any(axis=1)).size - 6 * 100 / 25.4) <= 2
    dark = one_box(path, annotations=[{"text": "HH", "at": "top", "grey": 0}]).boxes[0].pixels
    assert (dark == 0).any() and (dark == 255).any()           # black text, white outline
    bare = one_box(path, annotations=[{"text": "HH", "at": "top", "outline": False}]).boxes[0].pixels
    assert bare.min() == GREY and bare.max() == 255
    colour = one_box(path, annotations=[{"text": "HH", "at": "top", "color": "#ffcc00"}],
                     profile=F.PrinterProfile(dpi=100, color=True)).boxes[0].pixels
    assert (colour == (255, 204, 0)).all(axis=2).any()
    on_grey = one_box(path, annotations=[{"text": "HH", "at": "top", "color": [255, 204, 0]}]).boxes[0].pixels
    assert on_grey.max() == round(0.299 * 255 + 0.587 * 204)      # luminance on a grey film


def test_annotations_at_one_position_stack_without_overlapping(tmp_path):
    path = flat(tmp_path)
    one = one_box(path, annotations=[{"text": "HH", "at": "bottom-left"}]).boxes[0].pixels
    two = one_box(path, annotations=[{"text": "HH", "at": "bottom-left"},
                                     {"text": "II", "at": "bottom-left"}]).boxes[0].pixels
    assert changed_box(two)[0] < changed_box(one)[0]          # the first moved up to make room
    rows_with_ink = np.flatnonzero((two != GREY).any(axis=1))
    assert np.count_nonzero(np.diff(rows_with_ink) > 1) == 1  # two separate bands of text


@pytest.mark.parametrize("at", ["top-left", "top", "top-right"])
def test_annotation_with_the_bitmap_font(tmp_path, monkeypatch, at):
    """Without FreeType, Pillow has only its bitmap font and renders the whole text; centred
    lines give half-pixel bounding boxes there."""
    bitmap = ImageFont.load_default_imagefont()
    monkeypatch.setattr(texts, "font_for_cap", lambda cap_px: bitmap)
    texts.text_masks.cache_clear()
    try:
        pixels = one_box(flat(tmp_path), annotations=[{"text": "HH\nI", "at": at}]).boxes[0].pixels
    finally:
        texts.text_masks.cache_clear()
    rows_with_text = np.flatnonzero((pixels == 255).any(axis=1))
    assert np.count_nonzero(np.diff(rows_with_text) > 1) == 1    # two lines of white text


def test_templates_render_dicom_attributes_and_computed_fields():
    ds = Dataset()
    ds.PatientName = "DOE^JOHN^Q"
    ds.StudyDate, ds.StudyTime = "20240131", "140509.123"
    ds.PixelSpacing = [0.5, 0.25]
    ds.InstanceNumber = 7
    computed = {"Window": "C 40 W 400", "Frame": "1", "Frames": "3", "Film": "2", "Box": "4"}
    text = "{PatientName} {StudyDate} {StudyTime} [{PatientID}] {PixelSpacing} {InstanceNumber:>3}"
    assert render_template(text, ds, 0, computed) == "DOE, JOHN Q 2024-01-31 14:05:09 [] 0.5\\0.25   7"
    assert render_template("{Window} {Frame}/{Frames} film {Film} box {Box} {{x}}", ds, 0, computed) == \
        "C 40 W 400 1/3 film 2 box 4 {x}"
    assert set(COMPUTED_FIELDS) == {"Window", "Frame", "Frames", "Film", "Box"}


@pytest.mark.parametrize("template, problem", [
    ("{Nonsense}", "neither a DICOM keyword"), ("{PatientName!r}", "conversions"), ("{}", "a field is"),
    ("{PatientName.family}", "a field is"), ("{0}", "a field is"), ("open {", "literal braces"),
    ("{PatientName:{x}}", "nested"), (42, "expected a text template"),
])
def test_template_problems(template, problem):
    assert problem in template_problem(template)


def test_window_field_and_missing_attributes_end_to_end(tmp_path):
    path = write_image(tmp_path / "ct.dcm", np.arange(4096, dtype=np.uint16).reshape(64, 64) // 16,
                       WindowCenter=40, WindowWidth=400)
    computed = one_box(path, annotations=[{"text": "{Window}", "at": "bottom"}]).boxes[0].pixels
    literal = one_box(path, annotations=[{"text": "C 40 W 400", "at": "bottom"}]).boxes[0].pixels
    assert np.array_equal(computed, literal) and not np.array_equal(computed, one_box(path).boxes[0].pixels)
    missing = one_box(path, annotations=[{"text": "{PatientName}{AccessionNumber}", "at": "top"}])
    assert np.array_equal(missing.boxes[0].pixels, one_box(path).boxes[0].pixels)


def test_text_larger_than_the_image_is_clipped_with_a_note(tmp_path):
    sheet = one_box(flat(tmp_path, 20, 20), annotations=[{"text": "A LONG LINE OF TEXT", "at": "top-left"}])
    assert any("clipped" in note and "films[0].frames[0]" in note for note in sheet.notes)


# --- graphics ------------------------------------------------------------------------------------

def test_shapes_land_on_their_image_pixels(tmp_path):
    graphics = [{"type": "line", "points": [[0, 50.5], [200, 50.5]]},
                {"type": "rectangle", "points": [[20.5, 100.5], [80.5, 160.5]]},
                {"type": "ellipse", "center": [150.5, 150.5], "radii": [30, 20]}]
    pixels = one_box(flat(tmp_path), graphics=graphics).boxes[0].pixels       # NONE: 1:1, 100 dpi
    assert (pixels[50, 2:198] == 255).all() and (pixels[49, 2:198] == 0).all() and (pixels[51, 2:198] == 0).all()
    assert (pixels[100, 21:80] == 255).all() and (pixels[160, 21:80] == 255).all()
    assert (pixels[101:160, 20] == 255).all() and (pixels[101:160, 80] == 255).all()
    assert pixels[130, 50] == GREY                                             # inside the rectangle
    for y, x in ((150, 180), (150, 120), (130, 150), (170, 150)):              # the ellipse's extremes
        assert pixels[y, x] == 255, (y, x)
    assert pixels[150, 150] == GREY


def test_shapes_scale_with_the_image(tmp_path):
    path = flat(tmp_path, 50, 50)
    sheet = one_box(path, magnification="REPLICATE", graphics=[{"type": "line", "points": [[0, 25], [50, 25]]}])
    pixels = sheet.boxes[0].pixels
    scale = pixels.shape[0] / 50
    white_rows = np.flatnonzero((pixels == 255).all(axis=1))
    assert abs(white_rows.mean() + 0.5 - 25 * scale) <= 1                    # the image's middle row
    wide = one_box(path, magnification="REPLICATE", profile=F.PrinterProfile(dpi=300),
                   graphics=[{"type": "line", "points": [[0, 25], [50, 25]], "width_mm": 1.0}]).boxes[0].pixels
    assert abs(np.flatnonzero((wide == 255).all(axis=1)).size - 300 / 25.4) <= 1   # 1 mm on the film


def test_polyline_closed_and_colour(tmp_path):
    triangle = {"type": "polyline", "points": [[20.5, 20.5], [100.5, 20.5], [60.5, 80.5]], "closed": True,
                "color": [255, 0, 0]}
    pixels = one_box(flat(tmp_path), graphics=[triangle], profile=F.PrinterProfile(dpi=100, color=True)).boxes[0].pixels
    assert (pixels[20, 30:90] == (255, 0, 0)).all()
    back = pixels[50, 25:45]                                                  # the closing edge, 80 -> 20
    assert (back == (255, 0, 0)).all(axis=1).any()


@pytest.mark.parametrize("magnification, dpi", [("NONE", 100), ("CUBIC", 100), ("CUBIC", 300)])
def test_scale_bar_has_its_physical_length(tmp_path, magnification, dpi):
    path = flat(tmp_path, PixelSpacing=[0.5, 0.5])                            # 200 px = 100 mm
    bar = {"type": "scale-bar", "length_mm": 50, "at": "bottom-right"}
    sheet = one_box(path, graphics=[bar], magnification=magnification, profile=F.PrinterProfile(dpi=dpi))
    pixels = sheet.boxes[0].pixels
    scale = pixels.shape[1] / 200
    runs = []
    for row in pixels == 255:
        edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(int), [0]])))
        runs += list(edges[1::2] - edges[::2])
    assert abs(max(runs) - 100 * scale) <= 1                                 # 50 mm / 0.5 mm per pixel


def test_scale_bar_refusals(tmp_path):
    with pytest.raises(F.OptionError, match=r"frames\[0\]\.graphics\[0\]: a scale bar needs"):
        one_box(flat(tmp_path), graphics=[{"type": "scale-bar", "length_mm": 10}])
    spaced = flat(tmp_path, name="spaced.dcm", PixelSpacing=[0.1, 0.1])      # 20 mm wide
    with pytest.raises(F.OptionError, match=r"graphics\[0\]\.length_mm: 50 mm is longer than the image"):
        one_box(spaced, graphics=[{"type": "scale-bar", "length_mm": 50}])
