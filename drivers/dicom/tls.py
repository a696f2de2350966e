"""TLS for printers with ``tls = true``: the client context from the printer's
settings, and an SSL socket that records why its handshake failed (so that the
reason for a failed association can say so: "the printer's certificate was
not accepted: self-signed certificate")."""
from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

from hcserver.drivers.settings import PrinterConfig


def tls_text(exc: BaseException) -> str:
    """An ssl error in words: the verification message, or OpenSSL's reason."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the printer's certificate was not accepted: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        reason = (exc.reason or "").replace("_", " ").lower()
        return reason or str(exc)
    if isinstance(exc, TimeoutError):
        return "no answer within the connect timeout"
    return str(exc) or type(exc).__name__


def tls_context(printer: PrinterConfig) -> ssl.SSLContext:
    """The client TLS context for a printer with ``tls = true`` (TLS 1.2 or later).

    ``tls_verify`` checks the printer's certificate against ``tls_ca_file`` and
    its name against ``tls_server_name`` (default: the host); ``tls_cert_file``
    (and ``tls_key_file``) is the client certificate for printers that ask
    for one. The files are read each time (a renewed certificate is used at
    once); ValueError says which one cannot be used and why.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if printer.tls_verify:
        if printer.tls_ca_file:
            _load_tls_file("tls_ca_file", printer.tls_ca_file, "no CA certificate could be read from it",
                           lambda: ctx.load_verify_locations(cafile=printer.tls_ca_file))
        else:                          # the configuration asks for a CA file; just in case
            ctx.load_default_certs()
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    cert_file = printer.tls_cert_file
    if cert_file:
        # never OpenSSL's passphrase prompt on the terminal: an encrypted key just fails
        _load_tls_file("tls_cert_file", cert_file,
                       "the certificate and its key could not be read (a key that needs a passphrase "
                       "is not supported)",
                       lambda: ctx.load_cert_chain(cert_file, printer.tls_key_file or None,
                                                   password=lambda: b""))
    return ctx


def _load_tls_file(key: str, path: str, unusable: str, load: Callable[[], None]) -> None:
    try:
        load()
    except ssl.SSLError as exc:
        raise ValueError(f"{key} {path}: {unusable}: {tls_text(exc)}") from exc
    except OSError as exc:
        raise ValueError(f"{key} {path}: {exc.strerror or exc}") from exc


def tls_args(printer: PrinterConfig, handshake_failed: Callable[[OSError], None]) -> tuple[ssl.SSLContext, str]:
    """pynetdicom's ``tls_args`` for the printer: its context, whose sockets tell
    ``handshake_failed`` why a handshake failed, and the name to check the certificate
    against. ValueError as :func:`tls_context`."""
    ctx = tls_context(printer)
    ctx.sslsocket_class = _recording_socket_class(handshake_failed)
    return ctx, printer.tls_server_name or printer.host


def _recording_socket_class(handshake_failed: Callable[[OSError], None]) -> type[ssl.SSLSocket]:
    """An SSLSocket that reports why its handshake failed (``SSLContext.sslsocket_class``)."""

    class _SSLSocket(ssl.SSLSocket):
        def do_handshake(self, *args: Any, **kwargs: Any) -> None:
            try:
                super().do_handshake(*args, **kwargs)
            except OSError as exc:
                handshake_failed(exc)
                raise

    return _SSLSocket
