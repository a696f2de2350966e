"""Crash safety: SIGKILL the daemon at random moments while multi-film jobs print over DICOM.

Every film carries its own image, so the printer simulator's records tell which film arrived
how often. The guarantee (README, "Crash safety"): at the end every job has completed, none is
lost, and a film is printed twice only when the daemon was killed while that film's N-ACTION
was in flight — so there are never more repeated films than kills.
"""
from __future__ import annotations

import random
import time
from collections import Counter

import numpy as np
from pydicom.uid import SecondaryCaptureImageStorage

from hcserver.simulator import Fault, PrinterSimulator
from tests.daemon import DaemonProcess
from tests.dicom_files import new_dataset
from tests.test_dicom_printing import dicom_config

KILLS = 50
JOBS, FILMS_PER_JOB = 8, 6


def unique_image(path, number: int) -> None:
    """A small 8-bit image whose pixels encode ``number``: its film is recognisable at the printer."""
    ds = new_dataset(SecondaryCaptureImageStorage)
    ds.Modality, ds.PatientName = "OT", "Crash^Test"
    ds.Rows = ds.Columns = 16
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    pixels = np.zeros((16, 16), np.uint8)
    pixels.flat[:12] = [int(bit) * 255 for bit in f"{number:012b}"]  # the number, in bits
    pixels[8:, :] = 128
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)


def submit_batch(hc, tmp_path, first_number: int, jobs: int, printer: str = "sim") -> list[int]:
    """``jobs`` jobs of FILMS_PER_JOB films, each film with its own numbered image."""
    ids = []
    for job in range(jobs):
        paths = []
        for film in range(FILMS_PER_JOB):
            number = first_number + job * FILMS_PER_JOB + film
            path = tmp_path / f"image-{number}.dcm"
            unique_image(path, number)
            paths.append(str(path))
        ids.append(hc.submit({"printer": printer, "label": f"crash {first_number + job}", "films": [
            {"layout": "STANDARD\\1,1", "film_size": "8INX10IN", "frames": [p]} for p in paths]}))
    return ids


def test_sigkill_at_random_moments_loses_nothing_and_reprints_only_in_flight_films(tmp_path):
    rng = random.Random(20261122)
    # Every print action takes a little while, so kills often land while one is in flight.
    stall = Fault(operation="N-ACTION", behaviour="stall", stall_s=0.05, times=None)
    with PrinterSimulator(port=0, out_dir=tmp_path / "films", faults=[stall]) as sim:
        config = dicom_config({"sim": sim.port}).replace("retry_interval_s = 0.2", "retry_interval_s = 0.05")
        config = config.replace("retry_limit = 4", "retry_limit = 1000")
        daemon = DaemonProcess(config).start()
        try:
            with daemon.client() as hc:
                jobs = submit_batch(hc, tmp_path, 1, JOBS)
            for _ in range(KILLS):
                time.sleep(rng.uniform(0.0, 0.3))
                daemon.kill()
                daemon.start()
                with daemon.client() as hc:
                    if all(hc.show(job)["state"] == "completed" for job in jobs):
                        # keep the printer busy until the last kill
                        jobs += submit_batch(hc, tmp_path, 1 + len(jobs) * FILMS_PER_JOB, JOBS)
            with daemon.client() as hc:
                results = [hc.wait(job, timeout=300) for job in jobs]
        finally:
            daemon.cleanup()
        films = sim.films
    assert [r["state"] for r in results] == ["completed"] * len(jobs), results
    assert all(r["films_printed"] == FILMS_PER_JOB for r in results)
    arrived = Counter(film["image_boxes"][0]["md5"] for film in films)
    assert len(arrived) == len(jobs) * FILMS_PER_JOB          # every film arrived
    repeats = sum(count - 1 for count in arrived.values())
    assert repeats <= KILLS, f"{repeats} films printed twice with only {KILLS} kills"
    print(f"{KILLS} kills, {len(jobs)} jobs, {len(films)} films received, {repeats} repeated")
