"""Golden films: a few complete films at low resolution compared with reference PNGs in
tests/golden/ (see tests/golden/README.md).

Regenerate, after a deliberate change to what films look like, with

    UPDATE_GOLDEN=1 pytest tests/test_formatter_golden.py

and look at every changed PNG before committing it.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hcserver import formatter as F
from tests.support.images import bundled, write_image

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
#: Text is rasterised by FreeType through Pillow; other versions may anti-alias a few edge
#: pixels differently. Everything else is exact arithmetic, so the tolerance is tight.
MAX_CHANGED_FRACTION = 0.005      # pixels differing by more than 2 levels
MAX_MEAN_DIFFERENCE = 0.5


def phantom(rows: int = 96, columns: int = 96, shift: int = 0) -> np.ndarray:
    """A CT-like slice in stored values (HU + 1024), deterministic: body, lungs, spine, ramp."""
    y, x = np.mgrid[0:rows, 0:columns].astype(np.float64)
    y -= rows / 2
    x -= columns / 2
    hu = np.full((rows, columns), -1000.0)
    body = (x / (0.42 * columns)) ** 2 + (y / (0.33 * rows)) ** 2 < 1
    hu[body] = 40 + x[body] / 2
    for side in (-1, 1):
        hu[((x - side * 0.16 * columns) / (0.11 * columns)) ** 2 + (y / (0.17 * rows)) ** 2 < 1] = -800
    hu[(x / (0.06 * columns)) ** 2 + ((y - 0.22 * rows + shift) / (0.06 * rows)) ** 2 < 1] = 900
    return np.round(hu + 1024).astype(np.uint16)


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("golden")
    ct = dict(RescaleSlope=1, RescaleIntercept=-1024, PixelSpacing=[0.9, 0.9], PatientName="GOLDEN^Film",
              StudyDate="20240131", Modality="CT", WindowCenter=[40, 400], WindowWidth=[400, 1800],
              WindowCenterWidthExplanation=["SOFT", "BONE"])
    paths = {"ct1": write_image(tmp / "ct1.dcm", phantom(), InstanceNumber=1, **ct),
             "ct2": write_image(tmp / "ct2.dcm", phantom(shift=6), InstanceNumber=2, **ct),
             "mr": bundled("MR_small.dcm"), "palette": bundled("examples_palette.dcm")}
    y, x = np.mgrid[0:64, 0:96]
    rgb = np.stack([x * 255 // 95, y * 255 // 63, np.full_like(x, 128)], axis=2).astype(np.uint8)
    paths["rgb"] = write_image(tmp / "rgb.dcm", rgb, photometric="RGB", PatientName="COLOUR^Test")
    return paths


ANNOTATIONS = [{"text": "{PatientName}\n{StudyDate}", "at": "top-left", "size_mm": 5},
               {"text": "{Window}", "at": "bottom-left", "size_mm": 5},
               {"text": "{InstanceNumber}", "at": "top-right", "size_mm": 6, "grey": 0.9}]

FILMS = {
    "standard_ct": ({
        "film_size": "8INX10IN", "orientation": "PORTRAIT", "layout": "STANDARD\\2,2", "magnification": "CUBIC",
        "border_density": "WHITE", "empty_image_density": "100",
        "frames": [
            {"image": "ct1", "annotations": ANNOTATIONS,
             "graphics": [{"type": "rectangle", "points": [[30, 20], [66, 50]]},
                          {"type": "scale-bar", "length_mm": 20, "at": "bottom-right", "size_mm": 4}]},
            {"image": "ct2", "window": {"explanation": "BONE"}, "polarity": "REVERSE", "annotations": ANNOTATIONS},
            {"image": "mr", "window": "auto", "contrast": 1.3, "annotations": ANNOTATIONS[:2],
             "graphics": [{"type": "ellipse", "center": [32, 32], "radii": [12, 8]}]},
        ]}, F.PrinterProfile(dpi=40, magnification="CUBIC")),
    "custom_true_size": ({
        "film_size": "A4", "orientation": "PORTRAIT", "layout": "CUSTOM", "magnification": "BILINEAR",
        "border_density": "50",
        "frames": [
            {"image": "ct1", "rect_mm": [10, 10, 190, 130], "annotations": ANNOTATIONS},
            {"image": "ct2", "rect_mm": [10, 150, 95, 137], "true_size": True,
             "graphics": [{"type": "scale-bar", "length_mm": 50, "at": "bottom", "size_mm": 4}]},
            {"image": "mr", "rect_mm": [115, 150, 85, 85], "polarity": "REVERSE"},
        ]}, F.PrinterProfile(dpi=40, bit_depth=12)),
    "colour_row": ({
        "film_size": "8INX10IN", "orientation": "LANDSCAPE", "layout": "ROW\\1,2", "magnification": "REPLICATE",
        "frames": [
            {"image": "rgb", "annotations": [{"text": "{PatientName}", "at": "top", "size_mm": 6,
                                              "color": "#ffff00"}]},
            {"image": "palette"},
            {"image": "ct1", "annotations": [{"text": "{Window}", "at": "bottom", "size_mm": 5,
                                              "color": [0, 255, 255]}],
             "graphics": [{"type": "line", "points": [[0, 0], [96, 96]], "color": "#ff0000", "width_mm": 1}]},
        ]}, F.PrinterProfile(dpi=40, color=True)),
}


@pytest.mark.parametrize("name", sorted(FILMS))
def test_golden_film(name, images, tmp_path):
    film, profile = FILMS[name]
    sheet = F.format_film(film, images, profile)
    got = F.compose(sheet)
    path = GOLDEN / f"{name}.png"
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        Image.fromarray(got).save(path, optimize=True)
        pytest.skip(f"regenerated {path.name}")
    assert path.exists(), f"{path} is missing: run UPDATE_GOLDEN=1 pytest {Path(__file__).name}"
    want = np.asarray(Image.open(path))
    assert got.shape == want.shape, f"{name}: film is {got.shape}, golden {want.shape}"
    difference = np.abs(got.astype(int) - want.astype(int))
    changed = float(np.mean(difference > 2))
    if changed > MAX_CHANGED_FRACTION or difference.mean() > MAX_MEAN_DIFFERENCE:
        Image.fromarray(got).save(tmp_path / f"{name}.png")
        pytest.fail(f"{name}: {changed:.2%} of pixels differ by more than 2 levels (mean difference "
                    f"{difference.mean():.2f}); this run's film is {tmp_path / f'{name}.png'}")
