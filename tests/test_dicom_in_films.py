"""How the front door turns what it received into films, without a network: an image box's
pixels through the formatter come out as they went in (at the printer's own bit depth and a
size that fits), a display format the printer lacks is composed into one box, and a store
batch is ordered and split as documented."""
from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from hcserver import formatter
from hcserver.config import PrinterConfig
from hcserver.config_dicom_in import DicomRoute
from hcserver.dicom_in import films as F
from hcserver.dicom_in.intake import Refused
from hcserver.dicom_in.sop import COLOR_IMAGE_BOX, GRAYSCALE_IMAGE_BOX
from hcserver.dicom_in.store_route import Stored, batch_specs


def image_box_set(pixels: np.ndarray, bits: int | None = None, color: bool = False) -> Dataset:
    item = Dataset()
    item.Rows, item.Columns = pixels.shape[:2]
    item.SamplesPerPixel = 3 if color else 1
    item.PhotometricInterpretation = "RGB" if color else "MONOCHROME2"
    item.BitsAllocated = pixels.dtype.itemsize * 8
    item.BitsStored = bits or item.BitsAllocated
    item.HighBit, item.PixelRepresentation = item.BitsStored - 1, 0
    if color:
        item.PlanarConfiguration = 0
    item.PixelData = pixels.tobytes()
    mods = Dataset()
    setattr(mods, "BasicColorImageSequence" if color else "BasicGrayscaleImageSequence", Sequence([item]))
    return mods


def printed(tmp_path, pixels: np.ndarray, bit_depth: int, bits: int | None = None, color: bool = False,
            layout: str = "STANDARD\\2,2", display_formats: tuple[str, ...] = ()) -> formatter.FilmSheet:
    """One image box through the print route's film and the formatter, for a printer at 100 dpi."""
    ds, stored = F.image_pixels(image_box_set(pixels, bits, color), COLOR_IMAGE_BOX if color else GRAYSCALE_IMAGE_BOX,
                                1 << 26)
    path = tmp_path / "box.dcm"
    path.write_bytes(F.image_file(ds, None))
    printer = PrinterConfig(name="p", driver="dicom", bit_depth=bit_depth, color=color, dpi=100,
                            display_formats=display_formats)
    box = F.FilmBox("1.2", "1.1", {"film_size": "14INX17IN", "orientation": "PORTRAIT", "layout": layout,
                                   "magnification": "BILINEAR"}, ["ib"])
    image = F.ImageBox("ib", "1.2", 2, COLOR_IMAGE_BOX if color else GRAYSCALE_IMAGE_BOX, "img", stored)
    film = F.film_of(box, {"ib": image}, printer, {})
    return formatter.format_film(film, {"img": str(path)}, formatter.PrinterProfile(
        dpi=100, bit_depth=bit_depth, color=color, magnification="BILINEAR"))


@pytest.mark.parametrize("dtype, bits, bit_depth", [(np.uint8, 8, 8), (np.uint16, 12, 12), (np.uint16, 16, 12)])
def test_image_box_pixels_print_one_for_one_at_the_printers_depth(tmp_path, dtype, bits, bit_depth):
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 1 << bits, (90, 70)).astype(dtype)
    sheet = printed(tmp_path, pixels, bit_depth, bits)
    [box] = sheet.boxes
    assert box.position == 2 and box.pixels.shape == (90, 70)
    if bits == bit_depth:
        assert np.array_equal(box.pixels, pixels)                     # bit for bit
    else:   # 16 stored bits on a 12-bit printer: rescaled, to the nearest level
        expected = np.floor(pixels.astype(np.float64) * 4095 / 65535 + 0.5)
        assert np.abs(box.pixels.astype(np.int64) - expected).max() <= 1


def test_a_12_bit_image_box_on_an_8_bit_printer_is_rescaled(tmp_path):
    pixels = np.arange(0, 4096, 4, dtype=np.uint16).reshape(32, 32)
    [box] = printed(tmp_path, pixels, 8, 12).boxes
    assert box.pixels.dtype == np.uint8
    assert np.array_equal(box.pixels, np.floor(pixels.astype(np.float64) * 255 / 4095 + 0.5).astype(np.uint8))


def test_colour_pixels_print_one_for_one(tmp_path):
    rgb = np.random.default_rng(3).integers(0, 256, (40, 30, 3)).astype(np.uint8)
    [box] = printed(tmp_path, rgb, 8, color=True).boxes
    assert np.array_equal(box.pixels, rgb)


def test_an_image_larger_than_its_box_at_the_printers_dpi_is_fitted(tmp_path):
    big = np.zeros((1200, 900), np.uint8)           # a 2,2 box at 100 dpi is about 680 x 840 pixels
    sheet = printed(tmp_path, big, 8)
    [box] = sheet.boxes
    rect = sheet.rects[box.position - 1]
    rows, cols = box.pixels.shape
    assert rows <= rect.height and cols <= rect.width                  # fits its box
    assert abs(cols - rows * 900 / 1200) <= 1                          # keeps its 4:3, within a pixel


def test_a_display_format_the_printer_lacks_is_composed_into_one_box_where_the_format_puts_it(tmp_path):
    pixels = np.full((50, 40), 200, np.uint8)
    sheet = printed(tmp_path, pixels, 8, display_formats=("STANDARD\\1,1",))
    assert sheet.display_format == "STANDARD\\1,1" and len(sheet.boxes) == 1
    canvas = sheet.boxes[0].pixels
    width, height = sheet.film_pixels
    rows, cols = np.nonzero(canvas == 200)
    # box 2 of STANDARD\2,2 is the top right quarter
    assert cols.min() > width / 2 and rows.max() < height / 2
    assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == (50, 40)


def test_image_box_pixel_modules_a_printer_refuses(tmp_path):
    with pytest.raises(Refused) as refused:
        F.image_pixels(image_box_set(np.zeros((4, 4), np.uint8), bits=7), GRAYSCALE_IMAGE_BOX, 1 << 20)
    assert refused.value.status == 0x0106
    with pytest.raises(Refused) as refused:
        F.image_pixels(image_box_set(np.zeros((4, 4), np.uint8)), COLOR_IMAGE_BOX, 1 << 20)
    assert refused.value.status == 0x0106                          # grayscale sequence to a colour box
    with pytest.raises(Refused) as refused:
        F.image_pixels(image_box_set(np.zeros((40, 40), np.uint8)), GRAYSCALE_IMAGE_BOX, 1000)
    assert refused.value.status == 0xC603
    ds, _ = F.image_pixels(image_box_set(np.full((4, 4), 0xF123, np.uint16), bits=12), GRAYSCALE_IMAGE_BOX, 1 << 20)
    assert set(np.frombuffer(ds.PixelData, "<u2")) == {0x123}        # bits above High Bit are not pixel values
    again, _ = F.image_pixels(image_box_set(np.full((4, 4), 0xF123, np.uint16), bits=12), GRAYSCALE_IMAGE_BOX,
                              1 << 20)
    assert F.image_file(ds, None) == F.image_file(again, None)      # the same pixels make the same file
    assert pydicom.dcmread(io.BytesIO(F.image_file(ds, None))).pixel_array.shape == (4, 4)   # pydicom reads it


def test_a_store_batch_is_a_job_per_study_in_series_and_instance_order_split_by_the_film_limit():
    route = DicomRoute("AUTOFILM", "store", "p", layout="STANDARD\\1,2", windows={"CT": {"center": 40, "width": 400}})
    images = [Stored(f"{n:064x}", "study-b" if n == 5 else "study-a", series, instance, "CT", 1, n == 1)
              for n, (series, instance) in enumerate([(2, 1), (1, 3), (1, 1), (2, 2), (1, 2), (1, 1)])]
    specs = batch_specs(route, images, max_films=2)
    assert [len(s["images"]) for s in specs] == [4, 1, 1]              # study a: 5 images, 2 films a job
    order = [frame["image"] for spec in specs[:2] for frame in spec["images"]]
    assert order == [f"{n:064x}" for n in (2, 4, 1, 0, 3)]
    assert specs[0]["images"][2].get("window") is None                # image 1 has a window of its own
    assert specs[0]["images"][0]["window"] == {"center": 40, "width": 400}
    assert specs[2]["images"][0]["image"] == f"{5:064x}" and specs[0]["layout"] == "STANDARD\\1,2"
