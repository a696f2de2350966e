"""Optional (``--profile``): where the daemon's printer worker spends a film, sampled with py-spy.

One extra end-to-end run (the section a films, more of them) to a fresh
dcmprscp with ``py-spy record --idle --threads`` attached to the daemon.
The samples of the printer worker thread are the wall-clock timeline of a
film; each sample is counted once under the first of these buckets its
stack contains (so the buckets add up to 100 % of the samples taken while
the worker was not idle), and each share times the measured time per film
gives milliseconds per film (approximate: the sampling itself slows the
daemon a little).
"""
from __future__ import annotations

import collections
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from hcbench.common import DcmtkSCPs, daemon_config, dicom_printer_section, film_job, start_daemon, wait_sp

#: (bucket, substring of a frame), first match wins, checked from the innermost frame outwards
#: for the leaf buckets, then by the outer structure.
BUCKETS = [
    ("DIMSE: per-request deadline timer thread start (_Wire.deadline)", "Wire.deadline"),
    ("DIMSE: waiting for the printer's responses", "DIMSEServiceProvider.get_msg"),
    ("DIMSE: encoding and sending requests (pynetdicom/pydicom)", "Association.send_n_"),
    ("DIMSE: other driver work (film_session.py)", "DicomFilmSession.print_film"),
    ("format: reading the film specs from the database", "Attempts.film_specs"),
    ("format: handing the next film to a formatting process", "PrinterWorker._format"),
    ("format: waiting for a formatting process's film", "Future.result"),
    ("database: recording the printed film (commit)", "Attempts.film_printed"),
    ("database: cancel/priority/printer checks before each film", "PrinterWorker._interruption"),
    ("job start (N-GET, film session, claim)", "DicomDriver.session"),
    ("database: other queue calls", "hcserver/queue/"),
    ("worker idle (between jobs)", "PrinterWorker._run"),
]
IDLE = BUCKETS[-1][0]


def py_spy() -> str | None:
    candidate = Path(sys.executable).parent / "py-spy"
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


def _bucket(frames: list[str]) -> str:
    if len(frames) <= 1:
        return "no Python frame (native code, e.g. waiting for the GIL)"
    for name, needle in BUCKETS:
        if any(needle in f for f in frames):
            return name
    return "other"


def _samples(raw: Path, thread: str):
    """(frames, count) of each stack py-spy recorded (raw format) for threads named ``thread``."""
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        frames = stack.split(";")
        if thread in frames[0]:
            yield frames, int(n)


def _count_functions(inclusive: collections.Counter, frames: list[str], count: int) -> None:
    """Add ``count`` to every function on the stack once (line numbers dropped)."""
    for key in {re.sub(r":\d+\)$", ")", f) for f in frames[1:]}:
        inclusive[key] += count


def analyse(raw: Path, thread: str) -> dict:
    """Buckets of the worker thread's samples, as shares of its busy (non-idle) samples."""
    buckets: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    total = 0
    for frames, count in _samples(raw, thread):
        bucket = _bucket(frames)
        buckets[bucket] += count
        if bucket == IDLE:
            continue
        total += count
        _count_functions(inclusive, frames, count)
    busy = [(name, n) for name, n in buckets.most_common() if name != IDLE]
    return {"busy_samples": total, "idle_samples": buckets.get(IDLE, 0),
            "buckets": [(name, round(100 * n / total, 1)) for name, n in busy] if total else [],
            "top_inclusive": [(name, round(100 * n / total, 1)) for name, n in inclusive.most_common(40)]
            if total else []}


def analyse_generic(raw: Path, thread: str, top: int = 40) -> dict:
    """Inclusive share of each function in the samples of threads whose name contains ``thread``."""
    inclusive: collections.Counter = collections.Counter()
    total = 0
    for frames, count in _samples(raw, thread):
        total += count
        _count_functions(inclusive, frames, count)
    return {"samples": total, "top_inclusive": [(k, round(100 * n / total, 1)) for k, n in
                                                inclusive.most_common(top)] if total else []}


def run(work: Path, images: list[Path], films: int, log=print) -> dict:
    spy = py_spy()
    if spy is None:
        log("  py-spy not found (pip install py-spy): no profile")
        return {"error": "py-spy not installed"}
    scps = DcmtkSCPs(work)
    scp = scps.start()
    daemon = start_daemon(daemon_config(dicom_printer_section("dcmtk", scp.port, dpi=100)), work / "hcs-p")
    raw = work / "profile.txt"
    try:
        proc = subprocess.Popen([spy, "record", "-p", str(daemon.proc.pid), "-r", "250", "-f", "raw",
                                 "-o", str(raw), "--threads", "--idle", "--nonblocking"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)
        with daemon.client(timeout=600) as hc:
            t0 = time.perf_counter()
            job = hc.submit(film_job("dcmtk", [str(p) for p in images], films))
            wait_sp(scp, films, timeout=600)
            wall = time.perf_counter() - t0
            hc.wait(job, timeout=120)
        proc.send_signal(2)
        _, err = proc.communicate(timeout=60)
    finally:
        daemon.cleanup()
        scps.stop_all()
    if not raw.exists():
        log(f"  py-spy wrote nothing: {err.decode(errors='replace')[-300:]}")
        return {"error": "py-spy failed"}
    result = analyse(raw, "printer-dcmtk")
    result.update({"films": films, "wall_s": round(wall, 3), "per_film_ms_with_profiler": round(wall / films * 1e3, 1)})
    per_film = wall / films * 1e3
    result["buckets_ms_per_film"] = [(name, round(share / 100 * per_film, 1)) for name, share in result["buckets"]]
    log(f"  {films} films in {wall:.2f} s under py-spy ({per_film:.0f} ms/film); the printer worker thread's "
        f"wall-clock samples while busy, by what it was doing:")
    for (name, share), (_, ms) in zip(result["buckets"], result["buckets_ms_per_film"]):
        log(f"    {share:5.1f} %  {ms:5.1f} ms/film  {name}")
    return result
