"""Section d: from submit to the first N-CREATE (film session) at the SCP, printer idle, association warm.

The SCP is :class:`hcbench.minscp.MinimalPrintSCP` in this process, so the
submit time and the arrival time come from the same clock (``time.time()``).
The images are uploaded once beforehand: the timed submit is the submit
request alone. A first job opens the association; each timed job is
submitted after a pause (the printer idle, the association held: the
daemon's ``idle_release_s`` is 60 s).

Cross-check: the same measurement against the bundled printer simulator
(:class:`hcserver.simulator.PrinterSimulator`), whose request log
carries a wall-clock ``time`` (UTC, millisecond resolution, taken when the
request has been handled).
"""
from __future__ import annotations

import time
from pathlib import Path

from hcbench.common import daemon_config, dicom_printer_section, film_job, iso_seconds, start_daemon, summary
from hcbench.minscp import MinimalPrintSCP

PAUSE_S = 0.3


def _measure(hc, spec: dict, arrivals, gets, n: int, pause: float, log) -> dict:
    lat, lat_get, submit_rt = [], [], []
    for _ in range(n):
        time.sleep(pause)
        before = len(arrivals())
        t0 = time.time()
        job = hc.submit(spec)
        t1 = time.time()
        deadline = time.monotonic() + 30
        while len(arrivals()) <= before:
            if time.monotonic() > deadline:
                raise TimeoutError("no film session N-CREATE within 30 s")
            time.sleep(0.0005)
        lat.append(arrivals()[before] - t0)
        g = [t for t in gets() if t >= t0]
        if g:
            lat_get.append(g[0] - t0)
        submit_rt.append(t1 - t0)
        result = hc.wait(job, timeout=60)
        if result.get("state") != "completed":
            raise RuntimeError(f"latency job ended {result.get('state')}: {result.get('error')}")
    return {"to_film_session_s": summary(lat, 5), "to_printer_n_get_s": summary(lat_get, 5),
            "submit_round_trip_s": summary(submit_rt, 5)}


def run(work: Path, images: list[Path], n: int, with_simulator: bool = True, log=print) -> dict:
    out: dict = {"pause_s": PAUSE_S}
    with MinimalPrintSCP(ae_title="LATSCP") as scp:
        daemon = start_daemon(daemon_config(dicom_printer_section("lat", scp.port, ae_title="LATSCP")),
                              work / "hcs-d")
        try:
            with daemon.client() as hc:
                refs = [hc.upload(p) for p in images]
                spec = film_job("lat", refs, 1)
                hc.wait(hc.submit(spec), timeout=60)          # opens the association
                out["minimal_scp"] = _measure(hc, spec, lambda: scp.session_creates,
                                              lambda: scp.printer_gets, n, PAUSE_S, log)
        finally:
            daemon.cleanup()
    m = out["minimal_scp"]
    log(f"  minimal SCP: submit -> film session N-CREATE {m['to_film_session_s']['median'] * 1e3:.1f} ms "
        f"[{m['to_film_session_s']['min'] * 1e3:.1f}..{m['to_film_session_s']['max'] * 1e3:.1f}] (n={n}); "
        f"-> N-GET printer {m['to_printer_n_get_s']['median'] * 1e3:.1f} ms; submit request itself "
        f"{m['submit_round_trip_s']['median'] * 1e3:.1f} ms")
    if with_simulator:
        from hcserver.simulator import PrinterSimulator

        with PrinterSimulator(port=0, ae_title="LATSIM", out_dir=None) as sim:
            daemon = start_daemon(daemon_config(dicom_printer_section("sim", sim.port, ae_title="LATSIM")),
                                  work / "hcs-d2")

            def entries(op: str, sop: str) -> list[float]:
                return [iso_seconds(e["time"]) for e in sim.log
                        if e.get("direction") == "in" and e["operation"] == op and e.get("sop_class") == sop]

            try:
                with daemon.client() as hc:
                    refs = [hc.upload(p) for p in images]
                    spec = film_job("sim", refs, 1)
                    hc.wait(hc.submit(spec), timeout=60)
                    out["simulator_log"] = _measure(hc, spec, lambda: entries("N-CREATE", "film-session"),
                                                    lambda: entries("N-GET", "printer"), max(3, n // 2),
                                                    PAUSE_S, log)
            finally:
                daemon.cleanup()
        s = out["simulator_log"]
        log(f"  printer simulator (its log's ms timestamps): submit -> film session N-CREATE "
            f"{s['to_film_session_s']['median'] * 1e3:.0f} ms "
            f"[{s['to_film_session_s']['min'] * 1e3:.0f}..{s['to_film_session_s']['max'] * 1e3:.0f}] "
            f"(n={s['to_film_session_s']['n']})")
    return out
