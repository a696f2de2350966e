"""Section f: many DICOM printers printing at once.

32 minimal Print SCPs (:mod:`hcbench.minscp`) run in one separate process.
For each printer count (1, 8, 32) a fresh daemon is configured with that many
DICOM printers, one per SCP; one job of N films (the end-to-end films) is
submitted to every printer at once, and the run lasts until the SCPs have
received every film's N-ACTION. Reported: aggregate films/min, the daemon's
peak RSS (VmHWM) and its RSS at rest before and after, the peak PSS of the
daemon with its formatting processes (sampled), the CPU seconds the
daemon, its formatting processes and the SCP process used, and the daemon's CPU use while it merely
holds the idle associations afterwards (pynetdicom polls every association
every millisecond).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from hcbench.common import (
    REPO,
    cpu_seconds,
    daemon_config,
    descendants,
    dicom_printer_section,
    film_job,
    proc_status,
    start_daemon,
    summary,
    tree_cpu_seconds,
    tree_pss_kb,
)

BENCH = Path(__file__).resolve().parents[1]
IDLE_SAMPLE_S = 2.0


class SCPHost:
    def __init__(self, count: int):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(BENCH), str(REPO),
                                                            os.environ.get("PYTHONPATH", "")])}
        self.proc = subprocess.Popen([sys.executable, "-m", "hcbench.minscp", "--count", str(count)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        hello = json.loads(self.proc.stdout.readline())
        self.ports: list[int] = hello["ports"]
        self.pid: int = hello["pid"]

    def stats(self) -> dict:
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)


def _one(host: SCPHost, work: Path, images: list[Path], printers: int, films: int, log) -> dict:
    ports = host.ports[:printers]
    sections = "".join(dicom_printer_section(f"p{i:02d}", port, ae_title=f"MIN{i:02d}")
                       for i, port in enumerate(ports))
    daemon = start_daemon(daemon_config(sections), work / f"hcs-f{printers}")
    pid = daemon.proc.pid
    try:
        with daemon.client(timeout=600) as hc:
            refs = [hc.upload(p) for p in images]
            specs = [film_job(f"p{i:02d}", refs, films) for i in range(printers)]
            time.sleep(0.5)
            rest_before = proc_status(pid)
            before = {s["port"]: s["films"] for s in host.stats()["scps"]}
            cpu_d0, cpu_s0 = cpu_seconds(pid), host.stats()["cpu_s"]
            cpu_f0 = tree_cpu_seconds(pid)
            peak_pss = tree_pss_kb(pid)
            t0 = time.time()
            jobs = [hc.submit(spec) for spec in specs]
            t_submitted = time.time()
            want = printers * films
            deadline = time.monotonic() + 600
            peak_threads = 0
            while True:
                st = host.stats()
                mine = [s for s in st["scps"] if s["port"] in ports]
                got = sum(s["films"] - before[s["port"]] for s in mine)
                peak_threads = max(peak_threads, proc_status(pid).get("Threads", 0))
                peak_pss = max(peak_pss, tree_pss_kb(pid))
                if got >= want:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{printers} printers: {got} of {want} films after 600 s")
                time.sleep(0.05)
            t_end = max(s["last_action"] for s in mine)
            cpu_d1, cpu_s1 = cpu_seconds(pid), st["cpu_s"]
            cpu_f1 = tree_cpu_seconds(pid)
            helpers = len(descendants(pid))
            after = proc_status(pid)
            time.sleep(0.3)
            c0 = cpu_seconds(pid)
            time.sleep(IDLE_SAMPLE_S)
            idle_cpu = (cpu_seconds(pid) - c0) / IDLE_SAMPLE_S
            states = {}
            for job in jobs:
                state = hc.wait(job, timeout=120)["state"]
                states[state] = states.get(state, 0) + 1
    finally:
        daemon.cleanup()
    wall = t_end - t0
    per_printer = [(s["last_action"] - t0) for s in mine]
    out = {"printers": printers, "films_per_printer": films, "films": want, "wall_s": round(wall, 3),
           "submit_all_s": round(t_submitted - t0, 3),
           "films_per_min": round(want / wall * 60, 1),
           "printer_done_s": summary(per_printer, 3),
           "daemon_rss_kb_at_rest_before": rest_before.get("VmRSS"),
           "daemon_rss_kb_after": after.get("VmRSS"), "daemon_vmhwm_kb": after.get("VmHWM"),
           "daemon_peak_threads": peak_threads,
           "formatting_processes": helpers,
           "daemon_and_formatting_peak_pss_kb": peak_pss,
           "formatting_processes_cpu_s": round(cpu_f1 - cpu_f0, 2),
           "daemon_cpu_s": round(cpu_d1 - cpu_d0, 2), "scp_process_cpu_s": round(cpu_s1 - cpu_s0, 2),
           "daemon_cpu_share_of_wall": round((cpu_d1 - cpu_d0) / wall, 2),
           "daemon_idle_cpu_share_holding_associations": round(idle_cpu, 3),
           "job_states": states}
    log(f"  {printers:>2} printer(s) x {films} films: {wall:.2f} s, {out['films_per_min']:.0f} films/min "
        f"aggregate; daemon peak RSS {out['daemon_vmhwm_kb'] / 1024:.0f} MiB (at rest before "
        f"{out['daemon_rss_kb_at_rest_before'] / 1024:.0f} MiB), {peak_threads} threads; with its "
        f"{helpers} helper processes (formatting workers, their forkserver, a resource tracker) "
        f"peak PSS {peak_pss / 1024:.0f} MiB, their CPU "
        f"{out['formatting_processes_cpu_s']:.1f} s; daemon CPU "
        f"{out['daemon_cpu_s']:.1f} s ({out['daemon_cpu_share_of_wall']:.2f} cores), SCP process CPU "
        f"{out['scp_process_cpu_s']:.1f} s; idle with associations held: "
        f"{out['daemon_idle_cpu_share_holding_associations']:.2f} cores; jobs {states}")
    return out


def run(work: Path, images: list[Path], counts: tuple[int, ...], films: int, log=print) -> dict:
    host = SCPHost(max(counts))
    try:
        results = [_one(host, work, images, n, films, log) for n in counts]
    finally:
        host.close()
    return {"counts": list(counts), "films_per_printer": films, "runs": results}
