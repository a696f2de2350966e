"""A real hcserver daemon process for tests, driven over its real socket."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from hcserver.client import Client, ClientError

REPO = Path(__file__).resolve().parents[2]


class DaemonProcess:
    def __init__(self, config_text: str, directory: Path | None = None):
        # Unix socket paths are limited to ~107 bytes: keep the state dir short.
        self.dir = Path(directory or tempfile.mkdtemp(prefix="hcs-"))
        self.config = self.dir / "hcserver.toml"
        self.config.write_text(textwrap.dedent(config_text).replace("@STATE@", str(self.dir / "var")))
        self.socket = self.dir / "var" / "run" / "hcserver.sock"
        self.log = self.dir / "daemon.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0, args: tuple[str, ...] = ()) -> DaemonProcess:
        """``args``: more options of ``hcserver serve`` (e.g. ``-v``)."""
        env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "hcserver.cli.hcserver_cmd", "serve",
                                          "-c", str(self.config), *args], cwd=self.dir, env=env,
                                         stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hcserver exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                with Client(self.socket, timeout=5) as client:
                    client.request("ping")
                return self
            except ClientError:
                time.sleep(0.05)
        raise RuntimeError(f"hcserver did not start:\n{self.log.read_text()}")

    def client(self, timeout: float = 60.0) -> Client:
        return Client(self.socket, timeout=timeout)

    def kill(self) -> None:
        """SIGKILL: the crash case."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode if self.proc else None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    """Poll ``predicate`` until it returns something true (returned), or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def start_nodes(configs: list[str]) -> list[DaemonProcess]:
    """Start a daemon per configuration (several nodes on one queue); none is left running if
    one fails to start."""
    nodes = []
    try:
        for config in configs:
            nodes.append(DaemonProcess(config).start())
    except Exception:
        for node in nodes:
            node.cleanup()
        raise
    return nodes
