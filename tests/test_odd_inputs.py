"""Odd inputs get one line naming the problem: huge integers and lone surrogates in requests,
and files hcq cannot send (devices, FIFOs, files larger than the server takes)."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from hcserver.client import ClientError
from tests.support.hcq import hcq_command, hcq_environment, repo_on_path
from tests.support.hostile import hcq
from tests.support.proc import MB, peak_rss


@pytest.mark.parametrize("args", [{"since": 1 << 63}, {"job": 1 << 64}, {"seq": -(1 << 70)}])
def test_an_integer_beyond_64_bits_is_a_bad_request(daemon, args):
    with daemon.client() as client:
        with pytest.raises(ClientError, match=rf"argument '{next(iter(args))}' is out of range") as refused:
            client.request("events", timeout=0, **args)
    assert refused.value.code == "bad-request"


def test_a_lone_surrogate_is_bad_json_and_the_connection_goes_on(daemon):
    with daemon.client() as client:
        with pytest.raises(ClientError, match="lone surrogate") as refused:
            client.list(printer="\udcff")
        assert refused.value.code == "bad-json"
        with pytest.raises(ClientError, match="lone surrogate"):
            client.request("submit", spec={"images": ["sha256:00"], "label": "a\ud800b"})
        assert client.request("ping")["ok"]
    done, _ = hcq(daemon.socket, "list", "--printer", "film\udcff".encode("utf-8", "surrogateescape").decode(
        "utf-8", "surrogateescape"))
    assert done.returncode == 1 and "internal" not in done.stderr and "lone surrogate" in done.stderr


@pytest.mark.parametrize("path, kind", [("/dev/zero", "a character device"), ("fifo", "a FIFO"),
                                        ("directory", "a directory")])
def test_hcq_submit_refuses_what_is_not_a_regular_file(daemon, tmp_path, path, kind):
    if path == "fifo":
        path = str(tmp_path / "fifo")
        os.mkfifo(path)
    elif path == "directory":
        path = str(tmp_path)
    done, took = hcq(daemon.socket, "submit", "-p", "film", path, timeout=30)
    assert done.returncode == 1
    assert done.stderr == f"hcq: {path} is {kind}, not a regular file: only a regular file can be sent as an image\n"
    assert took < 20
    done, _ = hcq(daemon.socket, "submit", "--spec", path, timeout=30)
    assert done.returncode == 1 and f"{kind}, not a regular file" in done.stderr


def test_hcq_submit_of_a_file_over_the_limit_gets_the_servers_too_large_without_reading_it(daemon, tmp_path):
    """A 2 GiB file (sparse), beyond max_attachment_bytes (512 MiB): the server's refusal, not a
    broken pipe, and the client never holds the file in memory."""
    big = tmp_path / "big.dcm"
    with open(big, "wb") as f:
        f.truncate(2 << 30)
    probe = subprocess.Popen(hcq_command("submit", "-p", "film", big), env=hcq_environment(daemon, repo_on_path()),
                             stderr=subprocess.PIPE, text=True)
    peak = 0
    while probe.poll() is None:   # its largest resident size, to the end
        try:
            peak = max(peak, peak_rss(probe.pid))
        except (FileNotFoundError, ProcessLookupError, KeyError):
            break
        time.sleep(0.01)
    _, stderr = probe.communicate(timeout=60)
    assert probe.returncode == 1
    assert stderr == (f"hcq: {big}: attachment of {2 << 30} bytes exceeds the limit of {512 << 20} bytes\n")
    assert peak < 300 * MB
    # beyond what a frame can carry at all: said before anything is sent
    with open(big, "wb") as f:
        f.truncate(5 << 30)
    done, _ = hcq(daemon.socket, "submit", "-p", "film", str(big))
    assert done.returncode == 1 and "more than the 4294967295 bytes that can be sent as an image" in done.stderr
