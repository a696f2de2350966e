"""Python client for the hcserver socket: what ``hcq`` and other applications use.

    from hcserver.client import Client
    with Client("var/run/hcserver.sock") as hc:
        job = hc.submit_files(["ct1.dcm", "ct2.dcm"], printer="dryview", layout="STANDARD\\\\2,1")
        hc.wait(job)
"""
from __future__ import annotations

import builtins
import errno
import io
import itertools
import json
import os
import select
import socket
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hcserver.protocol import PREFIX, ProtocolError, encode, read_message

RESPONSE_LIMIT = 1 << 30
MAX_ATTACHMENT = (1 << 32) - 1      # what a frame can carry
MAX_SPEC_BYTES = 16 << 20           # a job spec file; the server takes far less (max_message_bytes)
_CHUNK = 1 << 20


class ClientError(Exception):
    """The server refused a request (``code`` from the protocol) or could not be reached."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass
class FileAttachment:
    """An open regular file sent as a request's attachment, read piece by piece as it is sent."""

    file: io.BufferedReader
    size: int
    name: str


def _kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "a special file"


def open_regular(path: str | os.PathLike, limit: int, what: str = "file") -> tuple[io.BufferedReader, int]:
    """``path`` opened for reading, and its size, if it is a regular file of at most ``limit``
    bytes; else ClientError naming the problem. A FIFO or a device is never read (it may never
    end, or never begin): it is opened without waiting for a writer, then refused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ClientError("file", f"{path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ClientError("file", f"{path} is {_kind(info.st_mode)}, not a regular file: only a regular file "
                                      f"can be sent as {what}")
        if info.st_size > limit:
            raise ClientError("too-large", f"{path}: {info.st_size} bytes, more than the {limit} bytes that can be "
                                           f"sent as {what}")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), info.st_size
    except BaseException:
        os.close(fd)
        raise


def default_socket(config_path: str | None = None) -> str:
    """``$HCSERVER_SOCKET``, else the socket of the configuration (or the embedded defaults)."""
    if os.environ.get("HCSERVER_SOCKET"):
        return os.environ["HCSERVER_SOCKET"]
    from hcserver.config import load  # only when the socket is not given: it costs start-up time

    return str(load(config_path).socket)


def read_spec_file(path: str | os.PathLike) -> dict:
    """A JSON job spec from a file: a regular file, of a sane size, holding a JSON object."""
    file, _ = open_regular(path, MAX_SPEC_BYTES, "a job spec")
    try:
        with file:
            spec = json.loads(file.read(MAX_SPEC_BYTES + 1))
    except OSError as exc:
        raise ClientError("file", f"{path}: {exc.strerror or exc}") from None
    except ValueError as exc:   # JSONDecodeError and UnicodeDecodeError
        raise ClientError("file", f"{path}: not valid JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise ClientError("file", f"{path}: a job spec is a JSON object, not {type(spec).__name__}")
    return spec


class Client:
    """A connection to hcserver: a Unix socket path, or ``tls://HOST:PORT`` for a remote server
    (then ``token`` — default ``$HCSERVER_TOKEN`` — authenticates, and ``ca_file`` — default
    ``$HCSERVER_CA_FILE``, else the system's CAs — verifies the server's certificate)."""

    def __init__(self, socket_path: str | os.PathLike | None = None, timeout: float | None = 60.0, *,
                 token: str | None = None, ca_file: str | None = None):
        self.path = str(socket_path or default_socket())
        self.timeout = timeout
        self.token = token or os.environ.get("HCSERVER_TOKEN")
        self.ca_file = ca_file or os.environ.get("HCSERVER_CA_FILE")
        self._sock: socket.socket | None = None
        self._ids = itertools.count(1)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._sock:
            self._sock.close()
            self._sock = None

    def _connect(self) -> socket.socket:
        if self._sock is None:
            self._sock = self._connect_remote() if self.path.startswith("tls://") else self._connect_local()
        return self._sock

    def _connect_local(self) -> socket.socket:
        # A Unix socket whose backlog is full refuses at once (EAGAIN) rather than queueing the
        # client: a busy server is waited for, with growing pauses, within the timeout.
        deadline = time.monotonic() + (self.timeout if self.timeout is not None else 60.0)
        pause = 0.005
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self.path)
                return sock
            except OSError as exc:
                sock.close()
                if exc.errno == errno.EAGAIN and time.monotonic() + pause < deadline:
                    import random  # here: a client that connects at once never needs it

                    time.sleep(pause * random.uniform(0.5, 1.5))
                    pause = min(pause * 2, 0.5)
                    continue
                busy = " (the server is busy: its connection queue stayed full)" if exc.errno == errno.EAGAIN else ""
                raise ClientError("unreachable", f"cannot reach hcserver at {self.path}: "
                                                 f"{exc.strerror or exc}{busy}") from None

    def _connect_remote(self) -> socket.socket:
        host, _, port = self.path.removeprefix("tls://").rpartition(":")
        if not host or not port.isdigit():
            raise ClientError("unreachable", f"expected tls://HOST:PORT, got {self.path}")
        if not self.token:
            raise ClientError("unauthenticated", "a remote hcserver needs a token (hcq --token-file FILE, or "
                                                 "$HCSERVER_TOKEN)")
        import ssl  # remote servers only

        context = ssl.create_default_context(cafile=self.ca_file)
        try:
            raw = socket.create_connection((host.strip("[]"), int(port)), timeout=self.timeout)
        except OSError as exc:
            raise ClientError("unreachable", f"cannot reach hcserver at {self.path}: "
                                             f"{exc.strerror or exc}") from None
        try:
            sock = context.wrap_socket(raw, server_hostname=host.strip("[]"))
            sock.sendall(encode({"id": 0, "op": "auth", "token": self.token}))
            reply = read_message(sock, RESPONSE_LIMIT, 0).header
        except (OSError, EOFError, ProtocolError) as exc:   # ssl.SSLError is an OSError
            raw.close()
            raise ClientError("unreachable", f"cannot reach hcserver at {self.path}: {exc}") from None
        if not reply.get("ok"):
            sock.close()
            raise ClientError("unauthenticated", (reply.get("error") or {}).get("message", "refused"))
        return sock

    def _closed_by_server(self) -> bool:
        """Whether the server has closed the connection since the last answer (after
        ``idle_timeout_s``, say): between requests it sends nothing, so anything to read is that."""
        if self._sock is None:
            return False
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def request(self, op: str, attachment: bytes | FileAttachment = b"", *, io_timeout: float | None = None,
                **args) -> dict:
        """Send one request; return the response, or raise ClientError with the server's message."""
        request_id = next(self._ids)
        if self._closed_by_server():
            self.close()
        sock = self._connect()
        sock.settimeout(io_timeout if io_timeout is not None else self.timeout)
        try:
            try:
                self._send(sock, {"id": request_id, "op": op, **args}, attachment)
            except OSError as exc:
                # The server may have refused the message before reading all of it (too large, too
                # many connections) and closed: its answer says why better than the broken pipe.
                message = self._answer_after(sock, exc)
            else:
                message = read_message(sock, RESPONSE_LIMIT, RESPONSE_LIMIT)
        except (OSError, EOFError, ProtocolError) as exc:
            self.close()
            raise ClientError("connection", f"connection to hcserver lost: {exc}") from None
        finally:
            if self._sock:
                self._sock.settimeout(self.timeout)
        response = message.header
        if not response.get("ok"):
            err = response.get("error") or {}
            raise ClientError(err.get("code", "error"), err.get("message", "request failed"))
        if message.attachment:
            response["_attachment"] = message.attachment
        return response

    @staticmethod
    def _send(sock: socket.socket, header: dict, attachment: bytes | FileAttachment) -> None:
        if isinstance(attachment, bytes | bytearray):
            sock.sendall(encode(header, attachment))
            return
        body = json.dumps(header, separators=(",", ":"), default=str).encode()
        sock.sendall(PREFIX.pack(b"HCS1", len(body), attachment.size) + body)
        buffer = bytearray(min(_CHUNK, max(attachment.size, 1)))
        view = memoryview(buffer)
        left = attachment.size
        while left:
            try:
                n = attachment.file.readinto(view[:min(left, len(buffer))])
            except OSError as exc:
                raise ClientError("file", f"{attachment.name}: {exc.strerror or exc}") from None
            if not n:   # the frame promised more: the stream cannot be resynchronised
                raise ClientError("file", f"{attachment.name}: the file shrank while it was sent "
                                          f"({attachment.size - left} of {attachment.size} bytes)")
            sock.sendall(view[:n])
            left -= n

    @staticmethod
    def _answer_after(sock: socket.socket, failure: OSError):
        """The server's answer to a message it stopped reading, if it sent one; else ``failure``."""
        try:
            sock.settimeout(5)
            message = read_message(sock, RESPONSE_LIMIT, RESPONSE_LIMIT)
        except (OSError, EOFError, ProtocolError):
            raise failure from None
        if message.header.get("ok"):   # an answer to a message it had not finished reading: none is
            raise failure
        return message

    # ---- images and jobs ------------------------------------------------------------

    def upload(self, path: str | os.PathLike) -> str:
        """Upload one image file; returns its reference ("sha256:…") for a job spec. The file is
        sent as it is read, never held whole in memory."""
        file, size = open_regular(path, MAX_ATTACHMENT, "an image")
        with file:
            attachment = FileAttachment(file, size, str(path))
            try:
                return self.request("upload", attachment, name=str(path))["image"]
            except ClientError as exc:
                if exc.code == "file":   # half a frame went out: the connection is out of step
                    self.close()
                if exc.code in ("too-large", "busy", "stalled"):   # refused by its size, before its name was read
                    raise ClientError(exc.code, f"{path}: {exc}") from None
                raise

    def _with_uploads(self, spec: dict, base: Path) -> dict:
        """Copy of ``spec`` with every image path replaced by its uploaded reference."""
        import copy

        spec = copy.deepcopy(spec)
        uploaded: dict[str, str] = {}

        def ref(image):
            if not isinstance(image, str) or image.startswith("sha256:"):
                return image
            if image not in uploaded:
                path = Path(image) if Path(image).is_absolute() else base / image
                uploaded[image] = self.upload(path)
            return uploaded[image]

        def frames(items):
            for i, item in enumerate(items):
                if isinstance(item, dict):
                    item["image"] = ref(item.get("image"))
                else:
                    items[i] = ref(item)

        if isinstance(spec.get("images"), list):
            frames(spec["images"])
        for film in spec.get("films") or []:
            if isinstance(film, dict) and isinstance(film.get("frames"), list):
                frames(film["frames"])
        return spec

    def submit(self, spec: dict, *, hold: bool = False, base: str | os.PathLike = ".") -> int:
        """Submit a job spec (DESIGN §3) whose images are file paths (relative to ``base``)."""
        response = self.request("submit", spec=self._with_uploads(spec, Path(base)), hold=hold)
        return response["job"]

    def submit_files(self, files: Iterable[str | os.PathLike], **fields) -> int:
        """Submit images laid out automatically; ``fields`` are job or film fields (printer, layout, …)."""
        hold = fields.pop("hold", False)
        spec = {"images": [str(f) for f in files], **{k: v for k, v in fields.items() if v is not None}}
        return self.submit(spec, hold=hold)

    def submit_spec_file(self, path: str | os.PathLike, *, hold: bool = False) -> int:
        return self.submit(read_spec_file(path), hold=hold, base=Path(path).parent)

    def preview(self, spec: dict, *, base: str | os.PathLike = ".") -> list[bytes]:
        """PNG bytes of each film of ``spec``, formatted exactly as for printing."""
        response = self.request("preview", spec=self._with_uploads(spec, Path(base)), io_timeout=600)
        blob, films, offset = response.get("_attachment", b""), [], 0
        for size in response["films"]:
            films.append(blob[offset:offset + size])
            offset += size
        return films

    def list(self, *, all: bool = False, printer: str | None = None) -> list[dict]:
        args: dict[str, Any] = {"all": all} | ({"printer": printer} if printer else {})
        return self.request("list", **args)["jobs"]

    def list_json(self, *, all: bool = False, printer: str | None = None) -> bytes:
        """The same list as JSON text, exactly as the server encoded it (no decoding here)."""
        args: dict[str, Any] = {"all": all, "raw": True} | ({"printer": printer} if printer else {})
        return self.request("list", **args).get("_attachment", b"[]")

    def show(self, job: int, *, log: bool = False) -> dict:
        return self.request("show", job=job, log=log)["job"]

    def film(self, job: int, number: int) -> bytes:
        """The PNG a preview printer made of film ``number`` (from 1) of ``job``."""
        return self.request("film", job=job, film=number).get("_attachment", b"")

    def reprint(self, job: int) -> int:
        """Queue a copy of a (finished) job; returns the new job's id."""
        return self.request("reprint", job=job)["job"]

    def follow(self, job: int | None = None, timeout: float = 30.0):
        """Yield batches of events as they happen (a long poll: no polling of the server's database).

        Each batch is a list (possibly empty when only a printer changed or the timeout passed).
        The first batch is always empty and comes at once: from then on nothing is missed."""
        first = self.request("events", io_timeout=timeout + 30)
        since, seq = first["last"], first["seq"]
        yield []
        while True:
            args = {"since": since, "seq": seq, "timeout": timeout} | ({"job": job} if job else {})
            answer = self.request("events", io_timeout=timeout + 30, **args)
            since, seq = answer["last"], answer["seq"]
            yield answer["events"]

    def wait(self, job: int, timeout: float | None = None) -> dict:
        """Block until the job ends; returns it (``timed_out`` tells if it had not ended).

        The server answers at least every 30 s, so a lost daemon is noticed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            chunk = 30.0 if deadline is None else max(0.0, min(30.0, deadline - time.monotonic()))
            response = self.request("wait", job=job, timeout=chunk, io_timeout=chunk + 30)
            if not response["timed_out"] or (deadline is not None and time.monotonic() >= deadline):
                return {**response["job"], "timed_out": response["timed_out"]}

    def cancel(self, job: int) -> dict:
        return self.request("cancel", job=job)["job"]

    def hold(self, job: int) -> dict:
        return self.request("hold", job=job)["job"]

    def release(self, job: int) -> dict:
        return self.request("release", job=job)["job"]

    def set_priority(self, job: int, priority: str) -> dict:
        return self.request("priority", job=job, priority=priority)["job"]

    def move(self, job: int, printer: str) -> dict:
        """Move a waiting job to ``printer``, a printer or a pool."""
        return self.request("move", job=job, printer=printer)["job"]

    # ---- printers -------------------------------------------------------------------

    def printers(self) -> builtins.list[dict]:      # builtins: ``list`` here is the method above
        return self.request("printers")["printers"]

    def printers_and_pools(self) -> tuple[builtins.list[dict], builtins.list[dict]]:
        """The printers, and the pools: each with its printers, policy, queued jobs, the jobs its
        members are printing and the member that would take its next job now."""
        answer = self.request("printers")
        return answer["printers"], answer.get("pools", [])

    def printer_admin(self, op: str, printer: str) -> dict:
        if op not in ("enable", "disable", "accept", "reject"):
            raise ValueError(op)
        return self.request(op, printer=printer)

    def reload(self) -> dict:
        """Re-read the server's configuration: {"added": [...], "removed": [...], "changed": [...]} printers,
        the same of pools ("pools_added", ...), "held": jobs of changed pools they can no longer print, and
        "differing" (printers and pools that differ from other nodes', by node) when there are some."""
        answer = self.request("reload")
        return {key: answer[key] for key in ("added", "removed", "changed", "pools_added", "pools_removed",
                                             "pools_changed", "held", "differing") if key in answer}

    def echo(self, printer: str) -> dict:
        """C-ECHO and printer status: {"ok", "echo_status", "printer_status", "printer_status_info", …}."""
        return self.request("echo", printer=printer, io_timeout=120)["echo"]

    def probe(self, printer: str) -> dict:
        """What the printer accepts, found without printing (an administrator's request): the values
        tried, accepted or refused, and ``settings``, the printer configuration keys they amount to."""
        # a probe runs for minutes at most (the server bounds it: hcserver.server.printers.probe)
        return self.request("probe", printer=printer, io_timeout=900)["probe"]
