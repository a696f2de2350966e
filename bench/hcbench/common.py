"""Shared pieces of the benchmark: test images, statistics, process figures, daemons, SCPs.

Everything talks to 127.0.0.1 only. Temporary directories are made with
``tempfile`` (short names: a Unix socket path must stay under ~107 bytes).
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from pydicom.uid import CTImageStorage, generate_uid  # noqa: E402

from tests.support.daemon import DaemonProcess  # noqa: E402
from tests.support.images import new_dataset  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- images
def make_ct_image(path: Path, seed: int, size: int = 512, rows: int | None = None) -> Path:
    """A synthetic 12-bit CT slice (size x size, or rows x size; HU via Rescale, window 40/400).

    A body ellipse with organs, bones and noise: a realistic amount of work for a
    window/level, and deterministic (``seed``).
    """
    rng = np.random.default_rng(seed)
    height = rows or size
    y, x = np.mgrid[0:height, 0:size].astype(np.float32)
    cx, cy = size / 2, height / 2
    hu = np.full((height, size), -1000.0, dtype=np.float32)
    body = ((x - cx) / (0.42 * size)) ** 2 + ((y - cy) / (0.32 * size)) ** 2 <= 1
    hu[body] = 40.0
    for _ in range(6):
        ox, oy = rng.uniform(0.3, 0.7) * size, rng.uniform(0.35, 0.65) * size
        r = rng.uniform(0.03, 0.09) * size
        hu[(x - ox) ** 2 + (y - oy) ** 2 <= r * r] = rng.uniform(-100, 300)
    spine = (x - cx) ** 2 + (y - (cy + 0.2 * size)) ** 2 <= (0.05 * size) ** 2
    hu[spine] = 1200.0
    hu += rng.normal(0, 12, hu.shape).astype(np.float32)
    stored = np.clip(hu + 1024, 0, 4095).astype(np.uint16)

    ds = new_dataset(CTImageStorage)
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.Modality, ds.PatientName, ds.PatientID = "CT", "Bench^Phantom", "BENCH1"
    ds.StudyDate = ds.SeriesDate = "20240101"
    ds.StudyTime = ds.SeriesTime = "120000"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SeriesNumber, ds.InstanceNumber = 1, seed + 1
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = height, size
    ds.PixelSpacing = [0.7, 0.7]
    ds.SliceThickness = 2.5
    ds.ImagePositionPatient = [0, 0, float(seed)]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
    ds.WindowCenter, ds.WindowWidth = 40, 400
    ds.PixelData = stored.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def make_images(directory: Path, count: int = 4, size: int = 512) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    return [make_ct_image(directory / f"ct{i + 1}.dcm", i, size) for i in range(count)]


def windowed_8bit(path: Path) -> np.ndarray:
    """The image's pixels after its window (40/400), as 8-bit: what a box carries."""
    import pydicom

    ds = pydicom.dcmread(path)
    hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    c, w = float(ds.WindowCenter), float(ds.WindowWidth)
    return np.clip(((hu - (c - 0.5)) / (w - 1) + 0.5) * 255 + 0.5, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- statistics
def summary(values: list[float], digits: int = 4) -> dict[str, Any]:
    """Median, min, max and the values (rounded)."""
    if not values:
        return {"n": 0, "median": None, "min": None, "max": None, "values": []}
    return {"n": len(values), "median": round(statistics.median(values), digits),
            "min": round(min(values), digits), "max": round(max(values), digits),
            "values": [round(v, digits) for v in values]}


def spread(s: dict[str, Any], unit: str = "", scale: float = 1.0, fmt: str = "{:.1f}") -> str:
    """'median [min..max] unit (n=…)'."""
    if not s or s.get("median") is None:
        return "n/a"
    m, lo, hi = (fmt.format(s[k] * scale) for k in ("median", "min", "max"))
    return f"{m} [{lo}..{hi}]{(' ' + unit) if unit else ''} (n={s['n']})"


# --------------------------------------------------------------------------- processes
def proc_status(pid: int) -> dict[str, int]:
    """VmHWM / VmRSS (kB) of a process from /proc/PID/status."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS", "Threads"):
                out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def descendants(pid: int) -> list[int]:
    """The processes a process started, and theirs (the daemon's formatting processes)."""
    out, todo = [], [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*/children"):
            try:
                found = [int(p) for p in task.read_text().split()]
            except OSError:
                continue
            out += found
            todo += found
    return out


def tree_pss_kb(pid: int) -> int:
    """Proportional set size of a process and its descendants (shared pages counted once in
    total, unlike a sum of RSS: the formatting processes share the forkserver's pages)."""
    total = 0
    for member in [pid, *descendants(pid)]:
        try:
            for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of the descendants that are running (not the process itself)."""
    return sum(cpu_seconds(p) for p in descendants(pid))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine() -> dict[str, Any]:
    import importlib.metadata as md

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in ("pynetdicom", "pydicom", "numpy", "SQLAlchemy", "APScheduler", "Pillow", "scipy"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    dcmtk = ""
    if shutil.which("dcmprscp"):
        try:
            dcmtk = subprocess.run(["dcmprscp", "--version"], capture_output=True, text=True,
                                   timeout=10).stdout.splitlines()[0].strip()
        except (OSError, subprocess.SubprocessError, IndexError):
            pass
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    return {"nproc": os.cpu_count(), "cpu_model": model, "python": sys.version.split()[0],
            "packages": versions, "dcmtk": dcmtk, "loadavg_at_start": [round(v, 2) for v in load],
            "kernel": os.uname().release}


@contextmanager
def workdir(keep: bool = False) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="hcb-"))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------- dcmprscp
class DcmtkSCPs:
    """Fresh dcmprscp instances (tests/support/dcmtk.py), each in its own directory."""

    def __init__(self, root: Path):
        from tests.support.dcmtk import build_shim

        self.root = root
        self.shim = build_shim(root / "shim")
        self.started: list[Any] = []

    def start(self, **options: Any):
        from tests.support.dcmtk import start_print_scp

        scp = start_print_scp(self.root / f"scp{len(self.started)}", self.shim, **options)
        self.started.append(scp)
        return scp

    def stop_all(self) -> None:
        for scp in self.started:
            scp.stop()


def sp_count(scp) -> int:
    """Stored Print objects (= printed films) in a dcmprscp database, cheaply."""
    n = 0
    with os.scandir(scp.database) as it:
        for entry in it:
            if entry.name.startswith("SP_"):
                n += 1
    return n


def wait_sp(scp, count: int, timeout: float, poll: float = 0.002) -> float:
    """Wait until the SCP holds ``count`` films; returns time.perf_counter() when seen."""
    deadline = time.monotonic() + timeout
    while True:
        if sp_count(scp) >= count:
            return time.perf_counter()
        if time.monotonic() > deadline:
            raise TimeoutError(f"dcmprscp has {sp_count(scp)} of {count} films after {timeout:g} s")
        time.sleep(poll)


# --------------------------------------------------------------------------- daemons
def dicom_printer_section(name: str, port: int, *, dpi: int = 100, ae_title: str = "PRINTSCP",
                          magnification: str = "NONE", extra: str = "") -> str:
    return textwrap.dedent(f"""
        [printers.{name}]
        driver = "dicom"
        ae_title = "{ae_title}"
        host = "127.0.0.1"
        port = {port}
        bit_depth = 8
        dpi = {dpi}
        dimse_timeout_s = 30
        defaults = {{ film_size = "14INX17IN", magnification = "{magnification}" }}
        """) + extra


def daemon_config(printers: str, **server: Any) -> str:
    lines = ['[server]', 'state_dir = "@STATE@"', 'idle_release_s = 60', 'retry_interval_s = 0.5',
             'retry_max_interval_s = 2', 'retry_limit = 3']
    for key, value in server.items():
        lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n" + printers


def start_daemon(config_text: str, directory: Path) -> DaemonProcess:
    directory.mkdir(parents=True, exist_ok=True)
    return DaemonProcess(config_text, directory=directory).start()


def film_job(printer: str, images: list[str], films: int, layout: str = "STANDARD\\2,2",
             per_film: int = 4, magnification: str | None = "NONE") -> dict:
    """A job of ``films`` films cycling through ``images`` (paths or sha256 references)."""
    out = []
    k = 0
    for _ in range(films):
        frames = []
        for _ in range(per_film):
            frames.append(images[k % len(images)])
            k += 1
        film = {"film_size": "14INX17IN", "layout": layout, "frames": frames}
        if magnification:
            film["magnification"] = magnification
        out.append(film)
    return {"printer": printer, "films": out}


def job_events(client, job_id: int) -> list[dict]:
    return client.show(job_id)["events"]


def iso_seconds(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()
