"""TCP ports for tests: always a free one the OS hands out, never a fixed number (tests run in
parallel with other checkouts and services on the same machine)."""
from __future__ import annotations

import socket


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (the OS's choice; free when returned)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
