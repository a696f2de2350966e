"""The demo: start hcserver on its embedded defaults and print a real job.

It starts the bundled printer simulator (a DICOM Print SCP) on 127.0.0.1:11112,
starts ``hcserver serve`` with no configuration (embedded defaults: a
``preview`` printer and a ``simulator`` DICOM printer), submits a job of
pydicom's bundled CT, MR and colour test images to each printer, waits for
both, shows ``hcq list --all`` and says where the films are.

``--simulator-port PORT`` puts the simulator on another port (0: one the OS
picks); the server then runs on the embedded defaults with the ``simulator``
printer's port changed to match, written to ``demo-run/hcserver.toml``.

Everything runs under ``./demo-run/`` and is stopped at the end.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pydicom.data import get_testdata_file

from hcserver.client import Client, ClientError
from hcserver.config import EMBEDDED_DEFAULTS, EMBEDDED_SOURCE, parse

SIMULATOR = "simulator"   # the embedded defaults' DICOM printer
SIM_PORT = parse(EMBEDDED_DEFAULTS, EMBEDDED_SOURCE).printers[SIMULATOR].port


def _start(args: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", *args], cwd=cwd, stdout=out, stderr=out)


def _wait_for(check, what: str, proc: subprocess.Popen, log: Path, timeout: float = 30.0):
    """What ``check`` returns once it is true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"demo: {what} exited:\n{log.read_text()}")
        if found := check():
            return found
        time.sleep(0.1)
    sys.exit(f"demo: {what} did not start:\n{log.read_text()}")


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _listening_port(log: Path) -> int | None:
    """The port the simulator says it listens on, once it does."""
    found = re.search(r"listening on 127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))
    return int(found.group(1)) if found else None


def _config_for(port: int) -> str:
    """The embedded defaults with the simulator printer on ``port``."""
    text = EMBEDDED_DEFAULTS.replace(f"\nport = {SIM_PORT}\n", f"\nport = {port}\n")
    if parse(text, EMBEDDED_SOURCE).printers[SIMULATOR].port != port:
        raise RuntimeError("the embedded defaults no longer name the simulator's port as the demo expects")
    return text


def _why(printer: str, meaning: str) -> str:
    """What a warning the demo's job gets means here (its colour image, on a grayscale printer)."""
    if "colour image" in meaning and "grey" in meaning:
        return (f"\n    (the {printer!r} printer of the embedded defaults is grayscale; a printer with "
                f"color = true gets the colour image as RGB)")
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hcserver.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--simulator-port", type=int, default=SIM_PORT, metavar="PORT",
                        help=f"the printer simulator's port (0: one the OS picks; default {SIM_PORT}, "
                             "the embedded defaults')")
    args = parser.parse_args(argv)
    # The films, previews, the simulator's records and the server's state show patient names:
    # only this user may read them, whatever the umask (the servers started inherit it).
    old_umask = os.umask(0o077)
    try:
        return _demo(args.simulator_port)
    finally:
        os.umask(old_umask)


def _demo(sim_port: int) -> int:
    run = Path("demo-run").resolve()
    shutil.rmtree(run, ignore_errors=True)
    films_dir = run / "simulator-films"
    films_dir.mkdir(parents=True)
    if sim_port and _port_open(sim_port):
        sys.exit(f"demo: port {sim_port} is in use; stop whatever listens there and run the demo again")
    env_socket = run / "var" / "run" / "hcserver.sock"
    images = [get_testdata_file(name, download=False) for name in ("CT_small.dcm", "MR_small.dcm", "SC_rgb_rle.dcm")]
    procs = []
    try:
        sim_log = run / "simulator.log"
        sim = _start(["hcserver.cli.hcserver_cmd", "simulate-printer", "--port", str(sim_port),
                      "--ae-title", "HCSIM", "--out", str(films_dir)], run, sim_log)
        procs.append(sim)
        sim_port = _wait_for(lambda: _listening_port(sim_log), "the printer simulator", sim, sim_log)
        print(f"printer simulator (DICOM Print SCP) listening on 127.0.0.1:{sim_port}")

        serve = ["hcserver.cli.hcserver_cmd", "serve"]
        defaults = "its embedded defaults"
        if sim_port != SIM_PORT:
            config = run / "hcserver.toml"
            config.write_text(_config_for(sim_port))
            serve += ["-c", str(config)]
            defaults += f" with the simulator printer on port {sim_port} ({config})"
        server_log = run / "hcserver.log"
        server = _start(serve, run, server_log)
        procs.append(server)

        def server_up() -> bool:
            try:
                with Client(env_socket, timeout=2) as hc:
                    hc.request("ping")
                return True
            except ClientError:
                return False

        _wait_for(server_up, "hcserver", server, server_log)
        print(f"hcserver running on {defaults}, socket {env_socket}")

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
            for warning in result["warnings"]:
                print(f"  warning: {warning['meaning']}{_why(printer, warning['meaning'])}")
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
