"""Sections a (end to end) and b (transfer floor): same films, same kind of SCP, same run.

Every repetition starts a fresh dcmprscp (DCMTK's index database slows down as
it fills, and keeps at most 200 studies) and, for hcserver, a fresh daemon
whose only printer points at it. The three contestants take turns within a
repetition, so slow phases of a noisy machine hit all of them alike.

The films: 20 x ``STANDARD\\2,2`` on 14INX17IN, the four 512x512 CT images
cycled. The image boxes carry the images unchanged in size, 512x512 8-bit:

* hcserver: magnification ``NONE`` (one image pixel per printer pixel, the
  image centred and never scaled) and 100 dpi, which makes every box
  688x838 printer pixels, larger than the image, so nothing is cropped;
* DCMTK: dcmpsprt renders each image at its own size (no MinPrintResolution);
* the floor: the windowed 8-bit pixels, prepared once.

After each run the HG images dcmprscp stored are read back and their sizes
and bit depths compared.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

from hcbench import dcmtk_ref, floor
from hcbench.common import (
    DcmtkSCPs,
    daemon_config,
    dicom_printer_section,
    film_job,
    iso_seconds,
    start_daemon,
    summary,
    wait_sp,
    windowed_8bit,
)


def received_sizes(scp, expected_films: int) -> dict:
    """What dcmprscp stored: {(rows, cols, bits_stored): count}, films and boxes."""
    films = scp.films()
    sizes: dict[str, int] = {}
    for film in films:
        for image in film.images:
            key = f"{image.rows}x{image.columns}/{image.bits_stored}bit"
            sizes[key] = sizes.get(key, 0) + 1
    return {"films": len(films), "expected_films": expected_films, "image_sizes": sizes,
            "display_formats": sorted({f.display_format for f in films}),
            "film_sizes": sorted({f.film_size for f in films})}


def run_hcserver(scps: DcmtkSCPs, work: Path, images: list[Path], films: int, rep: int) -> dict:
    scp = scps.start()
    daemon = start_daemon(daemon_config(dicom_printer_section("dcmtk", scp.port, dpi=100)),
                          work / f"hcs-a{rep}")
    try:
        with daemon.client(timeout=300) as hc:
            spec = film_job("dcmtk", [str(p) for p in images], films)
            t0 = time.perf_counter()
            job = hc.submit(spec)
            t_submitted = time.perf_counter()
            t_end = wait_sp(scp, films, timeout=300)
            result = hc.wait(job, timeout=300)
            events = hc.show(job)["events"]
        if result.get("state") != "completed":
            raise RuntimeError(f"hcserver job ended {result.get('state')}: {result.get('error')}")
        printed = [iso_seconds(e["at"]) for e in events if e["kind"] == "film-printed"]
        started = [iso_seconds(e["at"]) for e in events if e["kind"] == "start"]
        gaps = [b - a for a, b in zip(printed, printed[1:])]
        wall = t_end - t0
        out = {"films": films, "wall_s": wall, "submit_s": t_submitted - t0, "films_per_min": films / wall * 60,
               "steady_per_film_s": statistics.median(gaps) if gaps else None,
               "first_film_after_start_s": (printed[0] - started[0]) if printed and started else None}
    finally:
        daemon.cleanup()
        scp.stop()
    out["received"] = received_sizes(scp, films)
    return out


def run_dcmtk(scps: DcmtkSCPs, work: Path, images: list[Path], films: int, rep: int) -> dict:
    scp = scps.start()
    try:
        out = dcmtk_ref.print_films(scp, work / f"dcmtk-scu{rep}", images, films)
    finally:
        scp.stop()
    out["received"] = received_sizes(scp, films)
    return out


def run_floor(scps: DcmtkSCPs, images: list[Path], films: int) -> dict:
    scp = scps.start()
    try:
        pixels = [windowed_8bit(p) for p in images]
        out = floor.print_films("127.0.0.1", scp.port, scp.ae_title, pixels, films)
    finally:
        scp.stop()
    out["steady_per_film_s"] = statistics.median(out["per_film_s"][1:] or out["per_film_s"])
    out["received"] = received_sizes(scp, films)
    return out


def run(work: Path, images: list[Path], films: int, reps: int, with_floor: bool, with_dcmtk: bool = True,
        with_hcserver: bool = True, log=print) -> dict:
    scps = DcmtkSCPs(work)
    runs: dict[str, list[dict]] = {"hcserver": [], "dcmtk": [], "floor": []}
    try:
        for rep in range(reps):
            if with_hcserver:
                r = run_hcserver(scps, work, images, films, rep)
                runs["hcserver"].append(r)
                log(f"  rep {rep + 1}/{reps} hcserver: {r['wall_s']:.3f} s for {films} films "
                    f"({r['films_per_min']:.0f} films/min; submit {r['submit_s'] * 1e3:.0f} ms; "
                    f"steady {r['steady_per_film_s'] * 1e3 if r['steady_per_film_s'] else float('nan'):.1f} "
                    f"ms/film); received {r['received']['image_sizes']}")
            if with_dcmtk:
                r = run_dcmtk(scps, work, images, films, rep)
                runs["dcmtk"].append(r)
                log(f"  rep {rep + 1}/{reps} DCMTK:    {r['wall_s']:.3f} s for {films} films "
                    f"({r['films_per_min']:.0f} films/min; dcmpsprt {r['render_s']:.3f} s + dcmprscu "
                    f"{r['send_s']:.3f} s); received {r['received']['image_sizes']}"
                    + (f"; log errors {r['errors']}" if r["errors"] else ""))
            if with_floor:
                r = run_floor(scps, images, films)
                runs["floor"].append(r)
                log(f"  rep {rep + 1}/{reps} floor:    {r['wall_s']:.3f} s for {films} films "
                    f"({r['wall_s'] / films * 1e3:.1f} ms/film; steady {r['steady_per_film_s'] * 1e3:.1f} "
                    f"ms/film); received {r['received']['image_sizes']}")
    finally:
        scps.stop_all()
    out: dict = {"films": films, "reps": reps, "runs": runs}
    expected = {"512x512/8bit": films * 4}
    received = {name: [r["received"]["image_sizes"] for r in rs] for name, rs in runs.items() if rs}
    out["received_check"] = {"expected_per_run": expected, "received": received,
                             "ok": all(sizes == expected for rs in received.values() for sizes in rs)}
    log(f"  image boxes received by dcmprscp: {'all' if out['received_check']['ok'] else 'NOT all'} runs of "
        f"every contestant hold {films * 4} images of 512x512, 8 bits")
    for name, rs in runs.items():
        if not rs:
            continue
        out[name] = {
            "wall_s": summary([r["wall_s"] for r in rs]),
            "films_per_min": summary([r["films_per_min"] for r in rs], 1),
            "per_film_s": summary([r["wall_s"] / r["films"] for r in rs], 5),
        }
        steady = [r["steady_per_film_s"] for r in rs if r.get("steady_per_film_s")]
        if steady:
            out[name]["steady_per_film_s"] = summary(steady, 5)
        out[name]["received"] = [r["received"]["image_sizes"] for r in rs]
    return out
