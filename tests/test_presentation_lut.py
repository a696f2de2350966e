"""A film's Presentation LUT (job spec ``presentation_lut``): sent to a printer that has the
Presentation LUT SOP class (DCMTK's dcmprscp stores it in its Stored Print object), and burnt into
the pixels, with a warning on the job, for one that has not (configured so, or not accepted on the
association: the printer simulator). The expected P-values and pixels are computed here from the
LUT's definition (PS3.3 C.11.4; Polarity before the Presentation LUT)."""
from __future__ import annotations

import hashlib

import numpy as np
import pydicom
import pytest

from hcserver import formatter
from hcserver.formatter.film import PrinterProfile
from hcserver.jobspec import SpecError
from hcserver.simulator import PrinterSimulator
from tests.support.images import bundled
from tests.support.printing import print_path

UNUSED_PORT = 9    # the printer is only checked against, never reached
DPI = 40           # tests.support.configs.dicom_config's

#: A 12-bit table for 8-bit images: P = 4095 - 16 x (a darkening, reversing ramp).
TABLE = [4095 - 16 * i for i in range(256)]


def film(image: str, lut, layout: str = "STANDARD\\1,1", frames: list | None = None) -> dict:
    return {"film_size": "8INX10IN", "layout": layout, "presentation_lut": lut,
            "frames": frames or [image]}


def unlut_pixels(layout: str, frames: list[dict], magnification: str = "CUBIC") -> list[np.ndarray]:
    """The film's box pixels formatted without a Presentation LUT (8 bits, the test printer's)."""
    spec = {"film_size": "8INX10IN", "layout": layout,
            "frames": [{**f, "image": "ct"} for f in frames]}
    sheet = formatter.format_film(spec, {"ct": bundled("CT_small.dcm")},
                                  PrinterProfile(dpi=DPI, bit_depth=8, magnification=magnification))
    return [box.pixels for box in sheet.boxes]


def stored_luts(path) -> list[pydicom.Dataset]:
    return list(pydicom.dcmread(path).get("PresentationLUTContentSequence", []))


def lut_data(item: pydicom.Dataset) -> list[int]:
    return np.frombuffer(item.PresentationLUTSequence[0].LUTData, dtype="<u2").tolist()


# -- sent to a printer with the Presentation LUT SOP class -----------------------------------------

@pytest.mark.parametrize("lut, descriptor, data", [
    ({"descriptor": [256, 0, 12], "data": TABLE}, [256, 0, 12], TABLE),
    # a gamma of 2: P = (x / 255) ** 2 x 4095, rounded
    ({"gamma": 2}, [256, 0, 12], [int(np.floor((i / 255) ** 2 * 4095 + 0.5)) for i in range(256)]),
    # 4096 entries given for 8-bit images: every 4095/255 = 16.06th entry, the nearest
    ({"descriptor": [4096, 0, 16], "data": list(range(0, 65536, 16))}, [256, 0, 16],
     [16 * round(i * 4095 / 255) for i in range(256)]),
])
def test_a_films_lut_table_reaches_a_printer_with_the_presentation_lut_class(tmp_path, dcmprscp_factory,
                                                                           lut, descriptor, data):
    # PresentationLUTMatchRequired: dcmprscp takes a LUT only with one entry per value of the image
    scp = dcmprscp_factory(plut=True, plut_match=True)
    with print_path(tmp_path, scp.port, presentation_lut="true") as path:
        job = path.print_job(path.submit({"films": [film(path.image(), lut)]}))
    assert job["state"] == "completed", job["error"]
    assert path.warnings(job) == []
    (sp,) = scp.stored_print_files()
    (item,) = stored_luts(sp)
    assert "PresentationLUTShape" not in item
    assert list(item.PresentationLUTSequence[0].LUTDescriptor) == descriptor
    assert lut_data(item) == data
    box = pydicom.dcmread(sp).FilmBoxContentSequence[0]
    assert box.ReferencedPresentationLUTSequence[0].ReferencedSOPInstanceUID == item.SOPInstanceUID


@pytest.mark.parametrize("lut", ["LIN OD", "lin od", "IDENTITY"])
def test_a_films_lut_shape_reaches_a_printer_with_the_presentation_lut_class(tmp_path, dcmprscp_factory, lut):
    scp = dcmprscp_factory(plut=True)
    with print_path(tmp_path, scp.port, presentation_lut="true") as path:
        job = path.print_job(path.submit({"films": [film(path.image(), lut)]}))
    assert job["state"] == "completed", job["error"]
    (item,) = stored_luts(scp.stored_print_files()[0])
    assert item.PresentationLUTShape == lut.upper()
    assert "PresentationLUTSequence" not in item


def test_films_with_different_luts_reference_their_own(tmp_path, dcmprscp_factory):
    scp = dcmprscp_factory(plut=True)
    with print_path(tmp_path, scp.port, presentation_lut="true") as path:
        image = path.image()
        job = path.print_job(path.submit({"films": [film(image, "LIN OD"), film(image, {"gamma": 0.5}),
                                                    film(image, "LIN OD")]}))
    assert job["state"] == "completed", job["error"]
    shapes = []
    for sp in scp.stored_print_files():
        (item,) = stored_luts(sp)
        ref = pydicom.dcmread(sp).FilmBoxContentSequence[0].ReferencedPresentationLUTSequence[0]
        assert ref.ReferencedSOPInstanceUID == item.SOPInstanceUID
        shapes.append((str(item.get("PresentationLUTShape", "table")), item.SOPInstanceUID))
    assert [s for s, _ in shapes] == ["LIN OD", "table", "LIN OD"]
    assert shapes[0][1] == shapes[2][1] != shapes[1][1]    # one LIN OD LUT, created once


# -- burnt in for a printer without it --------------------------------------------------------------

@pytest.mark.parametrize("lut, burnt", [
    # the table's P-values (12 bits) scaled to 8 bits: round(P x 255 / 4095)
    ({"descriptor": [256, 0, 12], "data": TABLE},
     lambda x: np.floor(np.array(TABLE)[x] * 255 / 4095 + 0.5)),
    # a gamma of 2 at 8 bits: round(round((x / 255) ** 2 x 4095) x 255 / 4095)
    ({"gamma": 2}, lambda x: np.floor(np.floor((x / 255) ** 2 * 4095 + 0.5) * 255 / 4095 + 0.5)),
])
def test_a_films_lut_is_burnt_into_the_pixels_for_a_printer_without_the_class(tmp_path, dcmprscp_factory,
                                                                           lut, burnt):
    scp = dcmprscp_factory(plut=False)
    frames = [{}, {"polarity": "REVERSE"}]
    with print_path(tmp_path, scp.port, presentation_lut="false") as path:
        image = path.image()
        job = path.print_job(path.submit({"films": [film(image, lut, "STANDARD\\1,2",
                                                         [{"image": image, **f} for f in frames])]}))
    assert job["state"] == "completed", job["error"]
    assert [w for w in path.warnings(job) if "presentation_lut" in w and "burnt into its pixels" in w] != [], \
        path.warnings(job)
    (stored,) = scp.films()
    assert stored_luts(stored.path) == []
    sent = [pydicom.dcmread(i.path).pixel_array for i in stored.images]
    normal, reverse = unlut_pixels("STANDARD\\1,2", frames)
    assert np.array_equal(sent[0], burnt(normal.astype(np.int64)).astype(np.uint8))
    # the printer still reverses the box: it gets 255 - P(255 - x), and prints P(255 - x) reversed
    assert np.array_equal(sent[1], 255 - burnt(255 - reverse.astype(np.int64)).astype(np.uint8))
    assert [i.polarity for i in stored.images] == ["NORMAL", "REVERSE"]


@pytest.mark.dicom
def test_a_films_lut_is_burnt_in_when_the_printer_does_not_accept_the_class(tmp_path):
    # the simulator's printscp profile has no Presentation LUT: it refuses the SOP class
    with PrinterSimulator(port=0, ae_title="PRINTSCP", out_dir=tmp_path / "films", profile="printscp") as sim:
        with print_path(tmp_path, sim.port, presentation_lut="true", magnification_types='["BILINEAR"]',
                        defaults='{ magnification = "BILINEAR" }') as path:
            job = path.print_job(path.submit({"films": [film(path.image(),
                                                             {"descriptor": [256, 0, 12], "data": TABLE})]}))
        assert job["state"] == "completed", job["error"]
        assert sim.wait_for_films(1)
        record = sim.films[0]
    assert [w for w in path.warnings(job) if "did not accept the Presentation LUT SOP class" in w
            and "burnt into its pixels" in w] != [], path.warnings(job)
    (normal,) = unlut_pixels("STANDARD\\1,1", [{}], "BILINEAR")
    expected = np.floor(np.array(TABLE)[normal.astype(np.int64)] * 255 / 4095 + 0.5).astype(np.uint8)
    assert record["image_boxes"][0]["md5"] == hashlib.md5(expected.tobytes()).hexdigest()
    assert record["film_box"]["presentation_lut"] is None


def test_lin_od_is_refused_at_submit_for_a_printer_without_the_class(tmp_path):
    with print_path(tmp_path, UNUSED_PORT, presentation_lut="false") as path:
        with pytest.raises(SpecError) as refused:
            path.submit({"films": [film(path.image(), "LIN OD")]})
    assert refused.value.field == "films[0].presentation_lut"
    assert "LIN OD cannot be burnt into the pixels without the printer's densities" in str(refused.value)


def test_identity_on_a_printer_without_the_class_is_no_fallback(tmp_path):
    with print_path(tmp_path, UNUSED_PORT, presentation_lut="false") as path:
        checked = path.validator().normalise({"printer": "dcm", "films": [film(path.image(), "identity")]})
    assert checked["films"][0]["presentation_lut"] == "IDENTITY"


@pytest.mark.parametrize("lut, field, words", [
    ("INVERSE", "films[0].presentation_lut", "'INVERSE' is not one of: IDENTITY, LIN OD"),
    (2.2, "films[0].presentation_lut", "expected IDENTITY, LIN OD"),
    ({"gamma": 0}, "films[0].presentation_lut.gamma", "expected a number more than 0 to 10, got 0"),
    ({"gamma": "2"}, "films[0].presentation_lut.gamma", "expected a number"),
    ({"gamma": 2, "data": []}, "films[0].presentation_lut", "got the keys data, gamma"),
    ({"descriptor": [255, 0, 12], "data": TABLE}, "films[0].presentation_lut.descriptor",
     "entries: expected 256 or 4096"),
    ({"descriptor": [256, 1, 12], "data": TABLE}, "films[0].presentation_lut.descriptor",
     "first input value: expected 0"),
    ({"descriptor": [256, 0, 8], "data": TABLE}, "films[0].presentation_lut.descriptor", "bits: expected 10 to 16"),
    ({"descriptor": [256, 0, 12], "data": TABLE[:-1]}, "films[0].presentation_lut.data",
     "expected a list of 256 entries (the descriptor's), got 255 entries"),
    ({"descriptor": [256, 0, 10], "data": TABLE}, "films[0].presentation_lut.data",
     "entry 0: expected a whole number from 0 to 1023 (10 bits), got 4095"),
])
def test_a_bad_presentation_lut_is_refused_at_submit_by_field(tmp_path, lut, field, words):
    with print_path(tmp_path, UNUSED_PORT, presentation_lut="true") as path:
        with pytest.raises(SpecError) as refused:
            path.submit({"films": [film(path.image(), lut)]})
    assert refused.value.field == field
    assert words in str(refused.value)


def test_films_of_a_job_must_share_a_lut_the_printer_takes_on_the_film_session(tmp_path):
    with print_path(tmp_path, UNUSED_PORT, presentation_lut="true", plut_in_film_session="true") as path:
        image = path.image()
        with pytest.raises(SpecError) as refused:
            path.submit({"films": [film(image, {"gamma": 2}), film(image, {"gamma": 2}), film(image, "LIN OD")]})
    assert refused.value.field == "films[2].presentation_lut"
    assert "the same one" in str(refused.value)


def test_a_colour_printer_refuses_a_presentation_lut(tmp_path):
    with print_path(tmp_path, UNUSED_PORT, color="true") as path:
        with pytest.raises(SpecError) as refused:
            path.submit({"films": [film(path.image(), {"gamma": 2})]})
    assert refused.value.field == "films[0].presentation_lut"
    assert "takes no Presentation LUT" in str(refused.value)


# -- warnings said once per job -----------------------------------------------------------------------

def test_a_fallback_said_of_every_film_is_one_warning(tmp_path, dcmprscp_factory):
    scp = dcmprscp_factory(display_formats="1,1\\2,2")
    with print_path(tmp_path, scp.port, display_formats='["STANDARD\\\\1,1", "STANDARD\\\\2,2"]') as path:
        image = path.image()
        job = path.print_job(path.submit({"images": [image] * 5, "layout": "STANDARD\\1,2",
                                          "film_size": "8INX10IN"}))
    assert job["state"] == "completed", job["error"]
    assert scp.film_count() == 3
    warnings = path.warnings(job)
    assert len([w for w in warnings if "STANDARD\\1,2" in w and "composed" in w]) == 1, warnings


def test_a_lut_burnt_into_every_film_is_one_warning(tmp_path, dcmprscp_factory):
    scp = dcmprscp_factory(plut=False)
    with print_path(tmp_path, scp.port, presentation_lut="false") as path:
        image = path.image()
        job = path.print_job(path.submit({"images": [image] * 3, "layout": "STANDARD\\1,1",
                                          "film_size": "8INX10IN", "presentation_lut": {"gamma": 2}}))
    assert job["state"] == "completed", job["error"]
    assert scp.film_count() == 3
    assert len([w for w in path.warnings(job) if "burnt into its pixels" in w]) == 1, path.warnings(job)
