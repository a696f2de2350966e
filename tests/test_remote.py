"""Remote clients over TCP: TLS only, a token per client, on loopback with a throw-away CA."""
from __future__ import annotations

import os
import socket
import ssl

import pytest

from hcserver.client import Client, ClientError
from hcserver.protocol import encode, read_message
from tests.support.configs import PREVIEW_CONFIG
from tests.support.daemon import DaemonProcess
from tests.support.ports import free_port
from tests.support.tls import make_certificates

pytestmark = pytest.mark.slow   # every test starts a daemon process

RIS_TOKEN = "ris-0123456789abcdef"
ADMIN_TOKEN = "admin-0123456789abcdef"


@pytest.fixture
def remote(tmp_path):
    certs = make_certificates(tmp_path / "certs")
    port = free_port()
    config = PREVIEW_CONFIG.replace("retry_interval_s = 1", f"""retry_interval_s = 1

[server.tcp]
listen = "127.0.0.1:{port}"
cert_file = "{certs.server_cert}"
key_file = "{certs.server_key}"
[server.tcp.clients.ris]
token = "{RIS_TOKEN}"
[server.tcp.clients.ops]
token = "{ADMIN_TOKEN}"
admin = true
""")
    process = DaemonProcess(config).start()
    yield process, port, certs
    process.cleanup()


def test_remote_client_with_token_submits_uploaded_images(remote, images):
    process, port, certs = remote
    with Client(f"tls://127.0.0.1:{port}", token=RIS_TOKEN, ca_file=str(certs.ca)) as ris:
        assert ris.request("ping")["user"] == "tls:ris"
        job = ris.submit_files([images["CT_small.dcm"]], printer="film")
        result = ris.wait(job, timeout=30)
    assert result["state"] == "completed" and result["owner"] == "tls:ris"
    with pytest.raises(ClientError, match="for administrators"):
        with Client(f"tls://127.0.0.1:{port}", token=RIS_TOKEN, ca_file=str(certs.ca)) as ris:
            ris.printer_admin("disable", "film")
    with Client(f"tls://127.0.0.1:{port}", token=ADMIN_TOKEN, ca_file=str(certs.ca)) as ops:
        ops.printer_admin("disable", "film")
        ops.printer_admin("enable", "film")


def test_bad_token_no_token_and_plaintext_are_refused(remote):
    process, port, certs = remote
    with pytest.raises(ClientError, match="valid token") as refused:
        Client(f"tls://127.0.0.1:{port}", token="not-the-token-at-all", ca_file=str(certs.ca)).request("ping")
    assert refused.value.code == "unauthenticated"
    # TLS but a request other than auth first
    context = ssl.create_default_context(cafile=str(certs.ca))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(encode({"id": 1, "op": "list"}))
        assert read_message(tls, 1 << 20, 0).header["error"]["code"] == "unauthenticated"
        assert tls.recv(1) == b""  # and the connection is closed
    # plaintext: the server never speaks our protocol without TLS
    with socket.create_connection(("127.0.0.1", port), timeout=10) as plain:
        plain.sendall(encode({"id": 1, "op": "auth", "token": RIS_TOKEN}))
        try:
            answer = plain.recv(100)
        except ConnectionResetError:
            answer = b""
        assert not answer.startswith(b"HCS1")
    # a client that does not trust the server's certificate refuses it
    with pytest.raises(ClientError, match="CERTIFICATE_VERIFY_FAILED"):
        Client(f"tls://127.0.0.1:{port}", token=RIS_TOKEN, ca_file=str(certs.untrusted_cert)).request("ping")
    with process.client() as local:   # and the daemon is fine
        assert local.request("ping")["ok"]


def test_listener_is_off_by_default(daemon):
    config = daemon.config.read_text()
    assert "[server.tcp]" not in config
    listening = open("/proc/net/tcp").read() + open("/proc/net/tcp6").read()
    # the daemon process has no listening TCP socket of its own
    inodes = {line.split()[9] for line in listening.splitlines()[1:] if line.split()[3] == "0A"}
    fds = os.listdir(f"/proc/{daemon.proc.pid}/fd")
    sockets = {os.readlink(f"/proc/{daemon.proc.pid}/fd/{fd}") for fd in fds}
    assert not any(f"socket:[{inode}]" in sockets for inode in inodes)
