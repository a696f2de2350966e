"""The demo: start hcserver on its embedded defaults and print a real job.

It starts the bundled printer simulator (a DICOM Print SCP) on 127.0.0.1:11112,
starts ``hcserver serve`` with no configuration (embedded defaults: a
``preview`` printer and a ``simulator`` DICOM printer), submits a job of
pydicom's bundled CT, MR and colour test images to each printer, waits for
both, shows ``hcq list --all`` and says where the films are.

Everything runs under ``./demo-run/`` and is stopped at the end.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pydicom.data import get_testdata_file

from hcserver.client import Client, ClientError

SIM_PORT = 11112  # the embedded defaults' "simulator" printer


def _start(args: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", *args], cwd=cwd, stdout=out, stderr=out)


def _wait_for(check, what: str, proc: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"demo: {what} exited:\n{log.read_text()}")
        if check():
            return
        time.sleep(0.1)
    sys.exit(f"demo: {what} did not start:\n{log.read_text()}")


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def main() -> int:
    # The films, previews, the simulator's records and the server's state show patient names:
    # only this user may read them, whatever the umask (the servers started inherit it).
    old_umask = os.umask(0o077)
    try:
        return _demo()
    finally:
        os.umask(old_umask)


def _demo() -> int:
    run = Path("demo-run").resolve()
    shutil.rmtree(run, ignore_errors=True)
    films_dir = run / "simulator-films"
    films_dir.mkdir(parents=True)
    if _port_open(SIM_PORT):
        sys.exit(f"demo: port {SIM_PORT} is in use; stop whatever listens there and run the demo again")
    env_socket = run / "var" / "run" / "hcserver.sock"
    images = [get_testdata_file(name, download=False) for name in ("CT_small.dcm", "MR_small.dcm", "SC_rgb_rle.dcm")]
    procs = []
    try:
        sim_log = run / "simulator.log"
        sim = _start(["hcserver.cli.hcserver_cmd", "simulate-printer", "--port", str(SIM_PORT),
                      "--ae-title", "HCSIM", "--out", str(films_dir)], run, sim_log)
        procs.append(sim)
        _wait_for(lambda: _port_open(SIM_PORT), "the printer simulator", sim, sim_log)
        print(f"printer simulator (DICOM Print SCP) listening on 127.0.0.1:{SIM_PORT}")

        server_log = run / "hcserver.log"
        server = _start(["hcserver.cli.hcserver_cmd", "serve"], run, server_log)
        procs.append(server)

        def server_up() -> bool:
            try:
                with Client(env_socket, timeout=2) as hc:
                    hc.request("ping")
                return True
            except ClientError:
                return False

        _wait_for(server_up, "hcserver", server, server_log)
        print(f"hcserver running on its embedded defaults, socket {env_socket}")

        with Client(env_socket) as hc:
            jobs = {}
            for printer in ("preview", "simulator"):
                jobs[printer] = hc.submit({"printer": printer, "label": "demo", "films": [
                    {"layout": "STANDARD\\2,2", "film_size": "14INX17IN",
                     "frames": [{"image": images[0]}, {"image": images[1]},
                                {"image": images[0], "window": {"center": 40, "width": 400}},
                                {"image": images[2]}]},
                    {"layout": "STANDARD\\1,1", "film_size": "8INX10IN", "frames": [{"image": images[1]}]},
                ]})
                print(f"submitted job {jobs[printer]} to printer {printer!r}")
            results = {printer: hc.wait(job, timeout=300) for printer, job in jobs.items()}

        env = {**os.environ, "HCSERVER_SOCKET": str(env_socket)}
        print("\n$ hcq list --all")
        subprocess.run([sys.executable, "-m", "hcserver.cli.hcq", "list", "--all"], env=env, check=False)
        print()
        ok = True
        for printer, result in results.items():
            print(f"job {result['id']} on {printer}: {result['state']}, "
                  f"{result['films_printed']} of {result['films_total']} films"
                  + (f" — {result['error']}" if result["error"] else ""))
            ok &= result["state"] == "completed"
        print(f"\npreview films (PNG):        {run / 'var' / 'preview'}")
        print(f"films the printer received: {films_dir} (PNG + JSON per film)")
        return 0 if ok else 1
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    sys.exit(main())
