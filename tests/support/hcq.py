"""``hcq``, the command-line client, run as a user runs it: ``python -m hcserver.cli.hcq`` in a
process of its own, pointed at a test daemon by ``$HCSERVER_SOCKET``.

(:mod:`tests.support.users` runs hcq's commands in this process instead, for a child switched to
another user, which may not be able to read the interpreter.)"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

from tests.support.daemon import REPO, DaemonProcess

Target = DaemonProcess | str | os.PathLike | None


def hcq_command(*args: str | os.PathLike) -> list[str]:
    """The command line of ``hcq ARGS``, run by this interpreter."""
    return [sys.executable, "-m", "hcserver.cli.hcq", *map(str, args)]


def hcq_environment(target: Target, env: Mapping[str, str] | None = None, *,
                    inherit_settings: bool = True) -> dict[str, str]:
    """The environment of an ``hcq`` run: this process's, with ``$HCSERVER_SOCKET`` the socket of
    ``target`` (a daemon, or a socket's path; None: not set), then ``env`` over it.
    ``inherit_settings=False`` leaves out this process's own ``HCSERVER_*`` variables."""
    environment = {key: value for key, value in os.environ.items()
                   if inherit_settings or not key.startswith("HCSERVER_")}
    if target is not None:
        socket = target.socket if isinstance(target, DaemonProcess) else target
        environment["HCSERVER_SOCKET"] = str(socket)
    return {**environment, **(env or {})}


def repo_on_path() -> dict[str, str]:
    """``$PYTHONPATH`` with this tree first, as the daemon runs (for ``env``)."""
    return {"PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def run_hcq(target: Target, *args: str | os.PathLike, timeout: float | None = 60.0,
            env: Mapping[str, str] | None = None, check: bool = False, inherit_settings: bool = True,
            cwd: str | os.PathLike | None = None, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``hcq ARGS`` against ``target`` (see :func:`hcq_environment`, which ``env`` and
    ``inherit_settings`` are for) and wait at most ``timeout`` seconds; its output and errors
    are captured as text. ``check``: assert it succeeded (its errors the message)."""
    done = subprocess.run(hcq_command(*args), env=hcq_environment(target, env, inherit_settings=inherit_settings),
                          cwd=cwd, input=input, capture_output=True, text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, done.stderr
    return done
