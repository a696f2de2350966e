"""Other users, for real: a forked child switches to another uid (needs root, as CI runs) and
talks to the daemon's socket with the client library."""
from __future__ import annotations

import json
import os

from hcserver.client import Client, ClientError

NOBODY, OTHER = 65534, 41234          # two unprivileged users (OTHER has no passwd entry)
NOGROUP = 65534


def call_as(uid: int, action):
    """Run ``action()`` in a child process as ``uid``; return its result (JSON)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOGROUP)
            os.setuid(uid)
            os.write(write_end, json.dumps(action()).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    return json.loads(b"".join(chunks) or b"null")


def run_as(uid: int, socket_path, action):
    """Run ``action(client)`` in a child process as ``uid``; return its result or ('error', code, msg)."""
    def connected():
        try:
            with Client(socket_path, timeout=30) as client:
                return action(client)
        except ClientError as exc:
            return ["error", exc.code, str(exc)]
    return call_as(uid, connected)



def hcq_in_process(socket_path, *args: str) -> str:
    """What ``hcq -s SOCKET ARGS`` prints (output and errors), run in this process."""
    from click.testing import CliRunner

    from hcserver.cli.hcq import cli

    return CliRunner().invoke(cli, ["-s", str(socket_path), *args], env={"COLUMNS": "200"}).output


def hcq_as(uid: int, socket_path, *args: str) -> str:
    """:func:`hcq_in_process` as ``uid``, in a child. The interpreter may live where only root
    may read: the child imports nothing new, so run the command in this process first."""
    return call_as(uid, lambda: hcq_in_process(socket_path, *args))
