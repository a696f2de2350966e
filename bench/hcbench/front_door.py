"""Section g: the DICOM front door.

g1. Store route ingest: DCMTK's ``storescu`` sends the same N distinct CT images (512x512, 16
    bits allocated) in one association, first to DCMTK's ``storescp`` (writing each to a
    directory, no fsync), then to a daemon's store route (each image written to the spool and
    checked, appended to the association's journal and fdatasynced before its C-STORE success,
    filed into the spool after the association), back to back per repetition; images/s and
    MB/s from storescu's wall time, and for hcserver also until the batch's jobs are queued
    (seen by polling the queue every 50 ms). The images differ in
    their UIDs, so the spool stores each (identical files would be stored once). For scale, the
    same against a bare pynetdicom Storage SCP in this process whose handler only takes the
    data set and answers success: what pynetdicom itself costs.
    The durable ceiling: the store route must have each image on disk before its C-STORE success
    (storescp does not sync), so ``storescu`` waits, image by image, for at least one fdatasync
    more than with storescp. Measured in the same repetition: each file's bytes appended to a
    file in the same working directory and fdatasynced, one by one (no network, no parsing);
    ``ceiling = storescp wall / (storescp wall + those syncs)`` is the highest ratio to storescp a
    receiver that does storescp's work plus that one sync per image can reach.
g2. Print route latency: a pynetdicom modality prints one-film sessions (film box with 4 image
    boxes of 256x256 8-bit) to a daemon's print route whose printer is the bundled simulator,
    busy printing the films before, then jammed (Printer Status FAILURE); the time from sending
    the N-ACTION to its response, per film, as percentiles.
"""
from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import time
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid

from hcbench.common import daemon_config, dicom_printer_section, start_daemon, summary

STORE_IMAGES = 200


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def _distinct(images: list[Path], directory: Path, count: int) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for n in range(count):
        ds = pydicom.dcmread(images[n % len(images)])
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber = n + 1
        path = directory / f"ct{n:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        out.append(path)
    return out


def _storescu(port: int, called: str, files: list[Path]) -> float:
    started = time.perf_counter()
    done = subprocess.run(["storescu", "-aec", called, "127.0.0.1", str(port), *map(str, files)],
                          capture_output=True, text=True, env={**os.environ, "TCP_NODELAY": "1"}, timeout=600)
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or "E: " in done.stderr:
        raise RuntimeError(f"storescu failed: {done.stderr[-2000:]}")
    return elapsed


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listening(port: int, timeout: float = 10) -> None:
    suffix = f":{port:04X}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
        if any(line.split()[1].endswith(suffix) and line.split()[3] == "0A" for line in lines):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {port}")


def ingest(work: Path, images: list[Path], count: int, reps: int, log=print) -> dict:
    files = _distinct(images, work / "store-images", count)
    size = sum(p.stat().st_size for p in files)
    port = _free_port()
    config = daemon_config('[printers.film]\ndriver = "preview"\ndpi = 20\n') + f"""
[dicom_in]
host = "127.0.0.1"
port = {port}
[dicom_in.ae.AUTOFILM]
service = "store"
printer = "film"
layout = "STANDARD\\\\4,5"
"""
    runs: dict[str, list[float]] = {"storescp": [], "hcserver": [], "hcserver_queued": [], "pynetdicom": [],
                                    "sync_only": []}
    for rep in range(reps):
        received = work / f"storescp{rep}"
        received.mkdir()
        scp_port = _free_port()
        scp = subprocess.Popen(["storescp", "-od", str(received), "-aet", "STORESCP", str(scp_port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "TCP_NODELAY": "1"})
        try:
            _listening(scp_port)
            runs["storescp"].append(_storescu(scp_port, "STORESCP", files))
        finally:
            scp.terminate()
            scp.wait(10)
        got = len(list(received.iterdir()))
        shutil.rmtree(received, ignore_errors=True)
        runs["sync_only"].append(_synced_appends(files, work / f"synced{rep}.bin"))
        daemon = start_daemon(config, work / f"hcs-g{rep}")
        try:
            started = time.perf_counter()
            runs["hcserver"].append(_storescu(port, "AUTOFILM", files))
            with daemon.client() as hc:   # the batch is queued after the release: until the count settles
                deadline, films, settled, changed = time.monotonic() + 60, -1, 0, time.perf_counter()
                while settled < 10 and time.monotonic() < deadline:
                    now = sum(job["films_total"] for job in hc.list(all=True))
                    settled = settled + 1 if now == films and now > 0 else 0
                    if now != films:
                        changed = time.perf_counter()
                    films = now
                    time.sleep(0.05)
            runs["hcserver_queued"].append(changed - started)
        finally:
            daemon.cleanup()
        runs["pynetdicom"].append(_bare_pynetdicom(files))
        ceiling = runs["storescp"][-1] / (runs["storescp"][-1] + runs["sync_only"][-1])
        log(f"  rep {rep + 1}: storescp {count / runs['storescp'][-1]:.0f} images/s ({got} files; one fdatasync'd "
            f"append per image {runs['sync_only'][-1] / count * 1e3:.2f} ms: durable ceiling {ceiling:.2f}x); hcserver "
            f"{count / runs['hcserver'][-1]:.0f} images/s ({films} films queued; "
            f"{count / runs['hcserver_queued'][-1]:.0f} images/s until queued); bare pynetdicom "
            f"{count / runs['pynetdicom'][-1]:.0f} images/s")
    out: dict = {"images": count, "bytes": size}
    for name, walls in runs.items():
        out[name] = {"wall_s": summary(walls), "images_per_s": summary([count / w for w in walls], 1),
                     "mb_per_s": summary([size / w / 1e6 for w in walls], 1)}
    out["ratio"] = round(statistics.median(s / h for s, h in zip(runs["storescp"], runs["hcserver"])), 3)
    out["sync_per_image_s"] = summary([w / count for w in runs["sync_only"]], 6)
    out["durable_ceiling"] = round(statistics.median(
        s / (s + y) for s, y in zip(runs["storescp"], runs["sync_only"])), 3)
    return out


def _synced_appends(files: list[Path], target: Path) -> float:
    """Seconds to append each file's bytes to ``target`` with one fdatasync each (read beforehand)."""
    blobs = [p.read_bytes() for p in files]
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        started = time.perf_counter()
        for blob in blobs:
            os.write(fd, blob)
            os.fdatasync(fd)
        return time.perf_counter() - started
    finally:
        os.close(fd)
        target.unlink()


def _bare_pynetdicom(files: list[Path]) -> float:
    import socket as sockets

    from pynetdicom import AE, evt

    from hcserver.dicom_in.sop import STORE_CLASSES, STORE_TRANSFER_SYNTAXES

    def nodelay(event) -> None:
        event.assoc.dul.socket.socket.setsockopt(sockets.IPPROTO_TCP, sockets.TCP_NODELAY, 1)

    def store(event) -> int:
        event.encoded_dataset(include_meta=True)
        return 0x0000

    ae = AE(ae_title="BARE")
    ae.maximum_pdu_size = 131072
    for uid in STORE_CLASSES:
        ae.add_supported_context(uid, STORE_TRANSFER_SYNTAXES)
    server = ae.start_server(("127.0.0.1", 0), block=False,
                             evt_handlers=[(evt.EVT_CONN_OPEN, nodelay), (evt.EVT_C_STORE, store)])
    try:
        return _storescu(server.server_address[1], "BARE", files)
    finally:
        ae.shutdown()


def _associate(modality_class, port: int, tries: int = 3):
    """A modality's association; on a loaded machine a try may time out: tried again."""
    for attempt in range(tries):
        try:
            return modality_class(port).established()
        except AssertionError:
            if attempt == tries - 1:
                raise
            time.sleep(1)
    raise AssertionError("unreachable")


def print_latency(work: Path, films: int, log=print) -> dict:
    import numpy as np
    from pynetdicom import sop_class as sc

    from hcserver.simulator import PrinterSimulator
    from tests.support.modality import Modality, pattern

    port = _free_port()
    out: dict = {"films": films}
    with PrinterSimulator(port=0, ae_title="LATSIM", out_dir=None) as sim:
        config = daemon_config(dicom_printer_section("sim", sim.port, ae_title="LATSIM")) + f"""
[dicom_in]
host = "127.0.0.1"
port = {port}
duplicate_window_s = 1
[dicom_in.ae.FILMSPOOL]
service = "print"
printer = "sim"
"""
        daemon = start_daemon(config, work / "hcs-g2")
        try:
            for case in ("printing", "jammed"):
                if case == "jammed":
                    sim.set_printer_status("FAILURE", "PAPER JAM")
                times = []
                modality = _associate(Modality, port)
                try:
                    for n in range(films):
                        images = [pattern(256, 256, n * 4 + k) for k in range(4)]
                        session = modality.create_session()
                        box = modality.create_film_box(session.uid, "STANDARD\\2,2")
                        for uid, pixels in zip(box.image_boxes, images):
                            modality.set_image_box(uid, np.ascontiguousarray(pixels))
                        started = time.perf_counter()
                        status = modality.action(sc.BasicFilmBox, box.uid)[0]
                        times.append(time.perf_counter() - started)
                        if status != 0:
                            raise RuntimeError(f"N-ACTION answered 0x{status:04X}")
                        modality.delete(sc.BasicFilmSession, session.uid)
                finally:
                    modality.__exit__(None, None, None)
                out[case] = {**summary(times, 5), "p95": round(_percentile(times, 95), 5),
                             "p99": round(_percentile(times, 99), 5)}
                log(f"  {case}: N-ACTION -> response median {out[case]['median'] * 1e3:.1f} ms, "
                    f"p95 {out[case]['p95'] * 1e3:.1f} ms, max {out[case]['max'] * 1e3:.1f} ms (n={films})")
            sim.set_printer_status("NORMAL", "NORMAL")
        finally:
            daemon.cleanup()
    return out


def run(work: Path, images: list[Path], quick: bool, log=print) -> dict:
    count = 40 if quick else STORE_IMAGES
    log(f"  g1. store route ingest: {count} CT images, storescu -> storescp vs -> hcserver")
    result = {"ingest": ingest(work, images, count, 1 if quick else 3, log=log)}
    log("  g2. print route: N-ACTION latency, printer busy, then jammed")
    result["print_latency"] = print_latency(work, 10 if quick else 60, log=log)
    return result
