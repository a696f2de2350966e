"""The sockets: the local Unix socket and the optional TLS listener for remote clients.

One thread accepts each listener's connections; each admitted connection is served by a thread
of its own: it learns who the peer is (the kernel's SO_PEERCRED locally, a token remotely),
then reads framed messages (hcserver.protocol), hands each request to the request handler and
sends its answer. A message that cannot be framed (bad magic, oversized, truncated, stalled)
gets an error and the connection is closed, since the stream is out of step; a well-framed bad
request (bad JSON, unknown operation, invalid spec) gets an error and the connection stays open.
Nothing a client sends can stop the server or touch other clients.

What a client can hold is bounded (the keys are in hcserver.config; the counters, the upload
budget and the token throttle are in hcserver.server.admission):

- connections: ``max_connections`` in all, ``max_connections_per_user`` per Unix user or token
  (administrators are not counted per user), and the last ``reserved_admin_connections`` of the
  total only for administrators, so root's ``hcq`` gets in while others hold all they may. A
  connection over a limit is told so in one framed error and closed; remote clients, whose
  name is known only after TLS and ``auth``, are counted by address until then (and refused
  without a word while the total is full). The daemon raises its file-descriptor limit to the
  hard limit, and serves no more connections than fit in it (:func:`connection_capacity`); an
  accept that finds no descriptor free refuses the waiting clients and pauses, never spins;
- time: a connection that sends nothing for ``idle_timeout_s`` is closed, and a message that
  stops arriving for ``stall_timeout_s`` is dropped with its connection;
- memory: a message's buffers grow with the bytes received, never from the length its frame
  announces, and the attachments being received at once may not pass
  ``max_pending_upload_bytes`` (past it an upload waits up to ``stall_timeout_s`` for room,
  then is refused as ``busy``);
- tokens: a remote address gets ``max_failed_auth_per_minute`` failed token attempts a minute,
  then is refused (``throttled``) without its tokens being checked; each failure is logged with
  the address. A remote client acts as ``tls:<name>``, never as the local user of that name.

What a request does is not decided here: see hcserver.server.operations.
"""
from __future__ import annotations

import base64
import binascii
import errno
import grp
import hmac
import logging
import math
import os
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from hcserver.access import Peer, unix_peer
from hcserver.audit import AuditLog
from hcserver.budget import ByteBudget
from hcserver.config import ServerConfig
from hcserver.errors import ErrorCode
from hcserver.protocol import ProtocolError, encode, error, read_message
from hcserver.server.admission import Admission, FailedAuth, PendingUpload

log = logging.getLogger(__name__)

AUTH_TIMEOUT_S = 10           # a remote client must finish TLS and auth within this
BACKLOG = max(socket.SOMAXCONN, 4096)   # the kernel caps it at net.core.somaxconn
CERT_WARNING_DAYS = 30        # a server certificate this close to its end is warned about at start
REMOTE_PREFIX = "tls:"        # remote owners' names: no Unix user name has a colon
_ACCEPT_BATCH = 64            # connections accepted in one turn of the accept loop


class RequestHandler(Protocol):
    """What answers requests (hcserver.server.operations.Operations)."""

    def handle(self, request: dict, attachment: bytes | bytearray, peer: Peer) -> tuple[dict, bytes]: ...


# ---- the accept loop's helpers ---------------------------------------------------


class _Every:
    """A log line said at most once a minute, with how many times it happened."""

    def __init__(self, level: int = logging.WARNING, seconds: float = 60.0):
        self.level, self.seconds = level, seconds
        self._last, self._count = -math.inf, 0
        self._lock = threading.Lock()

    def __call__(self, message: str, *args) -> None:
        with self._lock:
            self._count += 1
            now = time.monotonic()
            if now - self._last < self.seconds:
                return
            count, self._count, self._last = self._count, 0, now
        log.log(self.level, message + (f" ({count} times in the last minute)" if count > 1 else ""), *args)


def _spare_descriptor() -> int | None:
    try:
        return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


# ---- the listeners ------------------------------------------------------------------


class _Admitted:
    """An admitted connection: who it is counted as."""

    def __init__(self, who: str):
        self.who = who


class _Listener:
    """Accepts connections on one listening socket and serves each admitted one in a thread."""

    def __init__(self, listening: socket.socket, config: ServerConfig, operations: RequestHandler,
                 admission: Admission | None, budget: ByteBudget | None):
        self.socket = listening
        self.socket.setblocking(False)
        self.config, self.operations = config, operations
        self.admission = admission or Admission(config)
        self.budget = budget or ByteBudget(config.max_pending_upload_bytes)
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        # Closed to accept (and refuse) clients when every other descriptor is taken.
        self._spare = _spare_descriptor()
        self._thread: threading.Thread | None = None
        self._refused = _Every()
        self._no_descriptor = _Every(logging.ERROR)

    @property
    def server_address(self):
        return self.socket.getsockname()

    def serve_in_thread(self) -> threading.Thread:
        self._thread = threading.Thread(target=self.serve_forever, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self._thread

    def serve_forever(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stop.is_set():
                selector.select()
                if not self._stop.is_set():
                    self._accept_ready()

    def shutdown(self) -> None:
        """Stop accepting (connections being served go on until the process ends)."""
        self._stop.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10)

    def server_close(self) -> None:
        self.socket.close()
        self._wake_r.close()
        self._wake_w.close()
        if self._spare is not None:
            os.close(self._spare)
            self._spare = None

    def _accept_ready(self) -> None:
        for _ in range(_ACCEPT_BATCH):
            try:
                conn, address = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._out_of_descriptors(exc)
                    return
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO):
                    continue   # the client gave up before we got to it
                log.error("accepting a connection failed: %s", exc)
                self._stop.wait(0.1)
                return
            try:
                self._admit(conn, address)
            except Exception:   # a bug must cost one connection, never the listener
                log.exception("a new connection could not be served")
                conn.close()

    def _out_of_descriptors(self, exc: OSError) -> None:
        """No descriptor is free for a new connection. The listening socket stays readable while
        clients wait, so the loop would spin on it: free the spare descriptor, accept and refuse
        the clients waiting, and pause before trying again."""
        self._no_descriptor("cannot accept connections: %s; refusing clients until connections close",
                            exc.strerror or exc)
        if self._spare is not None:
            os.close(self._spare)
            self._spare = None
        for _ in range(_ACCEPT_BATCH):
            try:
                conn, _ = self.socket.accept()
            except OSError:
                break
            self._refuse(conn, "the server is out of file descriptors: try again later")
        self._spare = _spare_descriptor()
        self._stop.wait(0.1)

    def _start(self, conn: socket.socket, who: str, serve: Callable[[_Admitted], None]) -> None:
        """Serve an admitted connection in its own thread; it leaves the count when it ends."""
        admitted = _Admitted(who)

        def run() -> None:
            try:
                serve(admitted)
            except Exception:
                log.exception("connection of %s failed", admitted.who)
            finally:
                self.admission.leave(admitted.who)
                conn.close()

        thread = threading.Thread(target=run, name=f"conn {who}", daemon=True)
        try:
            thread.start()
        except RuntimeError as exc:   # no thread to be had: as if no descriptor
            self.admission.leave(who)
            self._refuse(conn, f"the server cannot serve another connection now ({exc}): try again later")

    def _admit(self, conn: socket.socket, address) -> None:
        raise NotImplementedError

    def _refuse(self, conn: socket.socket, message: str) -> None:
        conn.close()

    def converse(self, sock: socket.socket, peer: Peer) -> None:
        """Requests and answers, until the client closes, idles too long or breaks the framing."""
        config = self.config
        while True:
            sock.settimeout(config.idle_timeout_s)
            pending = PendingUpload(self.budget, config.stall_timeout_s)
            try:
                message = read_message(sock, config.max_message_bytes, config.max_attachment_bytes,
                                       stall_timeout=config.stall_timeout_s, reserve=pending.take)
            except (EOFError, TimeoutError):   # closed, or idle for idle_timeout_s
                pending.release()
                return
            except ProtocolError as exc:
                pending.release()
                if exc.code == ErrorCode.STALLED:
                    log.info("dropped a stalled message from %s: %s", peer.name, exc.message)
                sock.settimeout(config.stall_timeout_s)
                self._send(sock, error(None, exc.code, exc.message))
                if exc.fatal:
                    return
                continue
            except OSError:
                pending.release()
                return
            try:
                response, attachment = self.operations.handle(message.header, message.attachment, peer)
            finally:
                del message   # the attachment's memory goes with its share of the budget
                pending.release()
            sock.settimeout(config.idle_timeout_s)
            if not self._send(sock, response, attachment):
                return

    @staticmethod
    def _send(sock: socket.socket, response: dict, attachment: bytes = b"") -> bool:
        try:
            sock.sendall(encode(response, attachment))
            return True
        except OSError:
            return False


class SocketServer(_Listener):
    """The local Unix socket: the kernel tells who the peer is."""

    def __init__(self, path: Path, config: ServerConfig, operations: RequestHandler,
                 admission: Admission | None = None, budget: ByteBudget | None = None):
        # Only the service and its group may enter the socket's directory; the socket is 0660.
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o750)
        if path.exists() or path.is_socket():
            path.unlink()
        listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o117)
        try:
            listening.bind(str(path))
        except OSError:
            listening.close()
            raise
        finally:
            os.umask(old_umask)
        listening.listen(BACKLOG)
        if config.socket_group:
            gid = grp.getgrnam(config.socket_group).gr_gid
            os.chown(path.parent, -1, gid)
            os.chown(path, -1, gid)
        super().__init__(listening, config, operations, admission, budget)

    def _admit(self, conn: socket.socket, address) -> None:
        peer = unix_peer(conn, self.config.admin_group)
        refusal = self.admission.enter(peer.name, peer.admin)
        if refusal is not None:
            self._refused("refused a connection of %s: %s", peer.name, refusal)
            self._refuse(conn, refusal)
            return
        self._start(conn, peer.name, lambda _: self.converse(conn, peer))

    def _refuse(self, conn: socket.socket, message: str) -> None:
        """One framed error, then close. A new connection's send buffer is empty: the frame fits
        without waiting, whatever the client does."""
        try:
            conn.setblocking(False)
            conn.send(encode(error(None, ErrorCode.TOO_MANY_CONNECTIONS, message)))
        except OSError:
            pass
        conn.close()


class TlsServer(_Listener):
    """Remote clients: TLS only, and the first request must be ``auth`` with a configured token.
    The token's name, as ``tls:<name>``, is the owner of the client's jobs. A client that asked
    and was refused is recorded in the audit log and the daemon's log (by its address: it has
    no name)."""

    def __init__(self, config: ServerConfig, operations: RequestHandler, audit: AuditLog | None = None,
                 admission: Admission | None = None, budget: ByteBudget | None = None):
        listener = config.tcp
        self.audit = audit
        if listener is None:
            raise ValueError("a TLS listener needs the [server.tcp] table")
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.load_cert_chain(listener.cert_file, listener.key_file)
        warning = certificate_warning(listener.cert_file)
        if warning:
            log.warning("%s", warning)
        self.clients = listener.clients
        self.failed_auth = FailedAuth(config.max_failed_auth_per_minute)
        family = socket.AF_INET6 if ":" in listener.host else socket.AF_INET
        listening = socket.create_server((listener.host, listener.port), family=family, backlog=BACKLOG)
        super().__init__(listening, config, operations, admission, budget)

    def _admit(self, conn: socket.socket, address) -> None:
        who = f"address {address[0]}"   # until its token names it
        refusal = self.admission.enter(who, admin=False)
        if refusal is not None:   # no TLS yet to say it in: close
            self._refused("refused a remote connection from %s: %s", address[0], refusal)
            conn.close()
            return
        self._start(conn, who, lambda admitted: self._serve_remote(conn, address, admitted))

    def _serve_remote(self, conn: socket.socket, address, admitted: _Admitted) -> None:
        conn.settimeout(AUTH_TIMEOUT_S)
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.info("remote client %s refused: TLS handshake failed (%s)", _where(address), exc)
            return
        try:
            peer, request_id = self._authenticate(tls, address)
            if peer is None:
                return
            refusal = self.admission.rename(admitted.who, peer.name, peer.admin)
            if refusal is not None:
                self._refused("refused a connection of %s: %s", peer.name, refusal)
                self._send(tls, error(request_id, ErrorCode.TOO_MANY_CONNECTIONS, refusal))
                return
            admitted.who = peer.name
            if self._send(tls, {"id": request_id, "ok": True, "user": peer.name, "admin": peer.admin}):
                self.converse(tls, peer)
        finally:
            tls.close()

    def _authenticate(self, tls: socket.socket, address) -> tuple[Peer | None, object]:
        """The peer the ``auth`` request's token names, or None once the client was told why not."""
        host = address[0]
        request: dict = {}
        problem = None
        try:
            request = read_message(tls, 4096, 0, stall_timeout=AUTH_TIMEOUT_S).header
        except ProtocolError as exc:
            problem = exc.message
        except (EOFError, OSError):
            return None, None   # connected and said nothing (a port scan): nothing to answer
        request_id = request.get("id")
        wait = self.failed_auth.wait_s(host)
        if wait > 0:
            log.warning("remote client %s refused without checking its token: %d failed attempts from %s in "
                        "the last minute (max_failed_auth_per_minute)", _where(address),
                        self.failed_auth.limit, host)
            self._send(tls, error(request_id, ErrorCode.THROTTLED,
                                  f"too many failed token attempts from {host}: try again in {math.ceil(wait)} s"))
            return None, request_id
        token = request.get("token") if request.get("op") == "auth" else None
        peer = self._peer_for(token) if isinstance(token, str) else None
        if peer is not None:
            return peer, request_id
        why = problem or ("bad or missing token" if request.get("op") == "auth" else "the first request was not auth")
        failures = self.failed_auth.failed(host)
        log.warning("remote client %s refused: %s (%d of %d failed attempts allowed a minute from %s)",
                    _where(address), why, failures, self.failed_auth.limit, host)
        self._audit_refusal(address, why)
        self._send(tls, error(request_id, ErrorCode.UNAUTHENTICATED,
                              f"the first request must be auth with a valid token{f' ({problem})' if problem else ''}"))
        return None, request_id

    def _audit_refusal(self, address, why: str) -> None:
        if self.audit is None:
            return
        try:
            self.audit.refused(_where(address), "auth", ErrorCode.UNAUTHENTICATED, why)
        except OSError as exc:
            log.error("audit log: cannot record a refused remote client: %s", exc)

    def _peer_for(self, token: str) -> Peer | None:
        offered = token.encode("utf-8", "surrogatepass")
        for client in self.clients:
            if hmac.compare_digest(client.token.encode(), offered):
                return Peer(REMOTE_PREFIX + client.name, admin=client.admin)
        return None


def _where(address) -> str:
    host, port = address[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# ---- the server's certificate -------------------------------------------------------


def certificate_warning(cert_file: Path, now: datetime | None = None) -> str | None:
    """What to say at start about a server certificate that has expired or soon will (None: nothing)."""
    try:
        not_after = _not_after(Path(cert_file).read_bytes())
    except (OSError, ValueError, IndexError):
        return None   # it loaded, so it is a certificate: one this reader cannot date is not warned about
    now = now or datetime.now(UTC)
    left = not_after - now
    date = not_after.strftime("%Y-%m-%d %H:%M UTC")
    if left.total_seconds() <= 0:
        return (f"the TLS server certificate {cert_file} expired on {date}: remote clients will refuse to "
                f"connect until it is renewed")
    if left.days < CERT_WARNING_DAYS:
        days = left.days
        return (f"the TLS server certificate {cert_file} expires on {date}, in {days} day{'s' if days != 1 else ''}: "
                f"renew it before remote clients refuse it")
    return None


def _not_after(pem: bytes) -> datetime:
    """The end of validity of the first certificate of a PEM file (a little DER: RFC 5280 4.1)."""
    begin, end = b"-----BEGIN CERTIFICATE-----", b"-----END CERTIFICATE-----"
    start = pem.index(begin) + len(begin)
    try:
        der = base64.b64decode(b"".join(pem[start:pem.index(end, start)].split()), validate=True)
    except binascii.Error as exc:
        raise ValueError(str(exc)) from None

    def items(data: bytes, pos: int, stop: int):
        while pos < stop:
            tag, length = data[pos], data[pos + 1]
            pos += 2
            if length & 0x80:
                count = length & 0x7F
                length = int.from_bytes(data[pos:pos + count], "big")
                pos += count
            yield tag, pos, pos + length
            pos += length

    _, cert_start, cert_end = next(items(der, 0, len(der)))                 # Certificate
    _, tbs_start, tbs_end = next(items(der, cert_start, cert_end))          # TBSCertificate
    fields = [item for item in items(der, tbs_start, tbs_end)]
    if fields[0][0] == 0xA0:                                                 # [0] version
        fields = fields[1:]
    _, validity_start, validity_end = fields[3]          # serial, signature, issuer, validity
    _, (tag, start, stop) = list(items(der, validity_start, validity_end))  # notBefore, notAfter
    text = der[start:stop].decode("ascii").rstrip("Z")
    if tag == 0x17:     # UTCTime: YYMMDDHHMMSS, years 1950-2049
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    return datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
