"""Hostile clients for tests: other users holding connections, raw frames, stalled uploads."""
from __future__ import annotations

import contextlib
import json
import os
import resource
import socket
import subprocess
import time

from hcserver.protocol import PREFIX, encode, read_message
from tests.support.hcq import repo_on_path, run_hcq
from tests.support.proc import cpu_seconds
from tests.support.users import become


def raw_connection(path, timeout: float = 10.0) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(str(path))
    return sock


def ask(sock: socket.socket, op: str = "ping", attachment: bytes = b"", **args) -> dict:
    """One request and its answer; as the client library does, an answer sent before the server
    closed (a refused connection) is read even when the request could not be sent."""
    try:
        sock.sendall(encode({"id": 1, "op": op, **args}, attachment))
    except (BrokenPipeError, ConnectionResetError):
        pass
    return read_message(sock, 1 << 20, 1 << 20).header


def prefix(header: dict, attachment_len: int) -> bytes:
    """The start of a frame that announces ``attachment_len`` bytes, without them."""
    body = json.dumps(header).encode()
    return PREFIX.pack(b"HCS1", len(body), attachment_len) + body


class Holder:
    """A child process that switches to ``uid`` and opens up to ``count`` connections, each
    answered by a ping (or refused), and holds those answered until :meth:`release`."""

    def __init__(self, uid: int, path, count: int):
        self.uid, self.count = uid, count
        read_end, write_end = os.pipe()
        self._release_r, self._release_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            try:
                os.close(read_end)
                os.close(self._release_w)
                become(uid)
                result = self._hold(path)
                os.write(write_end, json.dumps(result).encode())
                os.close(write_end)
                os.read(self._release_r, 1)
            finally:
                os._exit(0)
        os.close(write_end)
        os.close(self._release_r)
        self._result_r = read_end

    def _hold(self, path) -> dict:
        held, refused, failed = [], [], 0
        for _ in range(self.count):
            try:
                sock = raw_connection(path, timeout=3)
                answer = ask(sock)
            except (OSError, EOFError, ValueError) as exc:
                failed += 1
                refused.append(f"no answer: {exc}")
                if failed >= 3:
                    break
                continue
            if answer.get("ok"):
                held.append(sock)
            else:
                refused.append(f"{answer['error']['code']}: {answer['error']['message']}")
                sock.close()
        self._held = held   # kept open until released
        return {"held": len(held), "refused": refused}

    def result(self) -> dict:
        chunks = []
        while chunk := os.read(self._result_r, 65536):
            chunks.append(chunk)
        os.close(self._result_r)
        return json.loads(b"".join(chunks) or b"null")

    def release(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._release_w, b"x")
            os.close(self._release_w)
        os.waitpid(self.pid, 0)


@contextlib.contextmanager
def open_file_limit(soft: int):
    """Processes started inside get ``soft`` as their limit of open files, as under systemd's
    default (1024) when the unit file sets none."""
    old = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, old[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, old)


def cpu_use(pid: int, seconds: float = 3.0) -> float:
    """Cores the process used over ``seconds`` (its threads together)."""
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds


def hcq(socket_path, *args: str, timeout: float = 30.0, env: dict | None = None,
        stdin: bytes | None = None) -> tuple[subprocess.CompletedProcess, float]:
    """``hcq ARGS`` as a user would run it (:func:`~tests.support.hcq.run_hcq`, this tree first on
    its path); the process and the seconds it took."""
    started = time.monotonic()
    done = run_hcq(socket_path, *args, timeout=timeout, env={**repo_on_path(), **(env or {})},
                   input=stdin.decode() if stdin is not None else None)
    return done, time.monotonic() - started


def as_user(uid: int, attack, *args) -> int:
    """Run ``attack(*args)`` in a child process switched to ``uid``; its pid (see :func:`join`)."""
    pid = os.fork()
    if pid == 0:
        try:
            become(uid)
            attack(*args)
        except BaseException:
            pass
        finally:
            os._exit(0)
    return pid


def join(pids, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    for pid in pids:
        while time.monotonic() < deadline:
            if os.waitpid(pid, os.WNOHANG)[0]:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)


def slow_clients(path, until: float, count: int = 10) -> None:
    """Slowloris: frames sent a byte at a time, every 0.5 s, on ``count`` connections."""
    frame = encode({"id": 1, "op": "list", "all": True})
    conns: dict[socket.socket, int] = {}
    while time.monotonic() < until:
        while len(conns) < count:
            try:
                conns[raw_connection(path, timeout=2)] = 0
            except OSError:
                break
        for sock in list(conns):
            try:
                sock.sendall(frame[conns[sock]:conns[sock] + 1])
                conns[sock] = (conns[sock] + 1) % len(frame)
            except OSError:
                sock.close()
                del conns[sock]
        time.sleep(0.5)


def huge_clients(path, until: float) -> None:
    """Uploads that announce the most allowed, and more, send a little and stall."""
    stalled: list[socket.socket] = []
    while time.monotonic() < until:
        for size in (512 << 20, (1 << 32) - 1):
            with contextlib.suppress(OSError):
                sock = raw_connection(path, timeout=2)
                sock.sendall(prefix({"id": 1, "op": "upload", "name": "huge.dcm"}, size) + bytes(1 << 20))
                stalled.append(sock)
        del stalled[:-8]   # closed as they are dropped
        time.sleep(0.3)


def _frame(body: bytes) -> bytes:
    return PREFIX.pack(b"HCS1", len(body), 0) + body


MALFORMED = [
    b"GET / HTTP/1.0\r\n\r\n",
    b"HCS1\xff\xff\xff\xff\x00\x00\x00\x00",
    _frame(b"{nope"),
    _frame(b"[]"),
    encode({"id": 1, "op": "events", "since": 1 << 64}),
    _frame(b'{"id":1,"op":"list","printer":"\\udcff"}'),
    encode({"id": 1, "op": "no-such-op"}),
    encode({"id": 1, "op": "submit", "spec": {"images": [1, None, {"x": []}]}}),
    os.urandom(64),
]


def malformed_clients(path, until: float) -> None:
    """Garbage, bad frames, bad JSON, odd values: one connection each, answer read if any."""
    while time.monotonic() < until:
        for payload in MALFORMED:
            with contextlib.suppress(OSError, EOFError, ValueError), raw_connection(path, timeout=2) as sock:
                sock.sendall(payload)
                sock.recv(65536)
