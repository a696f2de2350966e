"""Remote clients' tokens: kept off the command line, apart from local users' names, throttled
when wrong, and the server's certificate dated at start. A real daemon on loopback."""
from __future__ import annotations

import json
import os
import socket
import ssl
import time
from datetime import UTC, datetime, timedelta

import pytest

from hcserver.client import Client, ClientError
from hcserver.protocol import PREFIX, read_message
from tests.support.configs import PREVIEW_CONFIG
from tests.support.daemon import DaemonProcess
from tests.support.hostile import hcq
from tests.support.tls import make_certificates

pytestmark = pytest.mark.slow   # each test starts a daemon

ROOT_TOKEN = "root-0123456789abcdef"     # a remote client named like the local superuser
OPS_TOKEN = "ops-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def remote(tmp_path):
    certs = make_certificates(tmp_path / "certs")
    port = free_port()
    config = PREVIEW_CONFIG.replace("retry_interval_s = 1", f"""retry_interval_s = 1
max_failed_auth_per_minute = 3

[server.tcp]
listen = "127.0.0.1:{port}"
cert_file = "{certs.server_cert}"
key_file = "{certs.server_key}"
[server.tcp.clients.root]
token = "{ROOT_TOKEN}"
[server.tcp.clients.ops]
token = "{OPS_TOKEN}"
admin = true
""")
    process = DaemonProcess(config).start()
    yield process, f"tls://127.0.0.1:{port}", certs
    process.cleanup()


def test_a_token_named_like_a_local_user_acts_as_tls_name_not_as_that_user(remote, images):
    process, url, certs = remote
    with process.client() as local_root:
        job = local_root.submit_files([images["CT_small.dcm"]], printer="film", hold=True)
    with Client(url, token=ROOT_TOKEN, ca_file=str(certs.ca)) as remote_root:
        assert remote_root.request("ping") == {"id": 1, "ok": True, "server": "hcserver", "user": "tls:root",
                                               "admin": False}
        with pytest.raises(ClientError, match="tls:root may not cancel job") as refused:
            remote_root.cancel(job)
        assert refused.value.code == "forbidden"
        own = remote_root.submit_files([images["CT_small.dcm"]], printer="film", hold=True)
        assert remote_root.show(own)["owner"] == "tls:root"
        remote_root.cancel(own)
    with Client(url, token=OPS_TOKEN, ca_file=str(certs.ca)) as ops:   # an admin token stays an admin
        assert ops.cancel(job)["state"] == "canceled"
    audit = [json.loads(line) for line in (process.dir / "var" / "audit.log").read_text().splitlines()]
    assert any(entry.get("who") == "tls:root" and entry.get("action") == "cancel" and entry.get("job") == job
               for entry in audit), audit[-4:]


def test_failed_token_attempts_are_throttled_per_address_and_logged(remote):
    process, url, certs = remote
    for _ in range(3):
        with pytest.raises(ClientError, match="valid token") as refused:
            Client(url, token="not-the-token-0000", ca_file=str(certs.ca)).request("ping")
        assert refused.value.code == "unauthenticated"
    # the fourth attempt within the minute is not even checked, a right token included
    with pytest.raises(ClientError, match=r"too many failed token attempts from 127\.0\.0\.1: try again in \d+ s"):
        Client(url, token=ROOT_TOKEN, ca_file=str(certs.ca)).request("ping")
    log = process.log.read_text()
    assert "remote client 127.0.0.1:" in log and "refused: bad or missing token (3 of 3 failed attempts" in log
    assert "refused without checking its token" in log
    with process.client() as local:   # local clients are not concerned
        assert local.request("ping")["ok"]


def test_a_token_with_a_lone_surrogate_is_answered(remote):
    process, url, certs = remote
    port = int(url.rpartition(":")[2])
    context = ssl.create_default_context(cafile=str(certs.ca))
    body = b'{"id":7,"op":"auth","token":"\\ud800-0123456789abcdef"}'
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(PREFIX.pack(b"HCS1", len(body), 0) + body)
        answer = read_message(tls, 1 << 20, 0).header
    assert answer["error"]["code"] == "unauthenticated" and "lone surrogate" in answer["error"]["message"]
    assert process.alive()


def test_a_certificate_near_its_end_is_warned_about_at_start(remote):
    from hcserver.server.transport import certificate_warning

    process, url, certs = remote   # the test certificates are valid for two days
    log = process.log.read_text()
    assert f"the TLS server certificate {certs.server_cert} expires on " in log and "in 1 day: renew it" in log
    later = datetime.now(UTC) + timedelta(days=3)
    assert "expired on" in certificate_warning(certs.server_cert, now=later)
    assert certificate_warning(certs.server_cert, now=datetime.now(UTC) - timedelta(days=60)) is None


def test_hcq_takes_the_token_from_a_file_or_the_environment_never_the_command_line(remote, tmp_path):
    process, url, certs = remote
    token_file = tmp_path / "token"
    token_file.write_text(ROOT_TOKEN + "\n")
    token_file.chmod(0o600)
    base = ("-s", url, "--ca-file", str(certs.ca))
    done, _ = hcq(process.socket, *base, "--token-file", str(token_file), "list")
    assert done.returncode == 0, done.stderr
    done, _ = hcq(process.socket, *base, "--token-file", "-", "list", stdin=ROOT_TOKEN.encode())
    assert done.returncode == 0, done.stderr
    done, _ = hcq(process.socket, *base, "list", env={"HCSERVER_TOKEN": ROOT_TOKEN})
    assert done.returncode == 0, done.stderr
    done, _ = hcq(process.socket, *base, "--token", ROOT_TOKEN, "list")
    assert done.returncode == 1
    assert done.stderr.strip() == ("hcq: --token would show the token to every user of this machine (ps): "
                                   "use --token-file FILE or $HCSERVER_TOKEN")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    done, _ = hcq(process.socket, *base, "--token-file", str(fifo), "list")
    assert done.returncode == 1 and "is a FIFO, not a regular file" in done.stderr
    assert time.monotonic() - started < 20
