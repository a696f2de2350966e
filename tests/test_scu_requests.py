"""What the Print SCU puts on the wire, for a set of printers, jobs and films, is what it was.

Each scenario prints films through :class:`~hcserver.drivers.dicom.DicomDriver` on a recording
association (tests/support/recording.py) and compares every request - operation, SOP class, instance,
Meta SOP class, and the attributes encoded as pynetdicom sends them in both transfer syntaxes -
with tests/golden/scu_requests.json. After a deliberate change to what is sent:

    UPDATE_GOLDEN=1 pytest tests/test_scu_requests.py

rewrites the file; look at its diff before committing it.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pynetdicom.dsutils import encode

from hcserver.drivers.base import JobTicket
from hcserver.drivers.dicom import association
from hcserver.drivers.settings import PrinterConfig, PrinterDefaults
from hcserver.formatter.film import BoxRect, FilmSheet, ImageBox
from tests.support.recording import RecordingLink, record_driver
from tests.support.scu import run_job

GOLDEN = Path(__file__).parent / "golden" / "scu_requests.json"


def _pixels(kind: str, rows: int = 4, cols: int = 3) -> np.ndarray:
    ramp = np.arange(rows * cols, dtype=np.uint32).reshape(rows, cols)
    if kind == "rgb":
        return np.dstack([(ramp * 20 + k).astype(np.uint8) for k in range(3)])
    if kind == "u16":
        return (ramp * 300 + 7).astype(np.uint16)
    return (ramp * 20).astype(np.uint8)


def _sheet(index: int, kind: str, **fields) -> FilmSheet:
    boxes = fields.pop("boxes", None) or (
        ImageBox(1, _pixels(kind), polarity="REVERSE", magnification="CUBIC", smoothing="SMOOTH",
                 requested_image_size_mm=120.123456789),
        ImageBox(3, _pixels(kind, 2, 5)),
    )
    values = dict(index=index, display_format="STANDARD\\2,2", film_size="14INX17IN", orientation="PORTRAIT",
                  film_pixels=(100, 120), rects=tuple(BoxRect(0, 0, 10, 10) for _ in range(4)), boxes=boxes,
                  magnification="CUBIC", smoothing="SHARP", border_density="BLACK", empty_image_density="WHITE",
                  min_density=20, max_density=300, trim="NO", configuration_information="PERCEPTION_LUT=KANAMORI")
    values.update(fields)
    return FilmSheet(**values)


FULL_TICKET = JobTicket(job_id=1, copies=2, priority="HIGH", medium_type="BLUE FILM", film_destination="PROCESSOR",
                        label="CT chest", films_total=2)
BARE_TICKET = JobTicket(job_id=2, copies=0, priority=None, films_total=1)


def _scenarios() -> dict[str, tuple[PrinterConfig, JobTicket, list[FilmSheet], dict]]:
    p = dict(name="x", driver="dicom", ae_title="DRYVIEW", host="192.0.2.10", port=10400)
    gray = association.SOP_CLASSES["grayscale-image-box"]
    return {
        "gray8-plut-in-box": (
            PrinterConfig(**p, presentation_lut=True, memory_allocation=1024),
            FULL_TICKET, [_sheet(0, "u8"), _sheet(1, "u8", display_format="STANDARD\\1,2")], {}),
        "gray12-plut-in-session": (
            PrinterConfig(**p, bit_depth=12, presentation_lut=True, plut_in_film_session=True),
            BARE_TICKET, [_sheet(0, "u16")], {}),
        "gray12-with-8-bit-pixels": (
            PrinterConfig(**p, bit_depth=12),
            BARE_TICKET, [_sheet(0, "u8")], {}),
        "gray8-from-12-bit-pixels": (
            PrinterConfig(**p, bit_depth=8, memory_allocation=0),
            FULL_TICKET, [_sheet(0, "u16")], {}),
        "colour": (
            PrinterConfig(**p, color=True, configuration_information="X"),
            JobTicket(job_id=3, copies=1, priority="low", color=True), [_sheet(0, "rgb",
                                                                              configuration_information=None)], {}),
        "grey-on-a-colour-only-printer": (
            PrinterConfig(**p, color=True),
            JobTicket(job_id=4, color=False),
            [_sheet(0, "u8"), _sheet(1, "u16")], dict(accepted=[association.COLOR_META])),
        "individual-sop-classes": (
            PrinterConfig(**p, meta_sop_only=False, presentation_lut=True),
            FULL_TICKET, [_sheet(0, "u8")],
            dict(accepted=[association.SOP_CLASSES[n] for n in ("film-session", "film-box", "grayscale-image-box",
                                                                 "printer")])),
        "printer-defaults-and-bare-film": (
            PrinterConfig(**p, defaults=PrinterDefaults(medium_type="PAPER", film_destination="MAGAZINE"),
                          configuration_information="DEFAULT_LUT"),
            JobTicket(job_id=5, label="L" * 80),
            [_sheet(0, "u8", magnification=None, smoothing=None, border_density="", empty_image_density=None,
                    min_density=0, max_density=None, trim=None, configuration_information="",
                    boxes=(ImageBox(1, _pixels("u8"), polarity=None, requested_image_size_mm=0),
                           ImageBox(2, np.zeros((0, 0), np.uint8)),
                           ImageBox(4, _pixels("u8"), requested_image_size_mm=1 / 3)))], {}),
        "annotations": (
            PrinterConfig(**p, annotation_box=True, annotation_text_length=10,
                          annotation_display_format_id="LABELS"),
            FULL_TICKET, [_sheet(0, "u8", annotation_boxes=("PATIENT A", "A much longer text", "third")),
                          _sheet(1, "u8")], dict(annotation_boxes=2)),
        "film-session-printing": (
            PrinterConfig(**p, print_action="film-session"),
            JobTicket(job_id=6, films_total=2), [_sheet(0, "u8"), _sheet(1, "u8")], {}),
        "film-session-printing-two-at-a-time": (
            PrinterConfig(**p, print_action="film-session", session_films=2, presentation_lut=True,
                          plut_in_film_session=True),
            JobTicket(job_id=7, films_total=3), [_sheet(0, "u8"), _sheet(1, "u8"), _sheet(2, "u8")], {}),
        "annotations-not-accepted": (
            PrinterConfig(**p, annotation_box=True),
            FULL_TICKET, [_sheet(0, "u8", annotation_boxes=("A",))],
            dict(accepted=[association.GRAYSCALE_META, gray])),
    }


def _dataset_record(ds: Dataset | None) -> dict | None:
    if ds is None:
        return None
    out = {}
    for name, implicit in (("implicit", True), ("explicit", False)):
        data = encode(ds, implicit, True)
        out[name] = hashlib.sha256(data).hexdigest()
        out[f"{name}_bytes"] = len(data)
    out["tags"] = _tags(ds)
    return out


def _tags(ds: Dataset, prefix: str = "") -> list[str]:
    tags = []
    for elem in ds:
        tags.append(f"{prefix}({elem.tag.group:04X},{elem.tag.element:04X}) {elem.VR}")
        if elem.VR == "SQ":
            for item in elem.value:
                tags += _tags(item, prefix + ">")
    return tags


def _record(monkeypatch, name: str) -> dict:
    printer, ticket, sheets, link_options = _scenarios()[name]
    link = RecordingLink(printer, **link_options)
    observer = run_job(record_driver(monkeypatch, printer, link), sheets, ticket)
    return {
        "requests": [dict(operation=r.operation, class_uid=r.class_uid, instance_uid=r.instance_uid,
                          meta_uid=r.meta_uid, extra=r.extra, dataset=_dataset_record(r.dataset))
                     for r in link.sent],
        "warnings": [list(w) for w in observer.warnings],
    }


@pytest.mark.parametrize("name", list(_scenarios()))
def test_requests_are_what_they_were(monkeypatch, name):
    recorded = _record(monkeypatch, name)
    if os.environ.get("UPDATE_GOLDEN"):
        golden = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
        golden[name] = recorded
        GOLDEN.write_text(json.dumps(dict(sorted(golden.items())), indent=1) + "\n")
        pytest.skip("golden file rewritten")
    golden = json.loads(GOLDEN.read_text())
    assert name in golden, f"no golden record for {name}; UPDATE_GOLDEN=1 writes it"
    expected = golden[name]
    assert len(recorded["requests"]) == len(expected["requests"])
    for i, (got, want) in enumerate(zip(recorded["requests"], expected["requests"])):
        assert got == want, f"request {i + 1} ({want['operation']}) differs"
    assert recorded["warnings"] == expected["warnings"]
