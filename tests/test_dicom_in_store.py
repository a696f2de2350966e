"""The store route, in the test process: pynetdicom's Storage SCU sending images to hcserver's
listener over a real queue and spool; what each batch became is read from the queue. (DCMTK's
storescu and pynetdicom's own storescu program send to a daemon in test_dicom_in_peers.)"""
from __future__ import annotations

import random

import numpy as np
import pydicom
import pytest
from pynetdicom import AE
from pynetdicom import sop_class as sc

from hcserver.dicom_in.store_route import Journal, read_journal
from hcserver.states import PrinterTransition
from tests.support.daemon import wait_for
from tests.support.images import bundled, write_image

pytestmark = pytest.mark.dicom   # DICOM over loopback, to a listener in this process


def numbered_images(directory, count: int, study: str = "1.2.3.1", **attrs) -> list[str]:
    """Images whose pixels hold their (series, instance) numbers, in a shuffled order."""
    paths = []
    for n in range(count):
        series, instance = 1 + n % 2, count - n        # arrival order is not print order
        pixels = np.full((16, 16), n % 256, np.uint8)
        pixels[0, :2] = (series, instance % 256)
        paths.append(write_image(directory / f"img{n}.dcm", pixels, StudyInstanceUID=study, SeriesNumber=series,
                                 InstanceNumber=instance, Modality="CT", **attrs))
    random.Random(1).shuffle(paths)
    return paths


def send(port: int, files: list[str], called: str = "AUTOFILM", release: bool = True) -> tuple[list[int], object]:
    """C-STORE ``files`` in one association, each in its own transfer syntax; their statuses."""
    datasets = [pydicom.dcmread(f) for f in files]
    ae = AE(ae_title="MODALITY")
    for pair in dict.fromkeys((ds.SOPClassUID, ds.file_meta.TransferSyntaxUID) for ds in datasets):
        ae.add_requested_context(*pair)
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    assert assoc.is_established
    statuses = [int(assoc.send_c_store(ds).Status) for ds in datasets]
    if release:
        assoc.release()
    return statuses, assoc


def frames_of(door, job: int) -> list[tuple[int, int]]:
    """(Series Number, Instance Number) of every frame of a job's films, in print order."""
    out = []
    for film in door.spec(job)["films"]:
        for frame in film["frames"]:
            ds = pydicom.dcmread(door.spool.path(frame["image"].removeprefix("sha256:")), stop_before_pixels=True)
            out.append((int(ds.SeriesNumber), int(ds.InstanceNumber)))
    return out


def test_a_hundred_images_of_one_association_become_the_expected_films(front_door, tmp_path):
    door = front_door(store='layout = "STANDARD\\\\2,2"')
    statuses, _ = send(door.port, numbered_images(tmp_path, 100))
    assert statuses == [0] * 100
    wait_for(door.jobs, 30, "the batch to be queued at release")
    [job] = door.jobs()
    assert (job["owner"], job["films_total"]) == ("dicom:MODALITY@AUTOFILM", 25)
    films = door.spec(job["id"])["films"]
    assert {film["layout"] for film in films} == {"STANDARD\\2,2"}
    order = frames_of(door, job["id"])
    assert order == sorted(order) and len(order) == 100     # by series, then instance


def test_images_are_laid_out_automatically_windowed_and_split_by_study(front_door, tmp_path):
    door = front_door(store="windows.CT = { center = 40, width = 400 }")
    (tmp_path / "a").mkdir()
    first = numbered_images(tmp_path / "a", 3, study="1.2.3.1")
    own = write_image(tmp_path / "own.dcm", np.zeros((8, 8), np.uint8), StudyInstanceUID="1.2.3.2", Modality="CT",
                      SeriesNumber=1, InstanceNumber=1, WindowCenter=100, WindowWidth=50)
    statuses, _ = send(door.port, first + [own])
    assert statuses == [0] * 4
    wait_for(lambda: len(door.jobs()) == 2, 30, "a job per study")
    three, one = (door.spec(job["id"]) for job in door.jobs())
    assert [len(f["frames"]) for f in three["films"]] == [3] and three["films"][0]["layout"] != "STANDARD\\1,1"
    assert all(f["window"] == {"center": 40, "width": 400} for f in three["films"][0]["frames"])   # the preset
    assert one["films"][0]["frames"][0]["window"] is None          # the image's own window is used


def test_every_frame_of_a_multiframe_image_and_compressed_images_are_printed(front_door, tmp_path):
    door = front_door()
    frames = np.stack([np.full((10, 12), k * 40, np.uint8) for k in range(5)])
    multi = write_image(tmp_path / "multi.dcm", frames, StudyInstanceUID="1.2.3.9", SeriesNumber=1, InstanceNumber=1)
    ds = pydicom.dcmread(multi)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sc.MultiFrameGrayscaleByteSecondaryCaptureImageStorage
    ds.save_as(multi, enforce_file_format=True)
    compressed = [bundled(name) for name in ("MR_small_RLE.dcm", "JPEG2000.dcm", "SC_rgb_jpeg_dcmtk.dcm",
                                             "MR_small_jpeg_ls_lossless.dcm", "JPGExtended.dcm")]
    statuses, _ = send(door.port, [multi])
    assert statuses == [0]
    statuses, _ = send(door.port, compressed)
    assert statuses == [0] * len(compressed)

    def images_queued() -> set[str]:   # the second batch is a job per study, queued one by one
        return {f["image"] for job in door.jobs()[1:] for film in door.spec(job["id"])["films"]
                for f in film["frames"]}

    wait_for(lambda: len(images_queued()) == len(compressed), 30, "every compressed image to be queued")
    multi_job = door.spec(door.jobs()[0]["id"])
    assert [f["frame"] for film in multi_job["films"] for f in film["frames"]] == [0, 1, 2, 3, 4]


def test_a_data_set_without_pixels_is_refused_and_the_rest_printed(front_door, tmp_path):
    door = front_door()
    good = write_image(tmp_path / "good.dcm", np.zeros((8, 8), np.uint8))
    bad = pydicom.dcmread(good)
    del bad.PixelData
    bad.SOPInstanceUID = "1.2.3.4.5"
    bad.save_as(tmp_path / "bad.dcm", enforce_file_format=True)
    statuses, _ = send(door.port, [str(tmp_path / "bad.dcm"), good])
    assert statuses == [0xA900, 0]
    wait_for(door.jobs, 30, "the good image's job")
    assert door.jobs()[0]["films_total"] == 1


def test_a_quiet_time_ends_a_batch_while_the_association_stays_open(front_door, tmp_path):
    door = front_door(store="quiet_s = 0.5")
    statuses, assoc = send(door.port, numbered_images(tmp_path, 2), release=False)
    assert statuses == [0, 0]
    wait_for(door.jobs, 30, "the quiet time to queue the batch")
    assert assoc.is_established
    assoc.release()
    wait_for(lambda: door.open_associations() == 0, 30, "the released association to end")
    assert len(door.jobs()) == 1


@pytest.mark.postgres
def test_a_store_route_on_a_node_with_the_database_spool_keeps_its_images_in_the_database(front_door, tmp_path,
                                                                                         postgres_url):
    """spool = "database": the route's images go into the database as an upload's do, so another
    node (here: a fresh cache) reads them from there."""
    from sqlalchemy import select

    from hcserver.dbspool import DatabaseSpool
    from hcserver.models import SpoolImage

    door = front_door(server=f'database = "{postgres_url}"\nspool = "database"')
    assert isinstance(door.spool, DatabaseSpool) and door.spool.directory.name == "spool-cache"
    statuses, _ = send(door.port, numbered_images(tmp_path, 4))
    assert statuses == [0] * 4
    wait_for(door.jobs, 30, "the batch to be queued at release")
    [job] = door.jobs()
    digests = {frame["image"].removeprefix("sha256:") for film in door.spec(job["id"])["films"]
               for frame in film["frames"]}
    with door.queue.store.engine.connect() as connection:
        stored = set(connection.scalars(select(SpoolImage.digest)))
    assert len(digests) == 4 and digests <= stored
    another_node = DatabaseSpool(tmp_path / "other-cache", door.queue.store.engine)
    order = [(int(ds.SeriesNumber), int(ds.InstanceNumber)) for ds in
             (pydicom.dcmread(another_node.path(frame["image"].removeprefix("sha256:")), stop_before_pixels=True)
              for film in door.spec(job["id"])["films"] for frame in film["frames"])]
    assert order == sorted(order) and len(order) == 4


def test_a_journal_cut_short_by_a_crash_gives_back_every_whole_image_before_the_cut(tmp_path):
    """What a crash can leave: the last record half written (it was never acknowledged)."""
    journal = Journal(tmp_path / "journals", {"owner": "dicom:CT1@AUTOFILM", "route": "AUTOFILM"})
    images = [bytes([n]) * (1000 + n) for n in range(3)]
    offsets = [journal.add({"study": "1.2", "series": 1, "instance": n}, data) for n, data in enumerate(images)]
    assert [journal.read(offset, len(data)) for offset, data in zip(offsets, images)] == images
    journal.close(remove=False)
    origin, entries = read_journal(journal.path)
    assert origin == {"owner": "dicom:CT1@AUTOFILM", "route": "AUTOFILM"}
    assert entries == [({"study": "1.2", "series": 1, "instance": n}, images[n]) for n in range(3)]
    whole = journal.path.read_bytes()
    for cut in (1, 2, 500, 1002 + 1 + 20):     # the newline, bytes of the image, its facts line
        journal.path.write_bytes(whole[:-cut])
        _origin, entries = read_journal(journal.path)
        assert [data for _facts, data in entries] == images[:2], cut


def test_a_store_route_may_send_its_jobs_to_a_pool(front_door, tmp_path):
    from tests.support.front_door import PRINT_AND_STORE

    text = PRINT_AND_STORE.replace("[dicom_in]", '[printers.other]\ndriver = "preview"\ndpi = 40\n\n'
                                                 '[pools.both]\nprinters = ["film", "other"]\n\n[dicom_in]', 1)
    text = text.replace('service = "store"\nprinter = "film"', 'service = "store"\nprinter = "both"', 1)
    door = front_door(text=text.replace("@LISTENER@", "").replace("@STORE@", "").replace("@SERVER@", ""))
    statuses, _ = send(door.port, numbered_images(tmp_path, 3))
    assert statuses == [0, 0, 0]
    wait_for(door.jobs, 30, "the batch to be queued at release")
    [job] = door.jobs()
    assert job["printer"] == "both" and job["films_total"] == 1
    door.queue.printers.change("film", PrinterTransition.REJECT, None)   # one member still accepts: taken
    (tmp_path / "again").mkdir()
    statuses, _ = send(door.port, numbered_images(tmp_path / "again", 2, study="1.2.3.9"))
    assert statuses == [0, 0]
    wait_for(lambda: len(door.jobs()) == 2, 30, "the second batch to be queued")
