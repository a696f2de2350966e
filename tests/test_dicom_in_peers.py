"""The front door inside a real daemon, with real clients and printers: DCMTK's Print SCU
(dcmpsprt + dcmprscu) printing through hcserver to DCMTK's dcmprscp, the printer simulator as
a jammed, colour, annotating or Print Job printer, and storescu (DCMTK's and pynetdicom's)
sending to the store route."""
from __future__ import annotations

import hashlib
import subprocess
import sys
import time

import numpy as np
import pydicom
import pytest
from pynetdicom import AE
from pynetdicom import sop_class as sc

from tests.support.configs import dicom_config
from tests.support.daemon import wait_for
from tests.support.dcmtk_scu import dcmtk_print, storescu
from tests.support.images import bundled
from tests.support.modality import Modality, pattern
from tests.support.ports import free_port

pytestmark = [pytest.mark.slow, pytest.mark.dicom]


def front_door_config(printers: dict[str, int], routes: str, **printer_keys) -> tuple[str, int]:
    """A daemon configuration with DICOM ``printers`` (as tests.support.configs.dicom_config) and
    a [dicom_in] listener on a free port with ``routes``; and that port."""
    port = free_port()
    # a slow answer on a loaded machine is not a lost one: no retry, no film in doubt
    config = dicom_config(printers, **printer_keys).replace("dimse_timeout_s = 3", "dimse_timeout_s = 30")
    return config + f"""
[dicom_in]
host = "127.0.0.1"
port = {port}
{routes}
""", port


def print_route(printer: str) -> str:
    return f'[dicom_in.ae.FILMSPOOL]\nservice = "print"\nprinter = "{printer}"\n'


def store_route(printer: str, extra: str = "") -> str:
    return f'[dicom_in.ae.AUTOFILM]\nservice = "store"\nprinter = "{printer}"\n{extra}\n'


def hg_pixels(path) -> np.ndarray:
    return pydicom.dcmread(path).pixel_array


def test_dcmtk_prints_through_hcserver_to_dcmprscp_with_the_pixels_it_sent(hcserver, dcmprscp_factory, tmp_path):
    reference, target = dcmprscp_factory(), dcmprscp_factory()
    config, port = front_door_config({"dcm": target.port}, print_route("dcm"))
    daemon = hcserver(config)
    images = [bundled("CT_small.dcm"), bundled("MR_small.dcm"), bundled("CT_small.dcm")]
    films = [images, images[:2]]
    # the same films straight to a dcmprscp: what dcmprscu sends, as that printer stores it
    dcmtk_print(tmp_path / "direct", reference.port, films, called="PRINTSCP")
    dcmtk_print(tmp_path / "through", port, films, called="FILMSPOOL")
    with daemon.client() as hc:
        jobs = hc.list(all=True)
        assert len(jobs) == 2 and all(job["owner"] == "dicom:DCMTKSCU@FILMSPOOL" for job in jobs)
        for job in jobs:
            assert hc.wait(job["id"], timeout=120)["state"] == "completed"
    sent, printed = reference.films(), target.films()
    assert [len(film.images) for film in sent] == [3, 2]
    assert [len(film.images) for film in printed] == [3, 2]
    for direct, through in zip(sent, printed):
        assert (through.display_format, through.film_size) == (direct.display_format, direct.film_size)
        assert [i.position for i in through.images] == [i.position for i in direct.images]
        for a, b in zip(direct.images, through.images):
            assert (b.rows, b.columns, b.bits_stored) == (a.rows, a.columns, a.bits_stored)
            assert np.array_equal(hg_pixels(a.path), hg_pixels(b.path)), f"box {a.position} differs"


def test_a_modality_printing_to_a_jammed_printer_is_answered_at_once_and_the_film_prints_when_it_clears(
        hcserver, sim):
    sim.set_printer_status("FAILURE", "PAPER JAM")
    config, port = front_door_config({"sim": sim.port}, print_route("sim"))
    config = config.replace('ae_title = "PRINTSCP"', 'ae_title = "HCSIM"')
    daemon = hcserver(config)
    with Modality(port) as modality:
        started = time.monotonic()
        status, _, _ = modality.print_film([pattern(64, 64, s) for s in range(4)])
        answered = time.monotonic() - started
        assert status == 0
    assert answered < 10     # a deadline that means a hang, not a speed goal (bench/ measures that)
    with daemon.client() as hc:
        wait_for(lambda: hc.printers()[0]["dicom_status"] == "FAILURE", 60, "the worker to find the jam")
        [job] = hc.list(all=True)
        assert job["state"] in ("pending", "processing") and job["films_printed"] == 0
    with Modality(port) as modality:   # the modality asks the printer: the jam, as last known
        printer = modality.get_printer()[1]
        assert (printer.PrinterStatus, printer.PrinterStatusInfo) == ("FAILURE", "PAPER JAM")
    assert sim.records.films == []
    sim.set_printer_status("NORMAL", "NORMAL")
    with daemon.client() as hc:
        [job] = hc.list(all=True)
        assert hc.wait(job["id"], timeout=120)["state"] == "completed"
    assert len(sim.films) == 1


def test_print_job_progress_colour_and_annotations_reach_the_modality_and_the_printer(hcserver, sim):
    config, port = front_door_config({"sim": sim.port}, print_route("sim"), color="true", annotation_box="true",
                                      print_job="true", annotation_display_format_id='"LABELS"')
    hcserver(config.replace('ae_title = "PRINTSCP"', 'ae_title = "HCSIM"'))
    rgb = np.dstack([pattern(40, 48, s) for s in (1, 2, 3)])
    with Modality(port, color=True, print_job=True) as modality:
        session = modality.create_session()
        box = modality.create_film_box(session.uid, "STANDARD\\1,1", AnnotationDisplayFormatID="LABELS")
        assert box.status == 0 and len(box.annotation_boxes) >= 2
        assert modality.set(sc.BasicAnnotationBox, box.annotation_boxes[0], AnnotationPosition=1,
                            TextString="LEFT LUNG")[0] == 0
        assert modality.set_image_box(box.image_boxes[0], rgb)[0] == 0
        status, reply, _ = modality.action(sc.BasicFilmBox, box.uid)
        assert status == 0
        uid = str(reply.ReferencedPrintJobSequence[0].ReferencedSOPInstanceUID)
        wait_for(lambda: modality.get_print_job(uid)[1].ExecutionStatus == "DONE", 60, "the film to print")
        wait_for(lambda: 3 in [event for event, _info in modality.events], 30, "the DONE report")
        assert [event for event, _ in modality.events][-1] == 3
    [film] = sim.films
    [image] = film["image_boxes"]
    assert image["photometric_interpretation"] == "RGB" and (image["rows"], image["columns"]) == (40, 48)
    assert image["md5"] == hashlib.md5(rgb.tobytes()).hexdigest()     # the colour pixels the modality sent
    assert film["annotations"][0]["text"] == "LEFT LUNG"


def test_dcmtk_storescu_and_pynetdicom_storescu_send_to_the_store_route_and_the_films_print(hcserver, sim, tmp_path):
    config, port = front_door_config({"sim": sim.port}, store_route("sim", 'layout = "STANDARD\\\\2,2"'))
    daemon = hcserver(config.replace('ae_title = "PRINTSCP"', 'ae_title = "HCSIM"'))
    files = [bundled(name) for name in ("CT_small.dcm", "MR_small.dcm")]
    done = storescu(port, files)
    assert done.returncode == 0 and "E: " not in done.stderr, done.stderr
    # storescu proposes one compressed transfer syntax per association, by option
    compressed = {"MR_small_RLE.dcm": "-xr", "JPEG2000.dcm": "-xw", "SC_rgb_jpeg_dcmtk.dcm": "-xy",
                  "MR_small_jpeg_ls_lossless.dcm": "-xt"}
    for name, option in compressed.items():
        done = storescu(port, [bundled(name)], propose=(option,))
        assert done.returncode == 0 and "E: " not in done.stderr, done.stderr
    done = subprocess.run([sys.executable, "-m", "pynetdicom", "storescu", "-aet", "PYSTORE", "-aec", "AUTOFILM",
                           "127.0.0.1", str(port), *files[:2]], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "E: " not in done.stderr, done.stderr
    with daemon.client() as hc:
        # a job per study of each association: CT and MR from each storescu, one per compressed file
        wait_for(lambda: len(hc.list(all=True)) == 2 + len(compressed) + 2, 120, "the batches to be queued")
        jobs = hc.list(all=True)
        assert {job["owner"] for job in jobs} == {"dicom:STORESCU@AUTOFILM", "dicom:PYSTORE@AUTOFILM"}
        for job in jobs:
            assert hc.wait(job["id"], timeout=120)["state"] == "completed"
    boxes = [box for film in sim.films for box in film["image_boxes"]]
    assert len(boxes) == len(files) + len(compressed) + 2
    # pynetdicom's storescu sent CT_small and MR_small again, and MR_small_RLE and the lossless
    # JPEG-LS MR hold MR_small's pixels: printed the same, so four different boxes in all
    assert len({box["md5"] for box in boxes}) == 4


def test_images_acknowledged_before_a_crash_are_printed_after_the_restart(hcserver, sim, tmp_path):
    config, port = front_door_config({"sim": sim.port}, store_route("sim"))
    daemon = hcserver(config.replace('ae_title = "PRINTSCP"', 'ae_title = "HCSIM"'))
    ae = AE(ae_title="CT9")
    ae.add_requested_context(sc.CTImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title="AUTOFILM")
    assert assoc.is_established
    ct = pydicom.dcmread(bundled("CT_small.dcm"))
    assert assoc.send_c_store(ct).Status == 0       # the modality was told it is stored...
    daemon.kill()                                    # ... and the daemon dies before the association ends
    assoc.abort()
    daemon.start()
    with daemon.client() as hc:
        wait_for(lambda: hc.list(all=True), 60, "the journalled batch to be queued at start")
        [job] = hc.list(all=True)
        assert job["owner"] == "dicom:CT9@AUTOFILM"
        assert hc.wait(job["id"], timeout=120)["state"] == "completed"
    assert len(sim.films) == 1
