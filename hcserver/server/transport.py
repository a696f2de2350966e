"""The sockets: the local Unix socket and the optional TLS listener for remote clients.

Each connection is served by its own thread: it learns who the peer is (the kernel's
SO_PEERCRED locally, a token remotely), then reads framed messages (hcserver.protocol), hands
each request to the request handler and sends its answer. A message that cannot be framed (bad
magic, oversized, truncated) gets an error and the connection is closed, since the stream is out
of step; a well-framed bad request (bad JSON, unknown operation, invalid spec) gets an error and
the connection stays open. Nothing a client sends can stop the server or touch other clients.

What a request does is not decided here: see hcserver.server.operations.
"""
from __future__ import annotations

import grp
import hmac
import logging
import os
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from hcserver.access import Peer, unix_peer
from hcserver.audit import AuditLog
from hcserver.config import ServerConfig
from hcserver.errors import ErrorCode
from hcserver.protocol import ProtocolError, encode, error, read_message

log = logging.getLogger(__name__)

CLIENT_IDLE_TIMEOUT_S = 3600  # a connection that sends nothing for this long is closed
AUTH_TIMEOUT_S = 10           # a remote client must finish TLS and auth within this


class RequestHandler(Protocol):
    """What answers requests (hcserver.server.operations.Operations)."""

    def handle(self, request: dict, attachment: bytes | bytearray, peer: Peer) -> tuple[dict, bytes]: ...


Send = Callable[..., bool]


class _Handler(socketserver.BaseRequestHandler):
    server: SocketServer | TlsServer

    def handle(self) -> None:
        self.request.settimeout(CLIENT_IDLE_TIMEOUT_S)
        self.sock, peer = self.server.open_connection(self.request, self._send)
        if peer is None:
            return
        limits = self.server.config.max_message_bytes, self.server.config.max_attachment_bytes
        while True:
            try:
                message = read_message(self.sock, *limits)
            except EOFError:
                return
            except ProtocolError as exc:
                self._send(error(None, exc.code, exc.message))
                if exc.fatal:
                    return
                continue
            except OSError:
                return
            response, attachment = self.server.operations.handle(message.header, message.attachment, peer)
            if not self._send(response, attachment):
                return

    def _send(self, response: dict, attachment: bytes = b"") -> bool:
        try:
            self.sock.sendall(encode(response, attachment))
            return True
        except OSError:
            return False


class _Serving:
    serve_forever: Callable[..., None]

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name=type(self).__name__, daemon=True)
        thread.start()
        return thread


class SocketServer(_Serving, socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """The local Unix socket: the kernel tells who the peer is."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, path: Path, config: ServerConfig, operations: RequestHandler):
        self.config, self.operations = config, operations
        # Only the service and its group may enter the socket's directory; the socket is 0660.
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o750)
        if path.exists() or path.is_socket():
            path.unlink()
        old_umask = os.umask(0o117)
        try:
            super().__init__(str(path), _Handler)
        finally:
            os.umask(old_umask)
        if config.socket_group:
            gid = grp.getgrnam(config.socket_group).gr_gid
            os.chown(path.parent, -1, gid)
            os.chown(path, -1, gid)

    def open_connection(self, sock: socket.socket, send: Send) -> tuple[socket.socket, Peer | None]:
        return sock, unix_peer(sock, self.config.admin_group)


class TlsServer(_Serving, socketserver.ThreadingMixIn, socketserver.TCPServer):
    """Remote clients: TLS only, and the first request must be ``auth`` with a configured token.
    The token's name is the owner of the client's jobs. A client that asked and was refused is
    recorded in the audit log (by its address: it has no name)."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, config: ServerConfig, operations: RequestHandler, audit: AuditLog | None = None):
        listener = config.tcp
        self.audit = audit
        if listener is None:
            raise ValueError("a TLS listener needs the [server.tcp] table")
        self.config, self.operations = config, operations
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.load_cert_chain(listener.cert_file, listener.key_file)
        self.clients = listener.clients
        super().__init__((listener.host, listener.port), _Handler)

    def open_connection(self, sock: socket.socket, send: Send) -> tuple[socket.socket, Peer | None]:
        sock.settimeout(AUTH_TIMEOUT_S)
        try:
            tls = self.context.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.info("remote client refused: TLS handshake failed (%s)", exc)
            return sock, None
        peer, asked = None, False
        try:
            message = read_message(tls, 4096, 0)
            request, asked = message.header, True
            token = request.get("token") if request.get("op") == "auth" else None
            peer = self._peer_for(token) if isinstance(token, str) else None
        except (ProtocolError, EOFError, OSError):
            request = {}
        reply = ({"id": request.get("id"), "ok": True, "user": peer.name, "admin": peer.admin} if peer
                 else error(request.get("id"), ErrorCode.UNAUTHENTICATED,
                            "the first request must be auth with a valid token"))
        if peer is None:
            log.info("remote client refused: bad or missing token")
            if asked:   # not a client that only connected (a port scan): one that tried
                self._audit_refusal(tls, request.get("op"))
        try:
            tls.sendall(encode(reply))
        except OSError:
            return tls, None
        tls.settimeout(CLIENT_IDLE_TIMEOUT_S)
        return tls, peer

    def _audit_refusal(self, sock: socket.socket, op) -> None:
        if self.audit is None:
            return
        try:
            host, port = sock.getpeername()[:2]
        except OSError:
            host, port = "?", 0
        try:
            self.audit.refused(f"{host}:{port}", "auth", ErrorCode.UNAUTHENTICATED,
                               "bad or missing token" if op == "auth" else "the first request was not auth")
        except OSError as exc:
            log.error("audit log: cannot record a refused remote client: %s", exc)

    def _peer_for(self, token: str) -> Peer | None:
        for client in self.clients:
            if hmac.compare_digest(client.token.encode(), token.encode()):
                return Peer(client.name, admin=client.admin)
        return None
