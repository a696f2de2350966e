"""Configuration: ``etc/hcserver.toml`` (or the embedded defaults) → typed settings.

Every error names the file, the key and what is allowed, and a file's every error is reported
at once. Path rules: ``state_dir`` and a relative SQLite path in ``database`` are relative to
the directory of the configuration file (so the server and ``hcq`` find the same files from any
working directory; with the embedded defaults, to the current directory); ``socket``, ``spool``
and ``audit_log`` are relative to ``state_dir``. When ``database`` is not given it is
``sqlite:///<state_dir>/queue.db``.

Without ``-c`` or ``$HCSERVER_CONFIG`` the server and ``hcq`` read :data:`SYSTEM_CONFIG` when it
exists (an installed service), else the embedded defaults.
"""
from __future__ import annotations

import grp
import ipaddress
import math
import os
import socket
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hcserver import __version__
from hcserver.config_dicom_in import DicomListener, parse_dicom_in
from hcserver.config_printers import parse_printer
from hcserver.configerrors import Collector as _Collector
from hcserver.configerrors import ConfigError, ConfigErrors
from hcserver.configerrors import check as _check
from hcserver.configerrors import ranges as _ranges
from hcserver.configpools import PoolConfig, parse_pools
from hcserver.configspool import parse_spool
from hcserver.drivers.settings import PrinterConfig, Station

__all__ = ["ConfigError", "ConfigErrors", "ServerConfig", "PrinterConfig", "load", "parse"]

EMBEDDED_SOURCE = "<embedded defaults>"   # ServerConfig.source when no file was given
#: The installed service's configuration (etc/hcserver.service): read when no file is named
SYSTEM_CONFIG = Path("/etc/hcserver/hcserver.toml")

# What `hcserver serve` runs with when no config file is given: a preview
# printer, and a DICOM printer pointing at the bundled simulator's default port.
EMBEDDED_DEFAULTS = """
[server]
ae_title = "HCSERVER"
state_dir = "var"
socket = "run/hcserver.sock"

[printers.preview]
driver = "preview"

[printers.simulator]
driver = "dicom"
ae_title = "HCSIM"
host = "127.0.0.1"
port = 11112
"""


@dataclass(frozen=True)
class RemoteClient:
    name: str          # the owner of the jobs this client submits
    token: str
    admin: bool = False


@dataclass(frozen=True)
class TcpListener:
    """The optional listener for remote clients: TLS only, and a token per client."""

    host: str
    port: int
    cert_file: Path
    key_file: Path
    clients: tuple[RemoteClient, ...]


@dataclass(frozen=True)
class WebListener:
    """The optional status page and metrics (hcserver.web): loopback unless TLS is configured."""

    host: str
    port: int
    cert_file: Path | None = None
    key_file: Path | None = None
    max_streams: int = 8       # live pages (server-sent events) open at once

    @property
    def scheme(self) -> str:
        return "https" if self.cert_file else "http"


def _hostname() -> str:
    return socket.gethostname()[:40].replace("#", "-") or "node"


@dataclass(frozen=True)
class ServerConfig:
    source: str                     # file path, or EMBEDDED_SOURCE
    ae_title: str = "HCSERVER"
    state_dir: Path = Path("var")
    socket: Path = Path("var/run/hcserver.sock")
    database: str = "sqlite:///var/queue.db"
    spool: Path = Path("var/spool")     # spool = "database": the node's cache of the database's images
    spool_in_database: bool = False     # images in the queue's database (PostgreSQL), not in files
    idle_release_s: float = 30.0
    retry_interval_s: float = 30.0
    retry_max_interval_s: float = 600.0
    retry_limit: int = 10
    max_message_bytes: int = 1 << 20
    max_attachment_bytes: int = 512 << 20
    # the sockets (hcserver.server.transport, .admission): connections and what they may hold
    max_connections: int = 512              # open at once, all clients together
    max_connections_per_user: int = 32      # per Unix user or token; administrators are not counted
    reserved_admin_connections: int = 16    # of max_connections, kept for administrators
    idle_timeout_s: float = 300.0           # a connection that sends nothing for this long is closed
    stall_timeout_s: float = 30.0           # a message that stops arriving for this long is dropped
    max_pending_upload_bytes: int = 1 << 30     # attachments being received, all connections together
    max_failed_auth_per_minute: int = 5     # failed token attempts per remote address
    # Our implementation identity in every association (a UUID-derived UID, PS3.5 B.2)
    implementation_class_uid: str | None = "2.25.319311386931146108354010361616260577806"
    implementation_version_name: str | None = f"HCSERVER_{__version__}"[:16]
    # access control (CUPS-style): members of admin_group (and root) may act on anybody's jobs
    # and administer printers; everybody else only on their own jobs.
    admin_group: str = "hcadmin"
    socket_group: str | None = None     # group given the socket and its directory (mode 0750/0660)
    # limits
    max_jobs_per_owner: int = 1000      # queued (not finished) jobs one owner may have
    max_films_per_job: int = 200
    max_image_pixels: int = 64 << 20    # rows x columns x frames x samples per pixel of one image
    min_free_spool_bytes: int = 256 << 20  # new jobs are refused below this much free space
    max_upload_bytes_per_owner: int = 2 << 30   # uploaded and not yet submitted, per owner
    upload_grace_s: float = 3600.0  # an upload no job uses is removed after this (hcserver.uploads)
    max_job_time_s: float = 3600.0      # a job printing longer than this is aborted and retried
    format_processes: int = 0           # processes that format films; 0: one per CPU, at most 4
    # several nodes on one PostgreSQL queue: each node's name (unique), and how long a node's
    # claim on a job or a printer lasts unless it renews it (every lease_s / 3)
    node_name: str = field(default_factory=lambda: _hostname())
    lease_s: float = 30.0
    # history (CUPS PreserveJobHistory / MaxJobs): finished jobs kept this long and at most this many
    history_days: float = 30.0
    history_max_jobs: int = 1000
    # privacy and audit
    log_patient_data: bool = False      # never put patient names or IDs in logs and events unless true
    audit_log: Path = Path("var/audit.log")
    tcp: TcpListener | None = None      # off unless [server.tcp] is configured
    web: WebListener | None = None      # off unless [web] is configured
    dicom_in: DicomListener | None = None   # off unless [dicom_in] is configured (hcserver.config_dicom_in)
    printers: dict[str, PrinterConfig] = field(default_factory=dict)
    pools: dict[str, PoolConfig] = field(default_factory=dict)

    def members(self, name: str) -> tuple[str, ...]:
        """The printers a job sent to ``name`` may print on: a pool's, or the printer itself."""
        return self.pools[name].printers if name in self.pools else (name,)

    def pools_of(self, printer: str) -> tuple[PoolConfig, ...]:
        """The pools ``printer`` belongs to."""
        return tuple(pool for pool in self.pools.values() if printer in pool.printers)

    @property
    def station(self) -> Station:
        """Who we are to the printers."""
        return Station(self.ae_title, self.implementation_class_uid, self.implementation_version_name)

    @property
    def preview_dir(self) -> Path:
        """Where the preview driver writes its films."""
        return self.state_dir / "preview"


#: Bounds of numbers, by key: (lowest, highest, what the error says)
_SERVER_RANGES: dict[str, tuple[float, float, str]] = {
    "idle_release_s": (0, 86400, "0 to 86400 seconds"),
    "retry_interval_s": (0, 86400, "0 to 86400 seconds"),
    "retry_max_interval_s": (0, 7 * 86400, "0 to 604800 seconds"),
    "retry_limit": (1, 1000, "1 to 1000 attempts"),
    "max_message_bytes": (4096, 1 << 30, "4096 bytes to 1 GiB"),
    "max_attachment_bytes": (1, math.inf, "at least 1 byte"),
    "max_connections": (1, 1 << 20, "1 to 1048576 connections"),
    "max_connections_per_user": (1, 1 << 20, "1 to 1048576 connections"),
    "reserved_admin_connections": (0, 1 << 20, "0 to 1048576 connections (and less than max_connections)"),
    "idle_timeout_s": (1, 7 * 86400, "1 second to 7 days"),
    "stall_timeout_s": (1, 86400, "1 to 86400 seconds"),
    "max_pending_upload_bytes": (1, math.inf, "at least 1 byte (and at least max_attachment_bytes)"),
    "max_failed_auth_per_minute": (1, 10000, "1 to 10000 attempts"),
    "max_jobs_per_owner": (1, math.inf, "at least 1 job"),
    "max_films_per_job": (1, 10000, "1 to 10000 films"),
    "max_image_pixels": (1, math.inf, "at least 1 pixel"),
    "min_free_spool_bytes": (0, math.inf, "0 or more bytes"),
    "max_upload_bytes_per_owner": (1, math.inf, "positive"),
    "upload_grace_s": (1, 365 * 86400, "at least 1 second (the time between upload and submit)"),
    "max_job_time_s": (1, 7 * 86400, "1 second to 7 days"),
    "format_processes": (0, 256, "0 (one per CPU, at most 4) to 256"),
    "lease_s": (1, 3600, "at least 1 second (and at most an hour)"),
    "history_days": (0, 36500, "0 or more days"),
    "history_max_jobs": (0, math.inf, "0 or more jobs"),
}


_SERVER_FIELDS: dict[str, tuple[type | tuple, str]] = {
    "ae_title": (str, "an AE title (1-16 characters)"),
    "state_dir": (str, "a directory path"),
    "socket": (str, "a socket path"),
    "database": (str, "an SQLAlchemy URL"),
    "spool": (str, "a directory path, or \"database\""),
    "idle_release_s": ((int, float), "seconds"),
    "retry_interval_s": ((int, float), "seconds"),
    "retry_max_interval_s": ((int, float), "seconds"),
    "retry_limit": (int, "a number of attempts"),
    "max_message_bytes": (int, "bytes"),
    "max_attachment_bytes": (int, "bytes"),
    "max_connections": (int, "a number of connections"),
    "max_connections_per_user": (int, "a number of connections"),
    "reserved_admin_connections": (int, "a number of connections"),
    "idle_timeout_s": ((int, float), "seconds"),
    "stall_timeout_s": ((int, float), "seconds"),
    "max_pending_upload_bytes": (int, "bytes"),
    "max_failed_auth_per_minute": (int, "a number of attempts"),
    "implementation_class_uid": (str, "a UID"),
    "implementation_version_name": (str, "up to 16 characters"),
    "admin_group": (str, "a group name"),
    "socket_group": (str, "a group name"),
    "max_jobs_per_owner": (int, "a number of jobs"),
    "max_films_per_job": (int, "a number of films"),
    "max_image_pixels": (int, "a number of pixels"),
    "min_free_spool_bytes": (int, "bytes"),
    "max_upload_bytes_per_owner": (int, "bytes"),
    "upload_grace_s": ((int, float), "seconds"),
    "max_job_time_s": ((int, float), "seconds"),
    "format_processes": (int, "a number of processes (0: one per CPU, at most 4)"),
    "node_name": (str, "a name for this node, unique among the nodes sharing the database"),
    "lease_s": ((int, float), "seconds"),
    "history_days": ((int, float), "days"),
    "history_max_jobs": (int, "a number of jobs"),
    "log_patient_data": (bool, "true or false"),
    "audit_log": (str, "a file path"),
}


def _tcp(file: str, raw: Any) -> TcpListener:
    base = "server.tcp"
    _check(file, base, raw, dict, "a table")
    allowed = {"listen", "cert_file", "key_file", "clients"}
    for key in raw:
        if key not in allowed:
            raise ConfigError(file, f"{base}.{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
    for key in ("listen", "cert_file", "key_file"):
        if key not in raw:
            raise ConfigError(file, f"{base}.{key}", "required: remote clients are served over TLS only")
        _check(file, f"{base}.{key}", raw[key], str, "a string")
    host, _, port = raw["listen"].rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(file, f"{base}.listen", f"expected HOST:PORT, got {raw['listen']!r}")
    clients_raw = _check(file, f"{base}.clients", raw.get("clients", {}), dict,
                         "a table of client name = { token = \"…\", admin = false }")
    clients = []
    for name, entry in clients_raw.items():
        where = f"{base}.clients.{name}"
        _check(file, where, entry, dict, "{ token = \"…\", admin = false }")
        token = _check(file, f"{where}.token", entry.get("token"), str, "a token of at least 16 characters")
        if len(token) < 16:
            raise ConfigError(file, f"{where}.token", "a token needs at least 16 characters")
        admin = _check(file, f"{where}.admin", entry.get("admin", False), bool, "true or false")
        extra = set(entry) - {"token", "admin"}
        if extra:
            raise ConfigError(file, f"{where}.{sorted(extra)[0]}", "unknown key (allowed: admin, token)")
        clients.append(RemoteClient(name, token, admin))
    return TcpListener(host.strip("[]"), int(port), Path(raw["cert_file"]), Path(raw["key_file"]),
                       tuple(clients))


def _connection_checks(source: str, values: dict[str, Any], found: _Collector) -> None:
    """The socket limits against each other (hcserver.server.admission), once each is in its
    range (_SERVER_RANGES): an error already reported for a key is not reported twice."""
    defaults = ServerConfig(source)
    wrong = {error.key for error in found.errors}

    def get(key: str):
        return values.get(key, getattr(defaults, key))

    def checked(*keys: str) -> bool:
        return not any(f"server.{key}" in wrong for key in keys)

    if checked("reserved_admin_connections", "max_connections") and \
            not get("reserved_admin_connections") < get("max_connections"):
        found.errors.append(ConfigError(source, "server.reserved_admin_connections",
                                        f"must be less than max_connections ({get('max_connections')})"))
    if checked("max_pending_upload_bytes", "max_attachment_bytes") and \
            get("max_pending_upload_bytes") < get("max_attachment_bytes"):
        found.errors.append(ConfigError(source, "server.max_pending_upload_bytes",
                                        f"must be at least max_attachment_bytes ({get('max_attachment_bytes')}): "
                                        f"the largest upload allowed must fit"))


def _listen(file: str, key: str, value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(file, key, f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:   # a host name: it may resolve to anything
        return False


def _web(file: str, raw: Any) -> WebListener:
    """[web]: the status page and /metrics. Loopback only, unless it has TLS (as [server.tcp])."""
    _check(file, "web", raw, dict, "a table")
    allowed = ("listen", "cert_file", "key_file", "max_streams")
    for key in raw:
        if key not in allowed:
            raise ConfigError(file, f"web.{key}", f"unknown key (allowed: {', '.join(allowed)})")
    listen = _check(file, "web.listen", raw.get("listen"), str, "HOST:PORT, e.g. \"127.0.0.1:8631\"")
    host, port = _listen(file, "web.listen", listen)
    files = {key: Path(_check(file, f"web.{key}", raw[key], str, "a file path")) for key in ("cert_file", "key_file")
             if key in raw}
    if len(files) == 1:
        raise ConfigError(file, "web.cert_file" if "key_file" in files else "web.key_file",
                          "cert_file and key_file go together (TLS)")
    if not files and not _loopback(host):
        raise ConfigError(file, "web.listen", f"{host} is not a loopback address: remote access needs TLS "
                                              f"(cert_file and key_file)")
    streams = _check(file, "web.max_streams", raw.get("max_streams", 8), int, "a number of pages")
    if not 1 <= streams <= 256:
        raise ConfigError(file, "web.max_streams", f"{streams!r} is out of range: must be 1 to 256")
    return WebListener(host, port, files.get("cert_file"), files.get("key_file"), streams)


def _under(base: Path | None, path: Path) -> Path:
    return path if base is None or path.is_absolute() else base / path


def _database_under(base: Path | None, url: str) -> str:
    """A relative SQLite path made relative to ``base`` (the configuration file's directory)."""
    prefix = "sqlite:///"
    rest = url[len(prefix):]
    if base is None or not url.startswith(prefix) or rest.startswith("/") or rest in ("", ":memory:"):
        return url
    return prefix + str(base / rest)


def _pool_members(raw: Any) -> dict[str, list[str]]:
    """The pools of a ``[pools]`` table by name, each with the printers it lists (as far as the
    table can be read: its errors are parse_pools's to report)."""
    if not isinstance(raw, dict):
        return {}
    return {name: [p for p in entry["printers"] if isinstance(p, str)]
            if isinstance(entry, dict) and isinstance(entry.get("printers"), list) else []
            for name, entry in raw.items()}


def parse(text: str, source: str, base: Path | None = None) -> ServerConfig:
    """``text`` from ``source``; ``base``: the directory relative paths are relative to (the
    file's), else the current directory."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "(syntax)", str(exc)) from None
    for key in raw:
        if key not in ("server", "printers", "pools", "web", "dicom_in"):
            raise ConfigError(source, key, "unknown section (allowed: server, printers, pools, web, dicom_in)")
    server_raw = _check(source, "server", raw.get("server", {}), dict, "a table")
    values: dict[str, Any] = {}
    found = _Collector()
    for key, value in server_raw.items():
        with found.each():
            if key == "tcp":
                values["tcp"] = _tcp(source, value)
                continue
            if key not in _SERVER_FIELDS:
                raise ConfigError(source, f"server.{key}", f"unknown key (allowed: {', '.join(_SERVER_FIELDS)})")
            kind, what = _SERVER_FIELDS[key]
            values[key] = _check(source, f"server.{key}", value, kind, what)
    if "web" in raw:
        with found.each():
            values["web"] = _web(source, raw["web"])
    _ranges(source, "server", values, _SERVER_RANGES, found)
    if values.get("retry_max_interval_s", math.inf) < values.get("retry_interval_s", 30.0):
        found.errors.append(ConfigError(source, "server.retry_max_interval_s",
                                        "must be at least retry_interval_s (the first back-off)"))
    if "ae_title" in values and not 1 <= len(values["ae_title"].strip()) <= 16:
        found.errors.append(ConfigError(source, "server.ae_title", "an AE title has 1 to 16 characters"))
    node_name = values.get("node_name")
    if node_name is not None and (not 1 <= len(node_name) <= 40 or "#" in node_name):
        found.errors.append(ConfigError(source, "server.node_name", "1 to 40 characters, without '#'"))
    _connection_checks(source, values, found)
    if "socket_group" in values:
        try:
            grp.getgrnam(values["socket_group"])
        except KeyError:
            found.errors.append(ConfigError(source, "server.socket_group",
                                            f"no group {values['socket_group']!r} on this system"))
    state_dir = _under(base, Path(values.pop("state_dir", "var")))
    socket = Path(values.pop("socket", "run/hcserver.sock"))
    audit_log = Path(values.pop("audit_log", "audit.log"))
    database = _database_under(base, values.pop("database", f"sqlite:///{state_dir / 'queue.db'}"))
    spool, values["spool_in_database"] = parse_spool(source, values.pop("spool", "spool"), database, found)
    printers_raw = _check(source, "printers", raw.get("printers", {}), dict, "a table of printers")
    if not printers_raw:
        found.errors.append(ConfigError(source, "printers", "at least one printer must be configured"))
    printers = {}
    for name, value in printers_raw.items():
        with found.each():
            printers[name] = parse_printer(source, name, value)
    with found.each():
        values["pools"] = parse_pools(source, raw.get("pools", {}), printers_raw)
    if "dicom_in" in raw:   # its routes name printers: those of the file, even one with an error
        with found.each():
            values["dicom_in"] = parse_dicom_in(source, raw["dicom_in"], list(printers_raw),
                                                _pool_members(raw.get("pools")))
    found.raise_any()
    return ServerConfig(
        source=source,
        state_dir=state_dir,
        socket=_under(state_dir, socket),
        spool=_under(state_dir, spool),
        audit_log=_under(state_dir, audit_log),
        database=database,
        printers=printers,
        **values,
    )


def config_path(path: str | os.PathLike | None = None) -> Path | None:
    """The file :func:`load` reads: ``path``, else ``$HCSERVER_CONFIG``, else :data:`SYSTEM_CONFIG`
    if it exists; None: the embedded defaults."""
    path = path or os.environ.get("HCSERVER_CONFIG")
    if path:
        return Path(path)
    return SYSTEM_CONFIG if SYSTEM_CONFIG.is_file() else None


def load(path: str | os.PathLike | None = None) -> ServerConfig:
    """Load ``path``, else ``$HCSERVER_CONFIG``, else :data:`SYSTEM_CONFIG` if it exists, else the
    embedded defaults. Relative paths in a file are relative to the file's directory."""
    found = config_path(path)
    if found is None:
        return parse(EMBEDDED_DEFAULTS, EMBEDDED_SOURCE)
    try:
        text = found.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(found), "(file)", exc.strerror or str(exc)) from None
    return parse(text, str(found), found.parent.absolute())
