"""DCMTK's own Print SCU pipeline, the reference for the end-to-end figure.

What DCMTK offers an application that wants to print: ``dcmpsprt`` renders one
film (its images into Hardcopy Grayscale images plus one Stored Print object)
into a scratch database, and ``dcmprscu`` in printer mode sends each Stored
Print it is given as one print job on its own association (N-GET printer,
film session, film box, image box N-SETs, N-ACTION, N-DELETE, release).

The fastest way to drive them (no spooler, no polling): ``dcmpsprt`` once per
film, then one ``dcmprscu`` for all films, with ``TCP_NODELAY=1`` in its
environment (DCMTK as built by Debian leaves Nagle on unless told; with Nagle
on, every multi-PDU exchange waits for a delayed ACK, 40-90 ms each). The SCU
configuration sends 8-bit images, no Presentation LUT and no
``MinPrintResolution``, so each image box carries the image at its own size
(512x512 stays 512x512; dcmprscp stores the pixels it receives unchanged).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from hcbench.common import sp_count

BATCH = 50          # films per dcmprscu run: DCMTK's index database keeps at most 200 studies


def write_config(w: Path, port: int, scp_aet: str = "PRINTSCP", scu_aet: str = "DCMTKSCU",
                 max_pdu: int = 131072, film_size: str = "14INX17IN") -> Path:
    """The SCU's dcmpstat.cfg (printer entry ``scp_aet``) in ``w``."""
    for sub in ("spool", "database", "lut"):
        (w / sub).mkdir(parents=True, exist_ok=True)
    spooler, server = shutil.which("dcmprscu") or "dcmprscu", shutil.which("dcmprscp") or "dcmprscp"
    text = f"""[[GENERAL]]
[PRINT]
Spooler = {spooler}
Server = {server}
Directory = {w / 'spool'}
DetailedLog = false
Sleep = 1
MaxPrintResolution = 8192\\8192
DeletePrintJobs = true
AlwaysDeleteTerminateJobs = true
[DATABASE]
Directory = {w / 'database'}
[LUT]
Directory = {w / 'lut'}
[NETWORK]
aetitle = {scu_aet}
[[COMMUNICATION]]
[{scp_aet}]
Type = PRINTER
Aetitle = {scp_aet}
Description = dcmprscp on loopback
Hostname = 127.0.0.1
Port = {port}
MaxPDU = {max_pdu}
DisplayFormat = 1,1\\1,2\\2,2\\2,3\\3,3\\3,4\\3,5\\4,4\\4,5
FilmSizeID = {film_size}
Supports12Bit = false
SupportsPresentationLUT = false
PresentationLUTMatchRequired = false
"""
    cfg = w / "dcmpstat.cfg"
    cfg.write_text(text)
    return cfg


def _sp_files(database: Path) -> set[str]:
    return {p.name for p in database.iterdir() if p.name.startswith("SP_")}


def render_film(cfg: Path, w: Path, images: list[Path], columns: int, rows: int, film_size: str,
                scp_aet: str = "PRINTSCP") -> Path:
    """One dcmpsprt run: one film in the scratch database; returns the new Stored Print file."""
    database = w / "database"
    before = _sp_files(database)
    with open(w / "dcmpsprt.log", "ab") as log:
        subprocess.run(["dcmpsprt", "-ll", "warn", "-c", str(cfg), "-p", scp_aet, "--layout", str(columns),
                        str(rows), "--filmsize", film_size, *map(str, images)],
                       stdout=log, stderr=subprocess.STDOUT, check=False, timeout=120)
    new = sorted(_sp_files(database) - before)
    if not new:
        raise RuntimeError(f"dcmpsprt made no film (see {w / 'dcmpsprt.log'})")
    return database / new[0]


def errors_in_logs(w: Path) -> list[str]:
    lines = []
    for name in ("dcmpsprt.log", "dcmprscu.log"):
        path = w / name
        if path.exists():
            lines += [line for line in path.read_text(errors="replace").splitlines()
                      if line.startswith(("E: ", "F: "))]
    return lines


def print_films(scp, w: Path, images: list[Path], films: int, columns: int = 2, rows: int = 2,
                film_size: str = "14INX17IN", timeout: float = 300.0) -> dict:
    """Print ``films`` films of ``images`` (cycled) through dcmpsprt + dcmprscu to ``scp``.

    Timed from the first dcmpsprt until the SCP holds all the films (its film
    count is polled while dcmprscu runs). Returns wall, render and send seconds.
    """
    w.mkdir(parents=True, exist_ok=True)
    cfg = write_config(w, scp.port, scp_aet=scp.ae_title, film_size=film_size)
    per_film = columns * rows
    base = sp_count(scp)
    env = {**os.environ, "TCP_NODELAY": "1"}
    render = send = 0.0
    t0 = time.perf_counter()
    seen = None
    done = 0
    while done < films:
        batch = []
        t_render = time.perf_counter()
        for _ in range(min(BATCH, films - done)):
            k = (done + len(batch)) * per_film
            film_images = [images[(k + i) % len(images)] for i in range(per_film)]
            batch.append(render_film(cfg, w, film_images, columns, rows, film_size, scp.ae_title))
        t_send = time.perf_counter()
        render += t_send - t_render
        with open(w / "dcmprscu.log", "ab") as log:
            proc = subprocess.Popen(["dcmprscu", "-ll", "warn", "-c", str(cfg), "-p", scp.ae_title,
                                     *map(str, batch)], stdout=log, stderr=subprocess.STDOUT, env=env)
        target = base + done + len(batch)
        deadline = time.monotonic() + timeout
        while True:
            if sp_count(scp) >= target:
                seen = time.perf_counter()
                break
            if proc.poll() is not None and sp_count(scp) < target:
                time.sleep(0.05)
                if sp_count(scp) < target:
                    raise RuntimeError(f"dcmprscu ended with the SCP at {sp_count(scp) - base} of "
                                       f"{target - base} films; {errors_in_logs(w)[:3]}")
            if time.monotonic() > deadline:
                proc.kill()
                raise TimeoutError("dcmprscu did not print in time")
            time.sleep(0.002)
        proc.wait(timeout)
        send += seen - t_send
        done += len(batch)
        shutil.rmtree(w / "database")          # stay below DCMTK's 200-study index quota
        (w / "database").mkdir()
    wall = seen - t0
    errors = errors_in_logs(w)
    return {"films": films, "wall_s": wall, "render_s": render, "send_s": send,
            "films_per_min": films / wall * 60, "errors": errors[:5]}
