"""The print route, in the test process: a pynetdicom Print SCU playing the modality (what real
modalities send, tests/support/modality.py) against hcserver's listener over a real queue and
spool. No printer prints here: the jobs stay pending, and each test reads what was queued."""
from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pynetdicom import AE
from pynetdicom import sop_class as sc

from tests.support.daemon import wait_for
from tests.support.modality import PRINT_QUEUE_MANAGEMENT, Modality, pattern

pytestmark = pytest.mark.dicom   # DICOM over loopback, to a listener in this process

BOX, SESSION = sc.BasicFilmBox, sc.BasicFilmSession


def pixels_of(door, digest: str) -> np.ndarray:
    return pydicom.dcmread(door.spool.path(digest)).pixel_array


def digest(frame: dict) -> str:
    return frame["image"].removeprefix("sha256:")


def test_a_film_box_print_is_a_job_of_one_film_with_what_the_modality_asked_for(front_door):
    door = front_door()
    images = [pattern(60, 50, seed) for seed in range(3)]
    with Modality(door.port) as modality:
        session = modality.create_session(NumberOfCopies=2, PrintPriority="HIGH", FilmSessionLabel="CT chest")
        box = modality.create_film_box(session.uid, "STANDARD\\2,2", FilmSizeID="14INX17IN",
                                       MagnificationType="BILINEAR", BorderDensity="BLACK", EmptyImageDensity="WHITE",
                                       Trim="NO", MinDensity=20, MaxDensity=300, FilmOrientation="LANDSCAPE")
        assert (session.status, box.status) == (0, 0) and len(box.image_boxes) == 4
        assert modality.set_image_box(box.image_boxes[0], images[0]) == (0, None)
        assert modality.set_image_box(box.image_boxes[1], images[1], Polarity="REVERSE") == (0, None)
        # the fourth box is left empty: a count of images that does not fill the display format
        assert modality.set_image_box(box.image_boxes[2], images[2], RequestedImageSize=120) == (0, None)
        status, reply, _ = modality.action(BOX, box.uid)
    assert status == 0
    [job] = door.jobs()
    assert (job["owner"], job["copies"], job["priority"], job["label"], job["films_total"]) == (
        "dicom:CT1@FILMSPOOL", 2, "high", "CT chest", 1)
    [film] = door.spec(job["id"])["films"]
    assert (film["layout"], film["film_size"], film["orientation"], film["magnification"]) == (
        "STANDARD\\2,2", "14INX17IN", "LANDSCAPE", "BILINEAR")
    assert (film["border_density"], film["empty_image_density"], film["trim"], film["min_density"],
            film["max_density"]) == ("BLACK", "WHITE", "NO", 20, 300)
    frames = film["frames"]
    assert [f["position"] for f in frames] == [1, 2, 3]
    assert [f["polarity"] for f in frames] == ["NORMAL", "REVERSE", "NORMAL"]
    assert [f["requested_image_size"] for f in frames] == [None, None, 120.0]
    assert all(f["native_size"] and f["window"] == {"center": 127.5, "width": 255.0} for f in frames)
    for frame, sent in zip(frames, images):
        assert np.array_equal(pixels_of(door, digest(frame)), sent)   # the pixels as the modality sent them


def test_a_film_session_print_is_one_job_of_its_films_that_have_images(front_door):
    door = front_door()
    with Modality(door.port, calling="CR2") as modality:
        session = modality.create_session()
        boxes = [modality.create_film_box(session.uid, fmt)
                 for fmt in ("STANDARD\\1,1", "STANDARD\\1,2", "STANDARD\\1,1")]
        modality.set_image_box(boxes[0].image_boxes[0], pattern(40, 40, 1))
        modality.set_image_box(boxes[2].image_boxes[0], pattern(40, 40, 2))   # boxes[1] stays empty
        status, _, _ = modality.action(SESSION, session.uid)
    assert status == 0
    [job] = door.jobs()
    assert job["films_total"] == 2
    assert [f["layout"] for f in door.spec(job["id"])["films"]] == ["STANDARD\\1,1", "STANDARD\\1,1"]


def test_instance_uids_are_assigned_when_missing_and_kept_when_the_scu_gives_them(front_door):
    door = front_door()
    with Modality(door.port) as modality:
        session = modality.create_session()           # no Affected SOP Instance UID: one is assigned
        assert session.status == 0 and session.uid
        mine = "1.2.3.4.5.6.7.8.9"
        box = modality.create_film_box(session.uid, "STANDARD\\1,1", uid=mine)
        assert (box.status, box.uid) == (0, mine)
        assert modality.create_film_box(session.uid, "STANDARD\\1,1", uid=mine).status == 0x0111
        modality.set_image_box(box.image_boxes[0], pattern(30, 30, 3))
        assert modality.action(BOX, mine)[0] == 0
    assert len(door.jobs()) == 1


def test_n_action_without_a_requested_instance_prints_the_last_film_box_or_the_session(front_door):
    door = front_door()
    with Modality(door.port) as modality:
        session = modality.create_session()
        box = modality.create_film_box(session.uid, "STANDARD\\1,1")
        modality.set_image_box(box.image_boxes[0], pattern(12, 12, 9))
        assert modality.action_without_instance(BOX) == (0, box.uid)
        second = modality.create_film_box(session.uid, "STANDARD\\1,1")
        modality.set_image_box(second.image_boxes[0], pattern(12, 12, 10))
        assert modality.action_without_instance(SESSION) == (0, session.uid)
        assert modality.assoc.is_established
    assert [job["films_total"] for job in door.jobs()] == [1, 2]


def test_the_retired_print_queue_management_context_is_rejected_and_the_rest_accepted(front_door):
    door = front_door()
    with Modality(door.port, queue_management=True) as modality:
        contexts = {str(cx.abstract_syntax): cx.result for cx in modality.assoc.accepted_contexts}
        rejected = {str(cx.abstract_syntax) for cx in modality.assoc.rejected_contexts}
        assert PRINT_QUEUE_MANAGEMENT in rejected and PRINT_QUEUE_MANAGEMENT not in contexts
        assert str(sc.BasicGrayscalePrintManagementMeta) in contexts
        assert modality.print_film([pattern(20, 20, 4)], "STANDARD\\1,1")[0] == 0
    assert len(door.jobs()) == 1


def test_a_session_sent_again_after_the_modalitys_own_retry_is_printed_once(front_door):
    door = front_door()
    images = [pattern(32, 32, seed) for seed in range(4)]
    with Modality(door.port) as modality:
        assert modality.print_film(images)[0] == 0
    # the modality never saw that answer (say), so it sends the whole session again
    with Modality(door.port) as modality:
        assert modality.print_film(images)[0] == 0
    with Modality(door.port) as modality:   # another film is another job
        assert modality.print_film(images[:3])[0] == 0
    assert [job["films_total"] for job in door.jobs()] == [1, 1]


def test_a_modality_that_aborts_mid_session_leaves_nothing_spooled(front_door):
    door = front_door()
    modality = Modality(door.port).__enter__()
    session = modality.create_session()
    box = modality.create_film_box(session.uid, "STANDARD\\1,2")
    for uid, seed in zip(box.image_boxes, (7, 8)):
        assert modality.set_image_box(uid, pattern(50, 50, seed))[0] == 0
    assert len(list(door.spool.scan())) == 2       # the images went to the spool as they came
    modality.assoc.abort()
    wait_for(lambda: not list(door.spool.scan()), 30, "the aborted session's images to leave the spool")
    assert door.jobs() == []


def test_bad_input_gets_the_status_a_printer_gives_and_the_association_goes_on(front_door):
    door = front_door(server="max_image_pixels = 4000000")
    with Modality(door.port) as modality:
        assert modality.create_session(NumberOfCopies=0).status == 0x0106
        assert modality.create_session(PrintPriority="URGENT").status == 0x0106
        assert modality.create_session(PatientName="X").status == 0x0105
        session = modality.create_session()
        assert session.status == 0
        assert modality.create_session().status == 0x0111                  # one film session per association
        missing = modality.create_film_box(session.uid, None)
        assert (missing.status, missing.comment) == (0x0120, "Image Display Format missing")
        assert modality.create_film_box(session.uid, "STANDARD\\0,3").status == 0x0106
        assert modality.create_film_box(session.uid, "STANDARD\\1,1", FilmSizeID="15INX15IN").status == 0x0106
        assert modality.create_film_box(session.uid, "STANDARD\\1,1", FilmOrientation="DIAGONAL").status == 0x0106
        assert modality.create_film_box("1.2.3", "STANDARD\\1,1").status == 0x0106   # not this association's session
        box = modality.create_film_box(session.uid, "STANDARD\\1,2")
        assert box.status == 0
        assert modality.action(BOX, box.uid)[0] == 0xB603                  # nothing set: nothing printed
        first = box.image_boxes[0]
        assert modality.set_image_box("1.2.3.4", pattern(8, 8, 0))[0] == 0x0112
        assert modality.set_image_box(first, pattern(8, 8, 0), position=2)[0] == 0x0106
        assert modality.set_image_box(first, pattern(8, 8, 0), Polarity="INVERTED")[0] == 0x0106
        assert modality.set_image_box(first, pattern(8, 8, 0).astype(np.uint16), bits=17)[0] == 0x0106
        status, comment = modality.set_image_box(first, np.zeros((3000, 3000), np.uint8))
        assert (status, comment) == (0xC603, "3000x3000 image larger than this printer takes")
        assert modality.action(BOX, "1.2.3.4")[0] == 0x0112
        assert modality.assoc.send_n_action(None, 7, BOX, box.uid, meta_uid=modality.meta)[0].Status == 0x0123
        assert modality.set_image_box(first, pattern(8, 8, 0))[0] == 0          # and it goes on
        assert modality.action(BOX, box.uid)[0] == 0
        assert modality.assoc.is_established
    assert len(door.jobs()) == 1


def test_a_session_without_film_boxes_is_0xC600(front_door):
    door = front_door()
    with Modality(door.port) as modality:
        session = modality.create_session()
        assert modality.action(SESSION, session.uid)[0] == 0xC600
        box = modality.create_film_box(session.uid, "STANDARD\\1,1")
        assert modality.action(SESSION, session.uid)[0] == 0xB602           # its one film box is empty
        assert modality.delete(BOX, box.uid) == 0
        assert modality.delete(SESSION, session.uid) == 0
        assert modality.delete(SESSION, session.uid) == 0x0112
    assert door.jobs() == []


def test_printer_n_get_answers_the_target_printers_last_known_status(front_door):
    door = front_door()
    door.queue.printers.report_status("film", "WARNING", "SUPPLY LOW")
    with Modality(door.port) as modality:
        status, ds = modality.get_printer()
        assert status == 0
        assert (ds.PrinterStatus, ds.PrinterStatusInfo, ds.PrinterName) == ("WARNING", "SUPPLY LOW", "film")
        status, ds = modality.get_printer(0x21100010)
        assert status == 0 and "PrinterStatus" in ds and "PrinterName" not in ds


def test_print_job_n_get_reports_the_spooled_jobs_state(front_door):
    door = front_door()
    with Modality(door.port, print_job=True) as modality:
        status, reply, _ = modality.print_film([pattern(16, 16, 5)], "STANDARD\\1,1")
        assert status == 0
        uid = str(reply.ReferencedPrintJobSequence[0].ReferencedSOPInstanceUID)
        status, ds = modality.get_print_job(uid)
        assert (status, ds.ExecutionStatus, ds.PrinterName, ds.Originator) == (0, "PENDING", "film", "CT1")
        [job] = door.jobs()
        door.queue.jobs.cancel(job["id"], "admin")
        assert modality.get_print_job(uid)[1].ExecutionStatus == "FAILURE"
        assert modality.get_print_job("1.2.3")[0] == 0x0112
    with Modality(door.port) as modality:   # without the Print Job class: no reference to one
        status, reply, _ = modality.print_film([pattern(16, 16, 6)], "STANDARD\\1,1")
        assert status == 0 and (reply is None or "ReferencedPrintJobSequence" not in reply)


def test_colour_image_boxes_keep_their_pixels(front_door):
    door = front_door()
    rgb = np.dstack([pattern(24, 30, s) for s in (1, 2, 3)])
    with Modality(door.port, color=True) as modality:
        assert modality.print_film([rgb], "STANDARD\\1,1")[0] == 0
    [job] = door.jobs()
    [frame] = door.spec(job["id"])["films"][0]["frames"]
    assert frame["window"] is None          # colour: no window
    assert np.array_equal(pixels_of(door, digest(frame)), rgb)


@pytest.mark.parametrize("calling, called, reason", [("CT1", "NOSUCHROUTE", 7), ("INTRUDER", "FILMSPOOL", 3)])
def test_associations_from_unknown_calling_aes_or_to_unknown_routes_are_rejected(front_door, calling, called, reason):
    door = front_door(listener='allowed_calling_aes = ["CT1", "CR2"]')
    ae = AE(ae_title=calling)
    ae.add_requested_context(sc.BasicGrayscalePrintManagementMeta)
    assoc = ae.associate("127.0.0.1", door.port, ae_title=called)
    assert assoc.is_rejected
    rejection = assoc.acceptor.primitive
    assert (rejection.result, rejection.result_source, rejection.diagnostic) == (1, 1, reason)


def test_smoothing_and_magnification_are_checked_against_the_printer_and_kept_per_image_box(front_door):
    from tests.support.front_door import PRINT_AND_STORE

    text = PRINT_AND_STORE.replace("dpi = 40\n", 'dpi = 40\nsmoothing_types = ["MEDIUM", "SHARP"]\n'
                                                 'magnification_types = ["BILINEAR", "REPLICATE"]\n'
                                                 'defaults = { magnification = "BILINEAR" }\n', 1)
    door = front_door(text=text.replace("@LISTENER@", "").replace("@STORE@", "").replace("@SERVER@", ""))
    with Modality(door.port) as modality:
        session = modality.create_session()
        refused = modality.create_film_box(session.uid, "STANDARD\\1,2", SmoothingType="SOFT")
        assert (refused.status, refused.comment) == (0x0106, "Smoothing Type SOFT not supported")
        box = modality.create_film_box(session.uid, "STANDARD\\1,2", SmoothingType="SHARP")
        assert box.status == 0
        first, second = box.image_boxes
        assert modality.set_image_box(first, pattern(8, 8, 0), SmoothingType="SOFT") == \
            (0x0106, "Smoothing Type SOFT not supported")
        assert modality.set_image_box(first, pattern(8, 8, 0), MagnificationType="CUBIC") == \
            (0x0106, "Magnification Type CUBIC not supported")
        assert modality.set_image_box(first, pattern(8, 8, 0), SmoothingType="MEDIUM",
                                      MagnificationType="REPLICATE") == (0, None)
        assert modality.set_image_box(second, pattern(8, 8, 1)) == (0, None)
        assert modality.action(BOX, box.uid)[0] == 0
    [job] = door.jobs()
    [film] = door.spec(job["id"])["films"]
    assert film["smoothing"] == "SHARP"
    one, two = film["frames"]
    assert (one["smoothing"], one["magnification"]) == ("MEDIUM", "REPLICATE")   # the box's own
    assert (two["smoothing"], two["magnification"]) == (None, None)               # the film box's applies
