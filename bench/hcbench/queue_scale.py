"""Section e: the queue at 1,000 and 10,000 held jobs.

One image is uploaded once; every job is a one-film job referencing it,
submitted held through the client library on one connection (so nothing
prints). At each size ``hcq list --json`` is run as a subprocess (the
installed ``hcq`` console script, as a user runs it) several times, and its
wall time is reported next to what it is made of: the interpreter start and
``hcq``'s imports (``python -c 'import hcserver.cli.hcq'``), and the list
request alone over an open client connection (server work, transfer and
JSON decoding).
"""
from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from hcbench.common import daemon_config, start_daemon, summary

PREVIEW = """
[printers.held]
driver = "preview"
dpi = 40
"""


def _hcq() -> list[str]:
    script = Path(sys.executable).parent / "hcq"
    if script.exists():
        return [str(script)]
    found = shutil.which("hcq")
    return [found] if found else [sys.executable, "-m", "hcserver.cli.hcq"]


def _time_cmd(cmd: list[str], reps: int, env: dict, before=None) -> tuple[dict, int]:
    """Wall time of ``cmd`` (``before()`` runs, untimed, before each repetition)."""
    walls, size = [], 0
    for _ in range(reps):
        if before is not None:
            before()
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, env=env, timeout=300)
        walls.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.decode(errors='replace')[-500:]}")
        size = len(proc.stdout)
    return summary(walls, 4), size


def _installed_env(work: Path, socket: Path) -> dict:
    """The environment ``hcq`` is timed in: as an installed copy runs, with its modules' bytecode cached.

    pip compiles bytecode when it installs a package, and an editable install writes it on first use,
    unless PYTHONDONTWRITEBYTECODE is set: then every ``hcq`` call would compile hcserver's modules
    again (about 20 ms, reported separately). The cache goes to a scratch directory
    (PYTHONPYCACHEPREFIX), not into the source tree."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return env | {"HCSERVER_SOCKET": str(socket), "PYTHONPYCACHEPREFIX": str(work / "pycache")}


def _submit(hc, spec: dict, n: int) -> dict:
    times = []
    t0 = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        job = hc.request("submit", spec=spec, hold=True)["job"]
        times.append(time.perf_counter() - t)
    total = time.perf_counter() - t0
    last = times[-min(200, n):]
    return {"jobs": n, "seconds": round(total, 3), "per_second": round(n / total, 1),
            "request_s": summary(times, 5), "last_200_per_second": round(len(last) / sum(last), 1),
            "last_job": job}


def _profile_list(pid: int, hc, reps: int, work: Path) -> dict:
    """py-spy on the daemon while it answers ``reps`` list requests: its request thread's time."""
    from hcbench.profiling import analyse_generic, py_spy

    spy = py_spy()
    if spy is None:
        return {"error": "py-spy not installed"}
    raw = work / "profile-list.txt"
    proc = subprocess.Popen([spy, "record", "-p", str(pid), "-r", "250", "-f", "raw", "-o", str(raw),
                             "--threads", "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    for _ in range(reps):
        hc.list()
    proc.send_signal(2)
    proc.wait(60)
    return analyse_generic(raw, "process_request_thread") if raw.exists() else {"error": "py-spy failed"}


def run(work: Path, images: list[Path], sizes: tuple[int, ...], list_reps: int, log=print,
        profile: bool = False) -> dict:
    config = daemon_config(PREVIEW, max_jobs_per_owner=max(sizes) * 2)
    daemon = start_daemon(config, work / "hcs-e")
    env = _installed_env(work, daemon.socket)
    out: dict = {"sizes": list(sizes), "steps": []}
    try:
        uncached, _ = _time_cmd([sys.executable, "-c", "import hcserver.cli.hcq"], list_reps,
                                {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        _time_cmd([sys.executable, "-c", "import hcserver.cli.hcq"], 1, env)   # writes the bytecode cache
        import_only, _ = _time_cmd([sys.executable, "-c", "import hcserver.cli.hcq"], list_reps, env)
        bare, _ = _time_cmd([sys.executable, "-c", "pass"], list_reps, env)
        out["python_start_s"] = bare
        out["hcq_import_s"] = import_only
        out["hcq_import_without_bytecode_cache_s"] = uncached
        with daemon.client(timeout=600) as hc:
            ref = hc.upload(images[0])
            spec = {"printer": "held", "films": [{"film_size": "14INX17IN", "layout": "STANDARD\\1,1",
                                                  "frames": [ref]}]}
            have = 0
            for size in sizes:
                step = {"jobs": size, "submit": _submit(hc, spec, size - have)}
                have = size
                listed, nbytes = _time_cmd(_hcq() + ["list", "--json"], list_reps, env)
                step["hcq_list_json_s"] = listed
                step["hcq_list_json_bytes"] = nbytes
                # As on a queue that prints: one job changes before each call (its priority).
                priorities = itertools.cycle(["high", "med"])
                job = step["submit"]["last_job"]
                def change(job=job, priorities=priorities):
                    hc.set_priority(job, next(priorities))
                changed, _ = _time_cmd(_hcq() + ["list", "--json"], list_reps, env, before=change)
                step["hcq_list_json_after_change_s"] = changed
                inproc = []
                for _ in range(list_reps):
                    t = time.perf_counter()
                    jobs = hc.list()
                    inproc.append(time.perf_counter() - t)
                if len(jobs) != size:
                    raise RuntimeError(f"list returned {len(jobs)} jobs, expected {size}")
                step["client_list_s"] = summary(inproc, 4)
                step["rss_kb"] = _rss(daemon.proc.pid)
                out["steps"].append(step)
                if profile and size == sizes[-1]:
                    prof = _profile_list(daemon.proc.pid, hc, list_reps, work)
                    out["list_profile"] = prof
                    if prof.get("top_inclusive"):
                        log(f"  daemon request thread while answering {list_reps} list requests at {size} jobs "
                            f"(py-spy, share of its samples):")
                        for name, share in prof["top_inclusive"][:25]:
                            log(f"    {share:5.1f} %  {name}")
                log(f"  {size:>6} held jobs: submitted {step['submit']['jobs']} at "
                    f"{step['submit']['per_second']:.0f}/s (last {min(200, step['submit']['jobs'])}: "
                    f"{step['submit']['last_200_per_second']:.0f}/s);"
                    f" hcq list --json {listed['median'] * 1e3:.0f} ms [{listed['min'] * 1e3:.0f}.."
                    f"{listed['max'] * 1e3:.0f}] ({nbytes / 1e6:.1f} MB), after one job changed "
                    f"{changed['median'] * 1e3:.0f} ms [{changed['min'] * 1e3:.0f}..{changed['max'] * 1e3:.0f}];"
                    f" Client.list() "
                    f"{step['client_list_s']['median'] * 1e3:.0f} ms; python+hcq import "
                    f"{import_only['median'] * 1e3:.0f} ms (without a bytecode cache: "
                    f"{uncached['median'] * 1e3:.0f} ms)")
    finally:
        daemon.cleanup()
    if len(out["steps"]) >= 2:
        a, b = out["steps"][0], out["steps"][-1]
        k = b["jobs"] / a["jobs"]
        out["growth"] = {
            "jobs_factor": k,
            "hcq_list_factor": round(b["hcq_list_json_s"]["median"] / a["hcq_list_json_s"]["median"], 2),
            "client_list_factor": round(b["client_list_s"]["median"] / a["client_list_s"]["median"], 2),
            "submit_rate_factor": round(b["submit"]["last_200_per_second"] / a["submit"]["last_200_per_second"], 2),
        }
    return out


def _rss(pid: int) -> dict:
    from hcbench.common import proc_status

    return proc_status(pid)
