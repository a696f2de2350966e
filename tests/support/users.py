"""Other users, for real: a forked child switches to another uid (needs root, as CI runs) and
talks to the daemon's socket with the client library.

A user is a uid alone (in no group but NOGROUP), or a passwd entry (with its groups), such as a
throw-away user made for the test by :func:`throwaway_user`."""
from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import secrets
import subprocess
from collections.abc import Iterator

from hcserver.client import Client, ClientError

NOBODY, OTHER = 65534, 41234          # two unprivileged users (OTHER has no passwd entry)
NOGROUP = 65534

User = int | pwd.struct_passwd


def become(user: User) -> None:
    """Switch this process to ``user``: a uid in NOGROUP alone, or a passwd entry with its groups."""
    if isinstance(user, int):
        os.setgroups([])
        os.setgid(NOGROUP)
        os.setuid(user)
    else:
        os.initgroups(user.pw_name, user.pw_gid)
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)


@contextlib.contextmanager
def throwaway_user(prefix: str) -> Iterator[pwd.struct_passwd]:
    """A Unix user made for the test (``PREFIX-`` and random hex), with a group of its own; gone after."""
    name = f"{prefix}-{secrets.token_hex(4)}"
    subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    name], check=True, capture_output=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)
        try:
            grp.getgrnam(name)
            subprocess.run(["groupdel", name], check=False, capture_output=True)
        except KeyError:
            pass


def call_as(user: User, action):
    """Run ``action()`` in a child process as ``user``; return its result (JSON)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(read_end)
            become(user)
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


def run_as(user: User, socket_path, action):
    """Run ``action(client)`` in a child process as ``user``; return its result or ['error', code, msg]."""
    def connected():
        try:
            with Client(socket_path, timeout=30) as client:
                return action(client)
        except ClientError as exc:
            return ["error", exc.code, str(exc)]
    return call_as(user, connected)


def hcq_in_process(socket_path, *args: str) -> str:
    """What ``hcq -s SOCKET ARGS`` prints (output and errors), run in this process."""
    from click.testing import CliRunner

    from hcserver.cli.hcq import cli

    return CliRunner().invoke(cli, ["-s", str(socket_path), *args], env={"COLUMNS": "200"}).output


def hcq_as(user: User, socket_path, *args: str) -> str:
    """:func:`hcq_in_process` as ``user``, in a child. The interpreter may live where only root
    may read: the child imports nothing new, so run the command in this process first."""
    return call_as(user, lambda: hcq_in_process(socket_path, *args))
