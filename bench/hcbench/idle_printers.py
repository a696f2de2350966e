"""Section g: what a daemon holding idle DICOM associations costs, and that work is still
served at once.

The SCPs are minimal Print SCPs (:mod:`hcbench.minscp`) in one separate process: they wake
only when bytes arrive, so they add nothing of their own while the associations are idle.
For each printer count a fresh daemon with that many DICOM printers:

1. *at rest*: the daemon's CPU seconds over the window, before any job (no association);
2. one 1-film job per printer opens an association to each; once every film is printed the
   associations are held (``idle_release_s`` is 60 s) and the daemon's CPU seconds over the
   same window are read again (``/proc/PID/stat``: CPU time is a valid figure on a machine
   other processes share; wall time is not). The SCPs' count of ended associations is read
   before and after the window: it says whether every association was still held;
3. *latency*: with the associations idle, one-film jobs to the first printer, each after a
   pause, timed from the submit to the film session N-CREATE's arrival at its SCP (both read
   ``time.time()`` on the same machine).

Per association = CPU while holding them / printers (the daemon's own idle CPU included);
the difference to "at rest" is reported beside it.
"""
from __future__ import annotations

import time
from pathlib import Path

from hcbench.common import cpu_seconds, daemon_config, dicom_printer_section, film_job, start_daemon, summary
from hcbench.many_printers import SCPHost

PAUSE_S = 0.3


def _wait_films(host: SCPHost, ports: list[int], want: dict[int, int], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        st = host.stats()
        mine = {s["port"]: s for s in st["scps"] if s["port"] in ports}
        if all(mine[p]["films"] >= want[p] for p in ports):
            return mine
        if time.monotonic() > deadline:
            raise TimeoutError(f"films not printed within {timeout:g} s")
        time.sleep(0.02)


def _one(host: SCPHost, work: Path, images: list[Path], printers: int, window: float,
         latency_runs: int, log) -> dict:
    ports = host.ports[:printers]
    sections = "".join(dicom_printer_section(f"p{i:02d}", port, ae_title=f"MIN{i:02d}")
                       for i, port in enumerate(ports))
    daemon = start_daemon(daemon_config(sections), work / f"hcs-g{printers}")
    pid = daemon.proc.pid
    try:
        with daemon.client(timeout=120) as hc:
            refs = [hc.upload(p) for p in images]
            time.sleep(0.5)
            c0 = cpu_seconds(pid)
            time.sleep(window)
            at_rest = (cpu_seconds(pid) - c0) / window
            before = {s["port"]: s for s in host.stats()["scps"] if s["port"] in ports}
            want = {p: before[p]["films"] + 1 for p in ports}
            for i in range(printers):
                hc.submit(film_job(f"p{i:02d}", refs, 1, layout="STANDARD\\1,1", per_film=1))
            printed = _wait_films(host, ports, want)
            time.sleep(0.5)              # the jobs end; the associations stay open
            ended0 = sum(printed[p]["associations"] for p in ports)
            c0 = cpu_seconds(pid)
            time.sleep(window)
            held = (cpu_seconds(pid) - c0) / window
            st = {s["port"]: s for s in host.stats()["scps"] if s["port"] in ports}
            ended = sum(st[p]["associations"] for p in ports) - ended0
            opened = sum(st[p]["sessions"] - before[p]["sessions"] for p in ports)
            lat = []
            spec = film_job("p00", refs, 1, layout="STANDARD\\1,1", per_film=1)
            for _ in range(latency_runs):
                time.sleep(PAUSE_S)
                n = next(s for s in host.stats()["scps"] if s["port"] == ports[0])["sessions"]
                t0 = time.time()
                hc.submit(spec)
                deadline = time.monotonic() + 30
                while True:
                    s0 = next(s for s in host.stats()["scps"] if s["port"] == ports[0])
                    if s0["sessions"] > n:
                        lat.append(s0["last_session"] - t0)
                        break
                    if time.monotonic() > deadline:
                        raise TimeoutError("no film session N-CREATE within 30 s")
                    time.sleep(0.001)
            ended_total = sum(s["associations"] for s in host.stats()["scps"] if s["port"] in ports) - ended0
    finally:
        daemon.cleanup()
    out = {"printers": printers, "window_s": window, "daemon_cores_at_rest": round(at_rest, 4),
           "daemon_cores_holding": round(held, 4),
           "cores_per_association": round(held / printers, 5),
           "extra_cores_per_association": round((held - at_rest) / printers, 5),
           "sessions_opened": opened, "associations_ended_in_window": ended,
           "associations_ended_by_latency_runs": ended_total - ended,
           "submit_to_film_session_s": summary(lat, 4) if lat else None}
    log(f"  {printers:>2} printer(s): daemon at rest {at_rest:.4f} cores; holding {printers} idle "
        f"association(s) {held:.4f} cores = {out['cores_per_association']:.5f} per association "
        f"({out['extra_cores_per_association']:+.5f} over at rest); associations ended in the window: "
        f"{ended}; submit -> film session N-CREATE "
        f"{(out['submit_to_film_session_s'] or {}).get('median', float('nan')) * 1e3:.1f} ms "
        f"(n={len(lat)})")
    return out


def run(work: Path, images: list[Path], counts: tuple[int, ...], window: float, latency_runs: int,
        log=print) -> dict:
    host = SCPHost(max(counts))
    try:
        results = [_one(host, work, images, n, window, latency_runs, log) for n in counts]
    finally:
        host.close()
    return {"counts": list(counts), "window_s": window, "runs": results}
