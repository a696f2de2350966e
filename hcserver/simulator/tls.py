"""DICOM over TLS (PS3.15 B.1, the Basic TLS Secure Transport Connection Profile).

With an ``ssl_context`` pynetdicom's server wraps each accepted socket in its accept loop, and
the TLS handshake would run there, holding up every other connection while one client is slow
or silent: :class:`_DeferredHandshakeContext` makes the handshake happen on the first read, in
the association's thread.
"""
from __future__ import annotations

import socket
import ssl
from pathlib import Path
from typing import Any


class _DeferredHandshakeContext(ssl.SSLContext):
    """Wraps sockets without a handshake: it then happens on the first read, in
    the association's thread, not in the server's accept loop."""

    def wrap_socket(self, sock: socket.socket, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        kwargs["do_handshake_on_connect"] = False
        return super().wrap_socket(sock, *args, **kwargs)


def server_tls_context(cert_file: Path | str, key_file: Path | str | None = None,
                       ca_file: Path | str | None = None) -> ssl.SSLContext:
    """The simulator's TLS context: its certificate (and key, if not in the same file);
    with ``ca_file``, clients must present a certificate signed by that CA."""
    ctx = _DeferredHandshakeContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
    if ca_file:
        ctx.load_verify_locations(cafile=str(ca_file))
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx

