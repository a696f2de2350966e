"""Connections: limits per user and in total with room kept for root, idle connections closed,
an accept loop that never spins, and a backlog that holds a crowd. Real daemons; other users are
real uids in forked children (the test runs as root, as CI does)."""
from __future__ import annotations

import os
import re
import resource
import signal
import socket
import threading
import time

import pytest

from hcserver.client import Client, ClientError
from tests.support.configs import PREVIEW_CONFIG
from tests.support.daemon import REPO, DaemonProcess, wait_for
from tests.support.hostile import Holder, ask, cpu_use, hcq, open_file_limit, raw_connection
from tests.support.root import needs_root

pytestmark = [pytest.mark.slow,   # daemons under load
              needs_root("switching users")]

USERS = range(50000, 50040)     # forty unprivileged users without passwd entries


def shared_daemon(extra: str = "") -> DaemonProcess:
    extra = 'socket_group = "nogroup"\n' + extra
    config = PREVIEW_CONFIG.replace("retry_interval_s = 1", "retry_interval_s = 1\n" + extra)
    process = DaemonProcess(config)
    os.chmod(process.dir, 0o755)   # let other users reach the socket
    return process


def soft_nofile(pid: int) -> int:
    for line in open(f"/proc/{pid}/limits"):
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError("no open files limit")


def test_users_holding_every_connection_they_may_leave_root_in_and_the_daemon_idle():
    """Forty users each try 35 idle connections (1400, more than the 1024 descriptors systemd
    gives by default): each keeps at most max_connections_per_user, all of them together leave
    the administrators' reserve free, the rest are told why, and root's hcq still answers."""
    with open_file_limit(1024):
        process = shared_daemon().start()
    holders = []
    try:
        holders = [Holder(USERS[0], process.socket, 35)]
        first = holders[0].result()   # alone: it meets its own limit
        assert first["held"] == 32 and "max_connections_per_user = 32" in first["refused"][0], first
        holders += [Holder(uid, process.socket, 35) for uid in USERS[1:]]
        results = [first] + [holder.result() for holder in holders[1:]]
        held = [r["held"] for r in results]
        assert max(held) <= 32 and sum(held) <= 512 - 16, held
        refusals = [why for r in results for why in r["refused"]]
        assert refusals and all(why.startswith("too-many-connections: too many connections") for why in refusals), \
            refusals[:3]
        assert any("kept for administrators" in why for why in refusals)
        # root gets in, at once, by the reserve
        with Client(process.socket, timeout=5) as root:
            assert root.request("ping")["admin"]
        # the 30 s is a deadline that means a hang, not a speed goal (bench/ measures those)
        done, _ = hcq(process.socket, "list", timeout=30)
        assert done.returncode == 0, done.stderr
        # nothing spins while every slot is held and more are asked for
        assert cpu_use(process.proc.pid) < 0.2
    finally:
        for holder in holders:
            holder.release()
    # once they let go, their slots are free again
    def holds_again() -> bool:
        again = Holder(USERS[0], process.socket, 32)
        result = again.result()
        again.release()
        return result["held"] == 32

    wait_for(holds_again, timeout=20, what="a user's connections after theirs closed")
    process.cleanup()


def test_a_connection_that_sends_nothing_is_closed_after_idle_timeout_s():
    process = DaemonProcess(PREVIEW_CONFIG.replace("retry_interval_s = 1", "retry_interval_s = 1\nidle_timeout_s = 1"))
    process.start()
    try:
        with raw_connection(process.socket) as silent, raw_connection(process.socket) as idle:
            assert ask(idle)["ok"]
            started = time.monotonic()
            assert silent.recv(1) == b"" and idle.recv(1) == b""
            assert time.monotonic() - started < 5
        # the client library notices the close and connects again for its next request
        with process.client() as client:
            client.request("ping")
            held = client._sock
            wait_for(lambda: closed_by_peer(held), 30, "the daemon to close the idle connection")
            assert client.request("ping")["ok"]
    finally:
        process.cleanup()


def closed_by_peer(sock: socket.socket) -> bool:
    """The other end closed ``sock`` (it reads end of file), without waiting."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False


def test_out_of_file_descriptors_the_daemon_refuses_and_does_not_spin():
    """Descriptors taken away from the running daemon (more than max_connections could): its
    accept fails with EMFILE; the clients waiting are refused in a framed error and the loop
    pauses, and once descriptors are free again everything is served."""
    process = DaemonProcess(PREVIEW_CONFIG).start()
    pid = process.proc.pid
    held = []
    try:
        in_use = len(os.listdir(f"/proc/{pid}/fd"))
        soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE, (in_use + 4, resource.getrlimit(
            resource.RLIMIT_NOFILE)[1]))
        answers = []
        for _ in range(40):
            sock = raw_connection(process.socket, timeout=10)
            held.append(sock)
            try:
                answers.append(ask(sock))
            except (OSError, EOFError) as exc:
                answers.append({"lost": str(exc)})
        refused = [a for a in answers if not a.get("ok")]
        assert refused and all(a.get("error", {}).get("code") == "too-many-connections" for a in refused), refused[:3]
        assert "out of file descriptors" in refused[0]["error"]["message"]
        # more clients keep knocking while the descriptors are gone
        knocking = [socket.socket(socket.AF_UNIX) for _ in range(20)]
        for sock in knocking:
            sock.setblocking(False)
            try:
                sock.connect(str(process.socket))
            except OSError:
                pass
        assert cpu_use(pid) < 0.2
        for sock in knocking:
            sock.close()
    finally:
        for sock in held:
            sock.close()
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
    with process.client(timeout=10) as client:
        assert client.request("ping")["ok"]
    assert "cannot accept connections" in process.log.read_text()
    process.cleanup()


def test_a_crowd_connecting_at_once_waits_in_the_backlog():
    """Three hundred clients connect while the daemon cannot accept (stopped): they wait in the
    listen backlog (or retry, within their timeout) instead of failing with EAGAIN."""
    process = DaemonProcess(PREVIEW_CONFIG).start()
    outcomes: list[str] = []
    connecting = [0]
    lock = threading.Lock()

    def one() -> None:
        with lock:
            connecting[0] += 1
        try:
            with Client(process.socket, timeout=30) as client:
                client.request("ping")
            outcome = "ok"
        except ClientError as exc:
            outcome = str(exc)
        with lock:
            outcomes.append(outcome)

    try:
        process.proc.send_signal(signal.SIGSTOP)
        threads = [threading.Thread(target=one) for _ in range(300)]
        for thread in threads:
            thread.start()
        wait_for(lambda: connecting[0] == 300, 30, "every client to be connecting to the stopped daemon")
        process.proc.send_signal(signal.SIGCONT)
        for thread in threads:
            thread.join(60)
        failures = [o for o in outcomes if o != "ok"]
        assert len(outcomes) == 300 and not failures, (len(failures), failures[:3])
    finally:
        process.proc.send_signal(signal.SIGCONT)
        process.cleanup()


def test_the_client_retries_a_full_backlog_within_its_timeout(tmp_path):
    """A listener whose queue is full refuses a Unix connect at once (EAGAIN): the client waits
    and tries again until the server accepts, within its timeout, and says so if it never does."""
    path = tmp_path / "s.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(0)
    queued = [socket.socket(socket.AF_UNIX) for _ in range(3)]
    for sock in queued:
        sock.setblocking(False)
        try:
            sock.connect(str(path))
        except OSError:
            pass

    def serve_later() -> None:
        time.sleep(1.0)
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.settimeout(0.5)
            try:
                if conn.recv(65536):
                    conn.sendall(b"HCS1" + (11).to_bytes(4, "big") + (0).to_bytes(4, "big") + b'{"ok":true}')
            except OSError:
                pass
            conn.close()

    with pytest.raises(ClientError, match="busy") as refused:
        Client(path, timeout=0.5).request("ping")
    assert refused.value.code == "unreachable"
    server = threading.Thread(target=serve_later, daemon=True)
    server.start()
    try:
        assert Client(path, timeout=20).request("ping")["ok"]
    finally:
        listener.close()
        for sock in queued:
            sock.close()


def test_the_daemon_raises_its_open_file_limit_to_the_hard_limit():
    with open_file_limit(1024):
        process = DaemonProcess(PREVIEW_CONFIG).start()
    try:
        assert soft_nofile(process.proc.pid) == resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    finally:
        process.cleanup()


def test_the_unit_file_raises_the_open_file_limit():
    unit = (REPO / "etc" / "hcserver.service").read_text()
    limit = re.search(r"^LimitNOFILE=(\d+)$", unit, re.M)
    assert limit and int(limit.group(1)) >= 16384
