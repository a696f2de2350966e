"""Coverage-guided fuzzing of the socket protocol decoder and request handling (atheris).

Outside CI; run for as long as you like:

    pip install atheris
    PYTHONPATH=. python fuzz/fuzz_requests.py -max_total_time=600

Any exception other than the decoder's documented errors, or a request answered with an
"internal" error, is a finding: atheris stops and saves the input.
"""
from __future__ import annotations

import json
import socket
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from hcserver.access import Peer
    from hcserver.protocol import ProtocolError, read_message
    from tests.support.operations import NEEDS_WORKERS, make_operations

OPS = make_operations(Path(tempfile.mkdtemp(prefix="hcs-fuzz-")))
PEER = Peer("fuzzer", admin=True)
SKIP = NEEDS_WORKERS | {"wait"}


def one_input(data: bytes) -> None:
    left, right = socket.socketpair()
    with left, right:
        left.sendall(data)
        left.shutdown(socket.SHUT_WR)
        while True:
            try:
                message = read_message(right, 1 << 16, 1 << 16)
            except (EOFError, ProtocolError):
                return
            if message.header.get("op") in SKIP:
                continue
            response, _ = OPS.handle(message.header, message.attachment, PEER)
            if not response["ok"] and response["error"]["code"] == "internal":
                raise AssertionError(json.dumps(response))


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
