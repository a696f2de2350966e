"""A film fitted to what its printer accepts (hcserver.filmplan): a CUSTOM film is checked as the
STANDARD\\1,1 it is sent as; a layout the printer lacks is composed into STANDARD\\1,1, a 12-bit
film printed at 8 bits, each with a warning on the job; and an image box's own magnification,
smoothing and requested image size. Printed to DCMTK's dcmprscp configured restrictively and to
the printer simulator, through the spec check, the queue, a formatting process and the worker."""
from __future__ import annotations

import numpy as np
import pytest

from hcserver import formatter
from hcserver.formatter.film import PrinterProfile
from hcserver.jobspec import SpecError
from hcserver.simulator import PrinterSimulator
from tests.support.images import bundled
from tests.support.printing import path_config, print_path

UNUSED_PORT = 9    # the printer is only checked against, never reached
ONE_AND_FOUR = '["STANDARD\\\\1,1", "STANDARD\\\\2,2"]'
FOUR_ONLY = '["STANDARD\\\\2,2"]'
DPI = 40            # tests.support.configs.dicom_config's


def custom_film(image: str) -> dict:
    return {"film_size": "8INX10IN", "layout": "CUSTOM",
            "frames": [{"image": image, "rect_mm": [10, 10, 100, 100]}]}


# -- 5: a CUSTOM film is a STANDARD\1,1 film to the printer ---------------------------------------

def test_a_custom_film_is_refused_at_submit_by_a_printer_without_standard_1_1(tmp_path):
    with print_path(tmp_path, UNUSED_PORT, display_formats=FOUR_ONLY) as path:
        with pytest.raises(SpecError) as refused:
            path.submit({"films": [custom_film(path.image())]})
    assert refused.value.field == "films[0].layout"
    assert "accepts only: STANDARD\\2,2" in str(refused.value)
    assert "CUSTOM film is composed into one image and sent as STANDARD\\1,1" in str(refused.value)


@pytest.mark.dicom
def test_a_queued_custom_film_fails_by_name_when_the_printer_no_longer_lists_standard_1_1(
        tmp_path, dcmprscp_factory):
    scp = dcmprscp_factory(display_formats="2,2")
    with print_path(tmp_path, scp.port, display_formats=ONE_AND_FOUR) as path:
        job_id = path.submit({"films": [custom_film(path.image())]})     # accepted: 1,1 was listed
        changed = path_config(tmp_path, scp.port, display_formats=FOUR_ONLY)
        job = path.print_job(job_id, changed)
    assert job["state"] == "failed"
    assert "films[0].layout" in job["error"] and "STANDARD\\1,1" in job["error"], job["error"]
    assert scp.film_count() == 0


@pytest.mark.dicom
def test_a_custom_film_prints_as_standard_1_1_where_the_printer_lists_it(tmp_path, dcmprscp_factory):
    scp = dcmprscp_factory(display_formats="1,1\\2,2")
    with print_path(tmp_path, scp.port, display_formats=ONE_AND_FOUR) as path:
        job = path.print_job(path.submit({"films": [custom_film(path.image())]}))
    assert job["state"] == "completed", job["error"]
    assert [f.display_format for f in scp.films()] == ["STANDARD\\1,1"]
    assert path.warnings(job) == []      # CUSTOM is always composed: nothing to warn about


# -- 10 (c): a layout the printer lacks is composed into STANDARD\1,1 -------------------------------

@pytest.mark.dicom
def test_a_layout_the_printer_lacks_is_composed_into_standard_1_1_with_a_warning(tmp_path, dcmprscp_factory):
    scp = dcmprscp_factory(display_formats="1,1\\2,2")
    with print_path(tmp_path, scp.port, display_formats=ONE_AND_FOUR) as path:
        image = path.image()
        job_id = path.submit({"films": [{"film_size": "8INX10IN", "layout": "STANDARD\\3,3",
                                         "frames": [image, {"image": image, "polarity": "REVERSE"}, image]}]})
        job = path.print_job(job_id)
    assert job["state"] == "completed", job["error"]
    films = scp.films()
    assert [f.display_format for f in films] == ["STANDARD\\1,1"]
    # one image, the whole 8 x 10 in film at the printer's 40 dpi
    assert [(i.columns, i.rows) for i in films[0].images] == [(8 * DPI, 10 * DPI)]
    assert [w for w in path.warnings(job) if "STANDARD\\3,3" in w and "composed" in w] != [], path.warnings(job)


def test_a_layout_the_printer_lacks_is_refused_where_it_lacks_standard_1_1_too(tmp_path):
    with print_path(tmp_path, UNUSED_PORT, display_formats=FOUR_ONLY) as path:
        with pytest.raises(SpecError) as refused:
            path.submit({"films": [{"layout": "STANDARD\\3,3", "frames": [path.image()]}]})
    assert refused.value.field == "films[0].layout"


def test_a_composed_film_is_one_box_with_its_frames_where_the_layout_puts_them():
    film = {"film_size": "8INX10IN", "layout": "STANDARD\\2,1", "empty_image_density": "WHITE",
            "frames": [{"image": "ct", "position": 2}]}
    sheet = formatter.format_film(film, {"ct": bundled("CT_small.dcm")},
                                  PrinterProfile(dpi=DPI, compose=True, notes=("said first",)))
    assert (sheet.display_format, [b.position for b in sheet.boxes]) == ("STANDARD\\1,1", [1])
    pixels = sheet.boxes[0].pixels
    assert pixels.shape == (10 * DPI, 8 * DPI)
    # STANDARD\2,1 is two columns: box 1 the left half of the sheet, box 2 the right half; 5 pixels
    # (1/8 in) are left out along the edges and either side of the middle, for the gaps around the boxes
    middle = 8 * DPI // 2
    first, second = pixels[5:-5, 5:middle - 5], pixels[5:-5, middle + 5:-5]
    assert first.min() == 255, "the empty box (position 1) has the empty image density, WHITE"
    assert second.min() < 255, "the frame is in box 2"
    assert sheet.notes[0] == "said first"


# -- 10 (a): a 12-bit film on a printer that takes 8 bits ----------------------------------------

@pytest.mark.dicom
def test_a_12_bit_film_prints_at_8_bits_on_a_printer_without_12_bits(tmp_path, dcmprscp_factory):
    scp = dcmprscp_factory(supports_12bit=False)
    with print_path(tmp_path, scp.port, bit_depth="8") as path:
        job = path.print_job(path.submit({"films": [{"film_size": "8INX10IN", "layout": "STANDARD\\1,1",
                                                     "bit_depth": 12, "frames": [path.image()]}]}))
    assert job["state"] == "completed", job["error"]
    assert [i.bits_stored for i in scp.films()[0].images] == [8]
    assert [w for w in path.warnings(job) if "bit_depth" in w and "8 bits instead of 12" in w] != [], \
        path.warnings(job)


def test_the_8_bit_fallback_is_the_12_bit_film_rescaled_not_cut_down():
    film = {"film_size": "8INX10IN", "layout": "STANDARD\\1,1", "frames": [{"image": "ct"}]}
    images = {"ct": bundled("CT_small.dcm")}
    twelve = formatter.format_film(film, images, PrinterProfile(dpi=DPI, bit_depth=12)).boxes[0].pixels
    eight = formatter.format_film(film, images, PrinterProfile(dpi=DPI, bit_depth=8)).boxes[0].pixels
    assert (twelve.dtype, eight.dtype) == (np.uint16, np.uint8)
    # each 8-bit level is the 12-bit one scaled by 255/4095 and rounded (dropping the low 4 bits
    # would be up to a level darker)
    assert np.abs(eight - twelve * (255 / 4095)).max() <= 0.5 + 255 / 4095


def test_a_12_bit_film_on_a_12_bit_printer_is_not_a_fallback(tmp_path):
    with print_path(tmp_path, UNUSED_PORT, bit_depth="12") as path:
        job = path.validator().normalise({"films": [{"film_size": "8INX10IN", "layout": "STANDARD\\1,1",
                                                     "bit_depth": 12, "frames": [path.image()]}]})
    assert job["films"][0]["bit_depth"] == 12


# -- 9: an image box's own magnification, smoothing and requested image size -----------------------

@pytest.mark.dicom
def test_an_image_boxs_own_magnification_smoothing_and_requested_image_size_are_sent(tmp_path):
    with PrinterSimulator(port=0, ae_title="PRINTSCP", out_dir=tmp_path / "films") as sim:
        with print_path(tmp_path, sim.port) as path:
            image = path.image()
            job = path.print_job(path.submit({"films": [{
                "film_size": "8INX10IN", "layout": "STANDARD\\1,2", "magnification": "CUBIC",
                "frames": [{"image": image, "magnification": "replicate", "smoothing": "MEDIUM"},
                           {"image": image, "requested_image_size": 50}]}]}))
        assert job["state"] == "completed", job["error"]
        assert sim.wait_for_films(1)
        record = sim.films[0]
    boxes = sorted(record["image_boxes"], key=lambda b: b["position"])
    assert record["film_box"]["magnification_type"] == "CUBIC"
    assert [(b["magnification_type"], b["smoothing_type"]) for b in boxes] == [("REPLICATE", "MEDIUM"),
                                                                              (None, None)]
    assert boxes[0]["requested_image_size"] is None
    assert float(boxes[1]["requested_image_size"]) == 50.0
    assert boxes[1]["columns"] == round(50 / 25.4 * DPI)     # 50 mm at the printer's 40 dpi


@pytest.mark.parametrize("frame, field, words", [
    ({"magnification": "CUBIC"}, "films[0].frames[0].magnification", "'CUBIC' is not one of: REPLICATE, BILINEAR"),
    ({"magnification": 3}, "films[0].frames[0].magnification", "expected a non-empty string"),
    ({"requested_image_size": 0}, "films[0].frames[0].requested_image_size", "expected a number more than 0"),
    ({"requested_image_size": 30, "true_size": True}, "films[0].frames[0].requested_image_size",
     "give true_size or requested_image_size, not both"),
    ({"smoothing": ""}, "films[0].frames[0].smoothing", "expected a non-empty text"),
])
def test_an_image_boxs_own_values_are_checked_against_the_printer_at_submit(tmp_path, frame, field, words):
    with print_path(tmp_path, UNUSED_PORT, magnification_types='["REPLICATE", "BILINEAR"]',
                    defaults='{ magnification = "BILINEAR" }') as path:
        with pytest.raises(SpecError) as refused:
            path.submit({"films": [{"layout": "STANDARD\\1,1", "frames": [{"image": path.image(), **frame}]}]})
    assert refused.value.field == field
    assert words in str(refused.value)


def test_a_requested_image_size_larger_than_its_box_is_refused_by_name():
    film = {"film_size": "8INX10IN", "layout": "STANDARD\\2,2",
            "frames": [{"image": "ct", "requested_image_size": 150}]}
    with pytest.raises(formatter.OptionError) as refused:
        formatter.format_film(film, {"ct": bundled("CT_small.dcm")}, PrinterProfile(dpi=DPI))
    assert refused.value.field == "films[0].frames[0].requested_image_size"
    assert "at 150 mm wide the image is" in str(refused.value) and "larger than its box" in str(refused.value)
