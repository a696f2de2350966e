"""DCMTK's own Print SCU as a modality: ``dcmpsprt`` lays images out into a Stored Print object
and its Hardcopy Grayscale images (one film), ``dcmprscu`` prints each such film to a Print SCP
(one association per film: N-GET Printer, N-CREATE film session and film box, N-SET of each
image box, N-ACTION on the film box, N-DELETE). And DCMTK's ``storescu``.

``dcmprscu`` exits 0 even when printing failed: :func:`dcmtk_print` fails on any ``E:`` or
``F:`` line in the logs instead. Everything talks to 127.0.0.1 only; ``TCP_NODELAY=1`` switches
Nagle off in DCMTK (it leaves it on otherwise, and small exchanges then wait for delayed ACKs).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def require(*tools: str) -> None:
    """Skip (fail under HCSERVER_REQUIRE_DCMTK) when a DCMTK tool is missing."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        if os.environ.get("HCSERVER_REQUIRE_DCMTK"):
            pytest.fail(f"{', '.join(missing)} (DCMTK) not on PATH, and HCSERVER_REQUIRE_DCMTK is set")
        pytest.skip(f"{', '.join(missing)} (DCMTK) not on PATH")


def _config(work: Path, port: int, called: str, calling: str, film_size: str, bits12: bool) -> Path:
    for sub in ("spool", "database", "lut"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    cfg = work / "dcmpstat.cfg"
    cfg.write_text("\n".join([
        "[[GENERAL]]", "[PRINT]", f"Spooler = {shutil.which('dcmprscu')}", f"Directory = {work / 'spool'}",
        "DetailedLog = false", "Sleep = 1", "MaxPrintResolution = 8192\\8192",
        "DeletePrintJobs = true", "AlwaysDeleteTerminateJobs = true",
        "[DATABASE]", f"Directory = {work / 'database'}", "[LUT]", f"Directory = {work / 'lut'}",
        "[NETWORK]", f"aetitle = {calling}",
        "[[COMMUNICATION]]", f"[{called}]", "Type = PRINTER", f"Aetitle = {called}",
        "Description = hcserver print route", "Hostname = 127.0.0.1", f"Port = {port}", "MaxPDU = 131072",
        "DisplayFormat = 1,1\\1,2\\2,2\\2,3\\3,3\\3,4\\3,5\\4,4\\4,5", f"FilmSizeID = {film_size}",
        f"Supports12Bit = {'true' if bits12 else 'false'}", "SupportsPresentationLUT = false",
        "PresentationLUTMatchRequired = false", ""]))
    return cfg


def dcmtk_print(work: Path, port: int, films: list[list[str]], layout: tuple[int, int] = (2, 2),
                called: str = "FILMSPOOL", calling: str = "DCMTKSCU", film_size: str = "14INX17IN",
                bits12: bool = False, timeout: float = 120) -> list[Path]:
    """Print each film (a list of image files, ``layout`` columns x rows) with dcmpsprt and
    dcmprscu; the Stored Print objects sent, in order."""
    require("dcmpsprt", "dcmprscu")
    work = Path(work)
    cfg = _config(work, port, called, calling, film_size, bits12)
    env = {**os.environ, "TCP_NODELAY": "1"}
    stored: list[Path] = []
    with open(work / "dcmtk.log", "a") as log:
        for images in films:
            before = set((work / "database").glob("SP_*.dcm"))
            subprocess.run(["dcmpsprt", "-ll", "warn", "-c", str(cfg), "-p", called, "--layout", str(layout[0]),
                            str(layout[1]), "--filmsize", film_size, *images], check=True, stdout=log,
                           stderr=subprocess.STDOUT, env=env, timeout=timeout)
            new = sorted(set((work / "database").glob("SP_*.dcm")) - before)
            assert len(new) == 1, f"dcmpsprt made {len(new)} films (see {work / 'dcmtk.log'})"
            stored.append(new[0])
        subprocess.run(["dcmprscu", "-ll", "warn", "-c", str(cfg), "-p", called, *map(str, stored)], check=True,
                       stdout=log, stderr=subprocess.STDOUT, env=env, timeout=timeout)
    errors = [line for line in (work / "dcmtk.log").read_text(errors="replace").splitlines()
              if line.startswith(("E: ", "F: "))]
    assert not errors, "\n".join(errors)
    return stored


def storescu(port: int, files: list[str], called: str = "AUTOFILM", calling: str = "STORESCU",
             propose: tuple[str, ...] = (), timeout: float = 120) -> subprocess.CompletedProcess:
    """DCMTK's storescu sending ``files`` in one association (``propose``: its presentation
    context options, e.g. ``("-R",)`` to send each file in its own transfer syntax)."""
    require("storescu")
    return subprocess.run(["storescu", "-aet", calling, "-aec", called, *propose, "127.0.0.1", str(port), *files],
                          capture_output=True, text=True, env={**os.environ, "TCP_NODELAY": "1"}, timeout=timeout)
