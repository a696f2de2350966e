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

import pytest

from hcserver.simulator import Fault, PrinterSimulator
from tests.support.configs import dicom_config
from tests.support.daemon import DaemonProcess
from tests.support.jobs import FILMS_PER_JOB, submit_batch

pytestmark = [pytest.mark.dicom, pytest.mark.slow]

KILLS = 50
JOBS = 8


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
