"""Uploads that announce more than they send: memory grows with the bytes received, uploads being
received share one budget, and a stalled upload is dropped. Real daemons, raw sockets."""
from __future__ import annotations

import threading
import time

import pytest

from hcserver.client import ClientError
from hcserver.protocol import read_message
from tests.support.configs import PREVIEW_CONFIG
from tests.support.daemon import DaemonProcess
from tests.support.hostile import hcq, prefix, raw_connection
from tests.support.proc import MB, peak_rss, reset_peak_rss

pytestmark = pytest.mark.slow   # each test starts a daemon


def daemon_with(extra: str) -> DaemonProcess:
    return DaemonProcess(PREVIEW_CONFIG.replace("retry_interval_s = 1", "retry_interval_s = 1\n" + extra)).start()


def test_stalled_uploads_announcing_512_mib_each_cost_no_memory():
    """Six connections announce the largest upload allowed (512 MiB) and send 64 KiB of it:
    the daemon holds what arrived, not what was announced, and still answers."""
    process = daemon_with("")
    stalled = []
    try:
        pid = process.proc.pid
        reset_peak_rss(pid)
        before = peak_rss(pid)
        for _ in range(6):
            sock = raw_connection(process.socket)
            sock.sendall(prefix({"id": 1, "op": "upload", "name": "x.dcm"}, 512 << 20) + bytes(64 << 10))
            stalled.append(sock)
        time.sleep(2)
        done, took = hcq(process.socket, "list")
        assert done.returncode == 0 and took < 5, (done.stderr, took)
        grown = peak_rss(pid) - before
        assert grown < 200 * MB, f"the daemon grew by {grown // MB} MiB"
    finally:
        for sock in stalled:
            sock.close()
        process.cleanup()


def test_a_stalled_upload_is_dropped_after_stall_timeout_s():
    process = daemon_with("stall_timeout_s = 1")
    try:
        with raw_connection(process.socket) as sock:
            sock.sendall(prefix({"id": 1, "op": "upload", "name": "x.dcm"}, 1 << 20) + bytes(1000))
            started = time.monotonic()
            answer = read_message(sock, 1 << 20, 0).header
            assert answer["error"]["code"] == "stalled"
            assert "no data for 1 s in the middle of the attachment (1000 of 1048576 bytes received)" \
                in answer["error"]["message"]
            assert sock.recv(1) == b""   # and the connection is closed
            assert time.monotonic() - started < 5
        with raw_connection(process.socket) as sock:   # a header that stops half-way too
            sock.sendall(prefix({"id": 1, "op": "ping"}, 0)[:15])
            assert read_message(sock, 1 << 20, 0).header["error"]["code"] == "stalled"
    finally:
        process.cleanup()


def test_uploads_being_received_share_max_pending_upload_bytes(images):
    """One client keeps an upload of the whole budget coming, a byte at a time: another upload
    waits stall_timeout_s for room, then is refused as busy; once the first is gone it passes."""
    process = daemon_with("max_attachment_bytes = 4194304\nmax_pending_upload_bytes = 4194304\nstall_timeout_s = 2")
    stop = threading.Event()
    trickler = raw_connection(process.socket)

    def trickle() -> None:
        trickler.sendall(prefix({"id": 1, "op": "upload", "name": "slow.dcm"}, 4 << 20))
        while not stop.wait(0.3):
            trickler.sendall(b"\0")

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        time.sleep(0.5)
        with process.client() as client:
            started = time.monotonic()
            with pytest.raises(ClientError, match="max_pending_upload_bytes") as refused:
                client.upload(images["CT_small.dcm"])
            assert refused.value.code == "busy"
            assert 1.5 < time.monotonic() - started < 10
        stop.set()
        thread.join()
        trickler.close()
        with process.client() as client:
            assert client.upload(images["CT_small.dcm"]).startswith("sha256:")
    finally:
        stop.set()
        trickler.close()
        process.cleanup()
