"""Section h: big films at wire speed.

A 14INX17IN film at 320 dpi, 12-bit, one image box (``STANDARD\\1,1``): 4480 x 5440 printer
pixels of 2 bytes, 48.7 MB in one image box N-SET. The SCP is a minimal Print SCP
(:mod:`hcbench.minscp`) in a separate process, which reads every byte and decodes none of the
pixels; it counts the N-SET bytes it received, so the figure says what went over the wire.

- *hcserver*: a fresh daemon with one DICOM printer (``dpi = 320``, ``bit_depth = 12``) gets
  one job of N films, each a synthetic 12-bit CT image of 448 x 544 magnified ten times
  (``REPLICATE``) to fill the box; timed from the submit until the SCP has every film's
  N-ACTION (steady state: the median interval of the job's ``film-printed`` events). Its
  memory: the daemon's peak RSS (VmHWM; a fresh daemon per repetition) less its RSS at rest
  before the job, in films' worth (48.7 MB), and the peak PSS of the daemon with its
  formatting processes, sampled every 20 ms.
- *floor*: a bare pynetdicom loop in this process, on one association (TCP_NODELAY): film
  session, then per film film box N-CREATE, the image box N-SET of the same number of bytes
  (12 bits in 16, prepared once), N-ACTION, N-DELETE.

Time per film = wall time / films for both; the ratio is taken per repetition (the two run
back to back) and its median reported.
"""
from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid
from pynetdicom import AE

from hcbench.common import (
    daemon_config,
    dicom_printer_section,
    iso_seconds,
    job_events,
    make_ct_image,
    proc_status,
    start_daemon,
    summary,
    tree_pss_kb,
)
from hcbench.floor import FILM_BOX, FILM_SESSION, IMAGE_BOX, META, _ok
from hcbench.many_printers import SCPHost

COLUMNS, ROWS = 4480, 5440            # 14 x 17 in at 320 dpi
FILM_BYTES = COLUMNS * ROWS * 2


def _image() -> Dataset:
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 4096, size=(ROWS, COLUMNS), dtype=np.uint16)
    img = Dataset()
    img.SamplesPerPixel = 1
    img.PhotometricInterpretation = "MONOCHROME2"
    img.Rows, img.Columns = ROWS, COLUMNS
    img.PixelAspectRatio = [1, 1]
    img.BitsAllocated, img.BitsStored, img.HighBit = 16, 12, 11
    img.PixelRepresentation = 0
    img.add_new(0x7FE00010, "OW", pixels.tobytes())
    return img


def floor(port: int, films: int, image: Dataset) -> dict:
    ae = AE(ae_title="FLOOR")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 120
    ae.add_requested_context(META, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    t0 = time.perf_counter()
    assoc = ae.associate("127.0.0.1", port, ae_title="MIN00", max_pdu=131072)
    if not assoc.is_established:
        raise RuntimeError("the floor's association was not accepted")
    assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    per_film = []
    try:
        fs_uid = generate_uid()
        fs = Dataset()
        fs.NumberOfCopies = 1
        st, _ = assoc.send_n_create(fs, FILM_SESSION, fs_uid, meta_uid=META)
        _ok(st, "N-CREATE film session")
        for _ in range(films):
            t_film = time.perf_counter()
            fb_uid = generate_uid()
            fb = Dataset()
            fb.ImageDisplayFormat = "STANDARD\\1,1"
            fb.FilmSizeID = "14INX17IN"
            fb.MagnificationType = "NONE"
            ref = Dataset()
            ref.ReferencedSOPClassUID = FILM_SESSION
            ref.ReferencedSOPInstanceUID = fs_uid
            fb.ReferencedFilmSessionSequence = [ref]
            st, rsp = assoc.send_n_create(fb, FILM_BOX, fb_uid, meta_uid=META)
            _ok(st, "N-CREATE film box")
            ds = Dataset()
            ds.ImageBoxPosition = 1
            ds.BasicGrayscaleImageSequence = [image]
            item = rsp.ReferencedImageBoxSequence[0]
            st, _ = assoc.send_n_set(ds, IMAGE_BOX, item.ReferencedSOPInstanceUID, meta_uid=META)
            _ok(st, "N-SET image box")
            st, _ = assoc.send_n_action(None, 1, FILM_BOX, fb_uid, meta_uid=META)
            _ok(st, "N-ACTION film box")
            t_last = time.perf_counter()
            st = assoc.send_n_delete(FILM_BOX, fb_uid, meta_uid=META)
            _ok(st, "N-DELETE film box")
            per_film.append(time.perf_counter() - t_film)
    finally:
        assoc.release()
    wall = t_last - t0
    return {"films": films, "wall_s": round(wall, 3), "per_film_s": round(wall / films, 4),
            "films_s": [round(v, 4) for v in per_film]}


def hcserver(host: SCPHost, work: Path, image: Path, films: int, rep: int) -> dict:
    port = host.ports[0]
    section = dicom_printer_section("big", port, dpi=320, ae_title="MIN00",
                                    extra="").replace("bit_depth = 8", "bit_depth = 12")
    daemon = start_daemon(daemon_config(section), work / f"hcs-h{rep}")
    pid = daemon.proc.pid
    try:
        with daemon.client(timeout=600) as hc:
            ref = hc.upload(image)
            spec = {"printer": "big", "films": [{"film_size": "14INX17IN", "layout": "STANDARD\\1,1",
                                                 "magnification": "REPLICATE", "frames": [ref]}] * films}
            time.sleep(0.5)
            rest = proc_status(pid).get("VmRSS", 0)
            pss_rest = tree_pss_kb(pid)
            peak_pss = pss_rest
            st0 = next(s for s in host.stats()["scps"] if s["port"] == port)
            t0 = time.time()
            job = hc.submit(spec)
            deadline = time.monotonic() + 900
            while True:
                st = next(s for s in host.stats()["scps"] if s["port"] == port)
                peak_pss = max(peak_pss, tree_pss_kb(pid))
                if st["films"] - st0["films"] >= films:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{st['films'] - st0['films']} of {films} big films after 900 s")
                time.sleep(0.02)
            hwm = proc_status(pid).get("VmHWM", 0)
            state = hc.wait(job, timeout=120)["state"]
            printed = [iso_seconds(e["at"]) for e in job_events(hc, job) if e["kind"] == "film-printed"]
    finally:
        daemon.cleanup()
    wall = st["last_action"] - t0
    gaps = sorted(b - a for a, b in zip(printed, printed[1:]))
    steady = gaps[len(gaps) // 2] if gaps else None
    sent = st["pixel_bytes"] - st0["pixel_bytes"]
    return {"films": films, "wall_s": round(wall, 3), "per_film_s": round(wall / films, 4),
            "steady_per_film_s": steady and round(steady, 4), "state": state,
            "n_set_bytes_per_film": sent // films,
            "daemon_rss_at_rest_kb": rest, "daemon_vmhwm_kb": hwm,
            "daemon_peak_over_rest_films": round((hwm - rest) * 1024 / FILM_BYTES, 2),
            "tree_pss_at_rest_kb": pss_rest, "tree_peak_pss_kb": peak_pss,
            "tree_peak_over_rest_films": round((peak_pss - pss_rest) * 1024 / FILM_BYTES, 2)}


def run(work: Path, films: int, reps: int, log=print) -> dict:
    host = SCPHost(1)
    image = _image()
    source = make_ct_image(work / "big-source.dcm", 11, size=COLUMNS // 10, rows=ROWS // 10)
    runs: dict[str, list[dict]] = {"floor": [], "hcserver": []}
    try:
        for rep in range(reps):
            f = floor(host.ports[0], films, image)
            h = hcserver(host, work, source, films, rep)
            runs["floor"].append(f)
            runs["hcserver"].append(h)
            log(f"  rep {rep + 1}: floor {f['per_film_s'] * 1e3:.0f} ms/film; hcserver "
                f"{h['per_film_s'] * 1e3:.0f} ms/film (steady {(h['steady_per_film_s'] or 0) * 1e3:.0f}), "
                f"{h['n_set_bytes_per_film'] / 1e6:.1f} MB N-SET per film, daemon peak "
                f"{h['daemon_vmhwm_kb'] / 1024:.0f} MiB = rest + {h['daemon_peak_over_rest_films']:.2f} films, "
                f"with formatting processes + {h['tree_peak_over_rest_films']:.2f} films; job {h['state']}")
    finally:
        host.close()
    ratios = [h["per_film_s"] / f["per_film_s"] for h, f in zip(runs["hcserver"], runs["floor"])]
    return {"films": films, "film_bytes": FILM_BYTES, "runs": runs,
            "floor_per_film_s": summary([r["per_film_s"] for r in runs["floor"]]),
            "hcserver_per_film_s": summary([r["per_film_s"] for r in runs["hcserver"]]),
            "ratio": summary(ratios, 3),
            "daemon_peak_over_rest_films": summary([r["daemon_peak_over_rest_films"] for r in runs["hcserver"]], 2),
            "tree_peak_over_rest_films": summary([r["tree_peak_over_rest_films"] for r in runs["hcserver"]], 2)}
