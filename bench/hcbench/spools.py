"""Section h: the file spool against the database spool (``spool = "database"``), on one
throw-away PostgreSQL cluster (with fsync, as the file spool fsyncs its images).

For each spool and image size (1 MB and 50 MB, 16-bit noise, which compresses as little as
pixel data does): a fresh daemon on a fresh database, its one DICOM printer a minimal SCP.

- *Submit rate*: jobs of one distinct image each, submitted held through the client library
  (the upload of the image is included): jobs/s and MB/s.
- *Time to first film*: the daemon is restarted (with the database spool its cache of images is
  emptied: the image comes from the database, as on a node that did not receive the upload),
  then one job is released; from the release to the first N-ACTION at the SCP.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from hcbench.common import daemon_config, dicom_printer_section, start_daemon, summary
from hcbench.minscp import MinimalPrintSCP
from tests.support.images import write_image
from tests.support.postgres import new_database, throwaway_cluster

SIZES_MB = (1, 50)


def _images(directory: Path, size_mb: int, count: int) -> list[Path]:
    side = int((size_mb * 1e6 / 2) ** 0.5)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(count):
        pixels = np.random.default_rng(seed).integers(0, 4096, (side, side), dtype=np.uint16)
        paths.append(Path(write_image(directory / f"{size_mb}mb-{seed}.dcm", pixels, BitsStored=12)))
    return paths


def _job(path: Path) -> dict:
    return {"printer": "scp", "films": [{"film_size": "8INX10IN", "layout": "STANDARD\\1,1",
                                         "frames": [str(path)], "magnification": "NONE"}]}


def _one(work: Path, server: str, spool: str, images: list[Path], log) -> dict:
    with MinimalPrintSCP(ae_title="SPOOLSCP") as scp:
        config = daemon_config(dicom_printer_section("scp", scp.port, dpi=50, ae_title="SPOOLSCP"),
                               database=new_database(server), spool=spool, max_image_pixels=64 << 20)
        daemon = start_daemon(config, work)
        try:
            with daemon.client(timeout=600) as hc:
                started = time.perf_counter()
                jobs = [hc.submit(_job(path), hold=True) for path in images]
                submit_s = time.perf_counter() - started
            daemon.stop()
            daemon.start()
            first = []
            with daemon.client(timeout=600) as hc:
                for job in jobs[:3]:
                    before = scp.films()
                    released = time.time()
                    hc.release(job)
                    deadline = time.monotonic() + 300
                    while scp.films() <= before:
                        if time.monotonic() > deadline:
                            raise TimeoutError("no N-ACTION within 300 s")
                        time.sleep(0.001)
                    first.append(scp.stats()["last_action"] - released)
                    if hc.wait(job, timeout=300)["state"] != "completed":
                        raise RuntimeError(f"spool benchmark job {job} did not complete")
        finally:
            daemon.cleanup()
    total_mb = sum(path.stat().st_size for path in images) / 1e6
    return {"jobs": len(images), "submit_s": round(submit_s, 3), "jobs_per_s": round(len(images) / submit_s, 2),
            "mb_per_s": round(total_mb / submit_s, 1), "first_film_s": summary(first, 3)}


def run(work: Path, quick: bool, log=print) -> dict:
    counts = {1: 5 if quick else 20, 50: 2 if quick else 5}
    out: dict = {"sizes_mb": list(SIZES_MB), "runs": {}}
    with throwaway_cluster(fsync=True) as server:
        for size in SIZES_MB:
            images = _images(work / "spool-images", size, counts[size])
            for spool in ("file", "database"):
                key = f"{spool}_{size}mb"
                r = _one(work / f"hcs-g-{key}", server, "database" if spool == "database" else "spool", images, log)
                out["runs"][key] = r
                log(f"  {spool:8} spool, {size:2} MB images: {r['jobs_per_s']} jobs/s ({r['mb_per_s']} MB/s, "
                    f"{r['jobs']} jobs); release -> first film {r['first_film_s']['median'] * 1e3:.0f} ms "
                    f"[{r['first_film_s']['min'] * 1e3:.0f}..{r['first_film_s']['max'] * 1e3:.0f}]")
            for path in images:
                path.unlink()
    return out
