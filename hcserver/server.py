"""The socket server: reads framed requests, runs them, answers; many clients at once.

Each connection is served by its own thread. A request that cannot be framed
(bad magic, oversized, truncated) gets an error and the connection is closed,
since the stream is out of step; a well-framed bad request (bad JSON, unknown
operation, invalid spec) gets an error and the connection stays open.
Nothing a client sends can stop the server or touch other clients.
"""
from __future__ import annotations

import errno
import functools
import grp
import hmac
import io
import logging
import os
import socket
import socketserver
import ssl
import threading
from pathlib import Path

import pydicom

from hcserver import formatter
from hcserver.access import Forbidden, Peer, require_admin, require_owner_or_admin, unix_peer
from hcserver.audit import AuditLog
from hcserver.config import ConfigError, ServerConfig
from hcserver.dispatch import Dispatcher
from hcserver.drivers.base import PrintFailure
from hcserver.errors import ErrorCode
from hcserver.events import EventBus
from hcserver.formatting import FormatPool, FormattingCrashed
from hcserver.jobspec import JobSpecValidator, SpecError
from hcserver.printer_drivers import build_driver
from hcserver.protocol import ProtocolError, encode, error, read_message
from hcserver.queue import JobQueue, QueueError
from hcserver.queue.joblist import JobListCache
from hcserver.spool import Spool, SpoolError
from hcserver.states import JobState, PrinterTransition
from hcserver.uploads import QuotaExceeded, UploadQuota

log = logging.getLogger(__name__)

IMAGE_REF_PREFIX = "sha256:"
ECHO_WAIT_S = 5               # how long echo waits for a busy printer worker
MAX_WAIT_S = 300              # one wait request; clients wait longer by asking again
CLIENT_IDLE_TIMEOUT_S = 3600  # a connection that sends nothing for this long is closed
AUTH_TIMEOUT_S = 10           # a remote client must finish TLS and auth within this


class RequestError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class Operations:
    """What each request ``op`` does. Methods named ``op_<name>`` with dashes as underscores."""

    def __init__(self, config: ServerConfig, queue: JobQueue, spool: Spool, bus: EventBus,
                 dispatcher: Dispatcher, audit: AuditLog, formatting: FormatPool, reload=None,
                 quota: UploadQuota | None = None):
        self.queue, self.spool, self.bus, self.dispatcher = queue, spool, bus, dispatcher
        self.quota = quota if quota is not None else UploadQuota()   # shared with the daemon's orphan collection
        self.audit, self.formatting = audit, formatting
        self._reload = reload
        self.job_list = JobListCache(queue.views, bus)
        self.use_config(config)

    def use_config(self, config: ServerConfig) -> None:
        self.config = config
        self.validator = JobSpecValidator(config, self._resolve_image, self._image_info)

    # ---- helpers --------------------------------------------------------------------

    def _resolve_image(self, reference, field: str) -> str:
        if not isinstance(reference, str) or not reference.startswith(IMAGE_REF_PREFIX):
            raise SpecError(field, f"expected an uploaded image reference \"sha256:<digest>\", got {reference!r}")
        digest = reference[len(IMAGE_REF_PREFIX):]
        if not self.spool.exists(digest):
            raise SpecError(field, f"image {reference} has not been uploaded")
        return digest

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one Operations lives as long as the daemon
    def _image_info(self, digest: str) -> formatter.ImageInfo:
        return formatter.inspect_image(self.spool.path(digest), self.config.max_image_pixels)

    @staticmethod
    def _arg(request: dict, key: str, kind: type | tuple, required: bool = True, default=None):
        if key not in request:
            if required:
                raise RequestError(ErrorCode.BAD_REQUEST, f"missing argument {key!r}")
            return default
        value = request[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise RequestError(ErrorCode.BAD_REQUEST, f"argument {key!r} has the wrong type")
        return value

    def _job_id(self, request: dict) -> int:
        job = self._arg(request, "job", int)
        if not 0 < job < 1 << 62:
            raise RequestError(ErrorCode.UNKNOWN_JOB, f"no job {job}")
        return job

    def _printer_name(self, request: dict) -> str:
        name = self._arg(request, "printer", str)
        if name not in self.config.printers:
            raise RequestError(ErrorCode.UNKNOWN_PRINTER, f"no printer {name!r} (configured: "
                                                          f"{', '.join(self.config.printers)})")
        return name

    # ---- operations -----------------------------------------------------------------

    def op_ping(self, request, attachment, peer):
        return {"server": "hcserver", "user": peer.name, "admin": peer.admin}

    def op_upload(self, request, attachment, peer):
        """Store one image in the spool, within the owner's upload quota (hcserver.uploads)."""
        try:
            reservation = self.quota.reserve(peer.name, len(attachment), self.config.max_upload_bytes_per_owner)
        except QuotaExceeded as exc:
            name = self._arg(request, "name", str, required=False, default="uploaded image")
            raise RequestError(ErrorCode.UPLOAD_QUOTA, f"{name}: {exc}") from None
        with reservation:
            answer = self._store_upload(request, attachment, peer)
            reservation.keep(answer["image"][len(IMAGE_REF_PREFIX):])
        return answer

    def _store_upload(self, request, attachment, peer):
        """Store one image in the spool; refuse it at once if it cannot be printed."""
        name = self._arg(request, "name", str, required=False, default="uploaded image")
        if not attachment:
            raise RequestError(ErrorCode.BAD_REQUEST, "upload needs the image bytes as the attachment")
        try:
            formatter.screen(attachment, name)   # what is not DICOM costs no hashing and no spool space
        except formatter.UnprintableImage as exc:
            raise RequestError(ErrorCode.UNPRINTABLE_IMAGE, f"{name}: {exc.reason}") from None
        free = self.spool.free_bytes()
        if free - len(attachment) < self.config.min_free_spool_bytes:
            raise RequestError(ErrorCode.SPOOL_FULL, f"{name}: the spool has only {free >> 20} MiB free (at least "
                                                     f"{self.config.min_free_spool_bytes >> 20} MiB must stay free); "
                                                     f"queued jobs are kept")
        try:
            digest = self.spool.put(attachment)
        except SpoolError as exc:
            raise RequestError(ErrorCode.SPOOL_FULL if exc.errno == errno.ENOSPC else ErrorCode.SPOOL_ERROR,
                               f"{name}: {exc}") from None
        try:
            info = self._image_info(digest)
        except formatter.UnprintableImage as exc:
            self.spool.remove(digest, min_age_s=0)   # no job can use it: do not keep it
            too_large = isinstance(exc, formatter.ImageTooLarge)
            code = ErrorCode.IMAGE_TOO_LARGE if too_large else ErrorCode.UNPRINTABLE_IMAGE
            raise RequestError(code, f"{name}: {exc.reason}") from None
        return {"image": IMAGE_REF_PREFIX + digest, "frames": info.frames, "rows": info.rows,
                "columns": info.columns, "color": info.color}

    def _normalise(self, request) -> dict:
        spec = self._arg(request, "spec", dict)
        try:
            return self.validator.normalise(spec)
        except SpecError as exc:
            raise RequestError(ErrorCode.INVALID_SPEC, str(exc)) from None
        except formatter.UnprintableImage as exc:
            too_large = isinstance(exc, formatter.ImageTooLarge)
            code = ErrorCode.IMAGE_TOO_LARGE if too_large else ErrorCode.UNPRINTABLE_IMAGE
            raise RequestError(code, str(exc)) from None

    def op_submit(self, request, attachment, peer):
        job = self._normalise(request)
        if not self.queue.printers.get(job["printer"]).accepting:
            raise RequestError(ErrorCode.NOT_ACCEPTING, f"printer {job['printer']!r} is not accepting jobs")
        queued = self.queue.views.queued_count(peer.name)
        if queued >= self.config.max_jobs_per_owner:
            raise RequestError(ErrorCode.QUEUE_LIMIT, f"{peer.name} already has {queued} jobs queued (the limit is "
                                                      f"{self.config.max_jobs_per_owner})")
        hold = self._arg(request, "hold", bool, required=False, default=False)
        job_id = self.queue.jobs.submit(peer.name, job, held=hold, details=self._patient_details(job))
        self.quota.submitted(peer.name, {frame["image"] for film in job["films"] for frame in film["frames"]})
        self.audit.record(peer.name, "submit", job=job_id, printer=job["printer"], films=len(job["films"]),
                          held=hold)
        return {"job": job_id, "films": len(job["films"])}

    def _patient_details(self, job: dict) -> dict:
        """Patient names and IDs for the submit event, only where the configuration allows it."""
        if not self.config.log_patient_data:
            return {}
        patients = set()
        for digest in {frame["image"] for film in job["films"] for frame in film["frames"]}:
            header = pydicom.dcmread(self.spool.path(digest), stop_before_pixels=True,
                                     specific_tags=["PatientName", "PatientID"])
            patients.add(f"{header.get('PatientName', '')} ({header.get('PatientID', '')})")
        return {"patients": sorted(patients)}

    def op_list(self, request, attachment, peer):
        """The jobs, in print order. With ``raw``, the list comes as JSON bytes in the attachment
        (what ``hcq list --json`` prints as it is), kept up to date job by job (hcserver.queue.joblist)."""
        history = self._arg(request, "all", bool, required=False, default=False)
        printer = self._arg(request, "printer", str, required=False)
        if not self._arg(request, "raw", bool, required=False, default=False):
            return {"jobs": self.queue.views.list_jobs(include_history=history, printer=printer)}
        return {"format": "json", "_attachment": self.job_list.json(include_history=history, printer=printer)}

    def op_show(self, request, attachment, peer):
        log = self._arg(request, "log", bool, required=False, default=False)
        return {"job": self.queue.views.show(self._job_id(request), log=log)}

    def op_events(self, request, attachment, peer):
        """Long poll: job events after event id ``since`` (optionally of one ``job``). Answers at once
        if there are some, else when anything changes (a job or a printer) or after ``timeout``.
        Pass back ``last`` and ``seq`` from the answer to follow on."""
        since = self._arg(request, "since", int, required=False)
        job = self._arg(request, "job", int, required=False)
        seen = self._arg(request, "seq", int, required=False)
        timeout = self._arg(request, "timeout", (int, float), required=False, default=30)
        if not 0 <= timeout <= MAX_WAIT_S:
            raise RequestError(ErrorCode.BAD_REQUEST, f"timeout must be 0 to {MAX_WAIT_S} seconds")
        seq = self.bus.seq
        events, last = self.queue.views.events_since(since, job)
        if not events and since is not None and (seen is None or seen == seq):
            self.bus.wait_change(seq, timeout)
            seq = self.bus.seq
            events, last = self.queue.views.events_since(since, job)
        return {"events": events, "last": last, "seq": seq}

    def op_reprint(self, request, attachment, peer):
        """Queue a copy of a job (CUPS: lp -i ID -H restart); the copy belongs to the caller."""
        job_id = self._own_job(request, peer, "reprint")
        try:
            job = self.validator.normalise(self.queue.views.job_spec(job_id))
        except SpecError as exc:
            raise RequestError(ErrorCode.INVALID_SPEC, f"job {job_id} cannot be printed again: {exc}") from None
        new_id = self.queue.jobs.submit(peer.name, job, details={"reprint_of": job_id})
        self.audit.record(peer.name, "reprint", job=new_id, original=job_id)
        return {"job": new_id, "films": len(job["films"])}

    def _own_job(self, request, peer: Peer, action: str) -> int:
        job_id = self._job_id(request)
        require_owner_or_admin(peer, self.queue.views.owner_of(job_id), action, job_id)
        return job_id

    def _job_action(self, request, peer: Peer, action: str, change) -> dict:
        """An owner's (or admin's) action on one job, audited."""
        job_id = self._own_job(request, peer, action)
        result = change(job_id, peer.name)
        self.audit.record(peer.name, action, job=job_id)
        return {"job": result}

    def op_cancel(self, request, attachment, peer):
        return self._job_action(request, peer, "cancel", self.queue.jobs.cancel)

    def op_hold(self, request, attachment, peer):
        return self._job_action(request, peer, "hold", self.queue.jobs.hold)

    def op_release(self, request, attachment, peer):
        return self._job_action(request, peer, "release", self.queue.jobs.release)

    def op_priority(self, request, attachment, peer):
        job_id = self._own_job(request, peer, "reprioritise")
        priority = self._arg(request, "priority", str)
        result = self.queue.jobs.set_priority(job_id, priority, peer.name)
        self.audit.record(peer.name, "priority", job=job_id, priority=priority)
        return {"job": result}

    def op_move(self, request, attachment, peer):
        """Move a waiting job, after checking the target printer can print it as it stands."""
        job_id, target = self._own_job(request, peer, "move"), self._printer_name(request)
        if not self.queue.printers.get(target).accepting:
            raise RequestError(ErrorCode.NOT_ACCEPTING, f"printer {target!r} is not accepting jobs")
        spec = self.queue.views.job_spec(job_id)
        spec["printer"] = target
        try:
            checked = self.validator.normalise(spec)
        except SpecError as exc:
            raise RequestError(ErrorCode.INVALID_SPEC, f"job {job_id} cannot print on {target}: {exc}") from None
        result = self.queue.jobs.move(job_id, target, peer.name, color=checked["color"])
        self.audit.record(peer.name, "move", job=job_id, printer=target)
        return {"job": result}

    def op_wait(self, request, attachment, peer):
        """Answer when the job has ended (or after ``timeout`` seconds)."""
        job_id = self._job_id(request)
        timeout = self._arg(request, "timeout", (int, float), required=False, default=30)
        if not 0 <= timeout <= MAX_WAIT_S:  # also refuses NaN
            raise RequestError(ErrorCode.BAD_REQUEST, f"timeout must be 0 to {MAX_WAIT_S} seconds")
        done = self.bus.wait_until(lambda: JobState(self.queue.views.state_of(job_id)).terminal, timeout)
        return {"job": self.queue.views.show(job_id), "timed_out": not done}

    def op_printers(self, request, attachment, peer):
        views = self.queue.printers.views()
        for view in views:
            printer = self.config.printers.get(view["name"])
            view["configured"] = printer is not None
            worker = self.dispatcher.workers.get(view["name"])
            view["association"] = worker.driver.association_state() if worker else None
            if printer:
                view["driver"] = printer.driver
                if printer.driver == "dicom":
                    view["address"] = f"{printer.ae_title}@{printer.host}:{printer.port}"
        return {"printers": views}

    def _printer_admin(self, request, peer: Peer, transition: PrinterTransition, reason: str | None = None):
        name = self._printer_name(request)
        require_admin(peer, f"{transition.value} printer {name}")
        changes = self.queue.printers.change(name, transition, reason)
        self.dispatcher.wake(name)
        self.audit.record(peer.name, transition.value, printer=name)
        return {"printer": name, **changes}

    def op_enable(self, request, attachment, peer):
        return self._printer_admin(request, peer, PrinterTransition.ENABLE)

    def op_disable(self, request, attachment, peer):
        reason = self._arg(request, "reason", str, required=False) or f"disabled by {peer.name}"
        return self._printer_admin(request, peer, PrinterTransition.DISABLE, reason)

    def op_accept(self, request, attachment, peer):
        return self._printer_admin(request, peer, PrinterTransition.ACCEPT)

    def op_reject(self, request, attachment, peer):
        return self._printer_admin(request, peer, PrinterTransition.REJECT)

    def op_reload(self, request, attachment, peer):
        """Re-read the configuration and apply printer changes (as SIGHUP does)."""
        require_admin(peer, "reload the configuration")
        try:
            summary = self._reload()
        except ConfigError as exc:
            raise RequestError(ErrorCode.BAD_CONFIG, f"configuration not reloaded: {exc}") from None
        self.audit.record(peer.name, "reload", **summary)
        return summary

    def op_echo(self, request, attachment, peer):
        """C-ECHO + printer status. Run by the printer's worker between jobs (so a printer that
        serves one association at a time is not kept waiting by ours); if the worker is busy
        printing, on a separate association."""
        name = self._printer_name(request)
        worker = self.dispatcher.workers.get(name)
        try:
            try:
                if worker is None:
                    raise TimeoutError
                result = worker.call(lambda driver: driver.echo(), timeout=ECHO_WAIT_S)
            except TimeoutError:
                driver = build_driver(self.config.printers[name], self.config)
                try:
                    result = driver.echo()
                finally:
                    driver.close()
        except PrintFailure as exc:
            result = {"ok": False, "error": exc.reason}
        return {"printer": name, "echo": result}

    def op_preview(self, request, attachment, peer):
        """Render the films of a spec exactly as the printer would get them, as PNGs."""
        job = self._normalise(request)
        printer = self.config.printers[job["printer"]]
        sizes, blob = [], io.BytesIO()
        for index, film in enumerate(job["films"]):
            try:
                sheet = self.formatting.format_job_film(printer, film, job["color"], index,
                                                        self.spool.path).result()
            except (formatter.UnprintableImage, ValueError) as exc:
                raise RequestError(ErrorCode.UNPRINTABLE, f"film {index + 1}: {exc}") from None
            except FormattingCrashed as exc:
                raise RequestError(ErrorCode.UNPRINTABLE, f"film {index + 1}: the formatting process ended "
                                                          f"unexpectedly ({exc})") from None
            png = formatter.film_png(sheet)
            sizes.append(len(png))
            blob.write(png)
        return {"films": sizes, "_attachment": blob.getvalue()}

    def handle(self, request: dict, attachment: bytes, peer: Peer) -> tuple[dict, bytes]:
        request_id = request.get("id")
        op = request.get("op")
        method = getattr(self, f"op_{op.replace('-', '_')}", None) if isinstance(op, str) else None
        if method is None:
            return error(request_id, ErrorCode.UNKNOWN_OP, f"unknown operation {op!r}"), b""
        try:
            result = method(request, attachment, peer)
        except (RequestError, QueueError, Forbidden) as exc:
            return error(request_id, exc.code, str(exc)), b""
        except Exception as exc:  # a bug must cost one request, never the server
            log.exception("request %r failed", op)
            return error(request_id, ErrorCode.INTERNAL, f"internal error: {exc!r}"), b""
        out_attachment = result.pop("_attachment", b"")
        return {"id": request_id, "ok": True, **result}, out_attachment


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
    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name=type(self).__name__, daemon=True)
        thread.start()
        return thread


class SocketServer(_Serving, socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """The local Unix socket: the kernel tells who the peer is."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, path: Path, config: ServerConfig, operations: Operations):
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

    def open_connection(self, sock: socket.socket, send) -> tuple[socket.socket, Peer]:
        return sock, unix_peer(sock, self.config.admin_group)


class TlsServer(_Serving, socketserver.ThreadingMixIn, socketserver.TCPServer):
    """Remote clients: TLS only, and the first request must be ``auth`` with a configured token.
    The token's name is the owner of the client's jobs."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, config: ServerConfig, operations: Operations):
        listener = config.tcp
        self.config, self.operations = config, operations
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.load_cert_chain(listener.cert_file, listener.key_file)
        self.clients = listener.clients
        super().__init__((listener.host, listener.port), _Handler)

    def open_connection(self, sock: socket.socket, send) -> tuple[socket.socket, Peer | None]:
        sock.settimeout(AUTH_TIMEOUT_S)
        try:
            tls = self.context.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.info("remote client refused: TLS handshake failed (%s)", exc)
            return sock, None
        peer = None
        try:
            message = read_message(tls, 4096, 0)
            request = message.header
            token = request.get("token") if request.get("op") == "auth" else None
            peer = self._peer_for(token) if isinstance(token, str) else None
        except (ProtocolError, EOFError, OSError):
            request = {}
        reply = ({"id": request.get("id"), "ok": True, "user": peer.name, "admin": peer.admin} if peer
                 else error(request.get("id"), ErrorCode.UNAUTHENTICATED,
                            "the first request must be auth with a valid token"))
        try:
            tls.sendall(encode(reply))
        except OSError:
            return tls, None
        if peer is None:
            log.info("remote client refused: bad or missing token")
        tls.settimeout(CLIENT_IDLE_TIMEOUT_S)
        return tls, peer

    def _peer_for(self, token: str) -> Peer | None:
        for client in self.clients:
            if hmac.compare_digest(client.token.encode(), token.encode()):
                return Peer(client.name, admin=client.admin)
        return None
