"""Configuration: ``etc/hcserver.toml`` (or the embedded defaults) → typed settings.

Every error names the file, the key and what is allowed. Path rules:
``state_dir`` is relative to the current directory; ``socket``,
``spool`` and ``audit_log`` are relative to ``state_dir``; a relative SQLite path in
``database`` is relative to the current directory, as in SQLAlchemy.
When ``database`` is not given it is ``sqlite:///<state_dir>/queue.db``.
"""
from __future__ import annotations

import grp
import os
import socket
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hcserver import __version__
from hcserver.drivers.dicom.status_policy import parse_override
from hcserver.drivers.settings import REPRINT_IN_DOUBT, PrinterConfig, PrinterDefaults, Station
from hcserver.formatter.geometry import FILM_SIZES, MAGNIFICATIONS, ORIENTATIONS, validate_layout
from hcserver.printer_drivers import DRIVERS
from hcserver.states import PRIORITIES

EMBEDDED_SOURCE = "<embedded defaults>"   # ServerConfig.source when no file was given

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


class ConfigError(ValueError):
    """A configuration problem, naming the file and the key."""

    def __init__(self, file: str, key: str, message: str):
        super().__init__(f"{file}: {key}: {message}")
        self.file, self.key, self.message = file, key, message


class ConfigErrors(ConfigError):
    """Every problem found in one file (the first one gives file, key and message)."""

    def __init__(self, errors: list[ConfigError]):
        first = errors[0]
        super().__init__(first.file, first.key, first.message)
        self.errors = errors
        self.args = ("\n".join(str(error) for error in errors),)

    def __str__(self) -> str:
        return self.args[0]


class _Collector:
    """Gathers errors so that one pass over a file reports all of them."""

    def __init__(self) -> None:
        self.errors: list[ConfigError] = []

    @contextmanager
    def each(self):
        try:
            yield
        except ConfigErrors as exc:
            self.errors.extend(exc.errors)
        except ConfigError as exc:
            self.errors.append(exc)

    def raise_any(self) -> None:
        if self.errors:
            raise ConfigErrors(self.errors)


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


SERVICES = ("print", "store")


@dataclass(frozen=True)
class DicomRoute:
    """One called AE title of the DICOM listener: what it takes and where its films go."""

    ae_title: str
    service: str                        # "print": a Print SCP; "store": a Storage SCP
    printer: str
    layout: str | None = None           # store: the display format (else automatic)
    film_size: str | None = None        # store: else the printer's default
    orientation: str | None = None      # store: else the printer's default
    windows: dict[str, dict[str, float]] = field(default_factory=dict)   # store: preset per Modality
    copies: int | None = None           # store: else the printer's default
    priority: str | None = None         # store: else the printer's default; print: the session's
    quiet_s: float | None = None        # store: a job after this many seconds without images (else at release)


@dataclass(frozen=True)
class DicomListener:
    """The optional DICOM front door ([dicom_in]): a Print SCP and a Storage SCP by called AE title."""

    host: str
    port: int
    routes: dict[str, DicomRoute]
    allowed_calling_aes: tuple[str, ...] | None = None   # None: any
    max_associations: int = 16
    max_pdu: int = 131072
    max_association_bytes: int = 1 << 30   # image bytes one association may hold before its job
    duplicate_window_s: float = 600.0      # a film identical to one this recent is a modality's retry
    network_timeout_s: float = 60.0


def _hostname() -> str:
    return socket.gethostname()[:40].replace("#", "-") or "node"


@dataclass(frozen=True)
class ServerConfig:
    source: str                     # file path, or EMBEDDED_SOURCE
    ae_title: str = "HCSERVER"
    state_dir: Path = Path("var")
    socket: Path = Path("var/run/hcserver.sock")
    database: str = "sqlite:///var/queue.db"
    spool: Path = Path("var/spool")
    idle_release_s: float = 30.0
    retry_interval_s: float = 30.0
    retry_max_interval_s: float = 600.0
    retry_limit: int = 10
    max_message_bytes: int = 1 << 20
    max_attachment_bytes: int = 512 << 20
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
    dicom_in: DicomListener | None = None   # off unless [dicom_in] is configured
    printers: dict[str, PrinterConfig] = field(default_factory=dict)

    @property
    def station(self) -> Station:
        """Who we are to the printers."""
        return Station(self.ae_title, self.implementation_class_uid, self.implementation_version_name)

    @property
    def preview_dir(self) -> Path:
        """Where the preview driver writes its films."""
        return self.state_dir / "preview"


def _check(file: str, key: str, value: Any, kind: type | tuple, what: str) -> Any:
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise ConfigError(file, key, f"expected {what}, got {value!r}")
    if not isinstance(value, kind):
        raise ConfigError(file, key, f"expected {what}, got {value!r}")
    return value


def _choice(file: str, key: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(file, key, f"{value!r} is not one of: {', '.join(allowed)}")
    return value


def _str_list(file: str, key: str, value: Any, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    _check(file, key, value, list, "a list of strings")
    for i, item in enumerate(value):
        _check(file, f"{key}[{i}]", item, str, "a string")
        if allowed is not None:
            _choice(file, f"{key}[{i}]", item, allowed)
    return tuple(value)


_PRINTER_FIELDS: dict[str, tuple[type | tuple, str]] = {
    "ae_title": (str, "an AE title (1-16 characters)"),
    "calling_ae_title": (str, "an AE title (1-16 characters)"),
    "host": (str, "a host name or address"),
    "port": (int, "a TCP port number"),
    "max_pdu": (int, "a PDU size in bytes (0 for unlimited)"),
    "connect_timeout_s": ((int, float), "seconds"),
    "acse_timeout_s": ((int, float), "seconds"),
    "dimse_timeout_s": ((int, float), "seconds"),
    "network_timeout_s": ((int, float), "seconds"),
    "tls": (bool, "true or false"),
    "tls_ca_file": (str, "the path of a PEM file of CA certificates"),
    "tls_cert_file": (str, "the path of a PEM certificate file"),
    "tls_key_file": (str, "the path of a PEM private key file"),
    "tls_verify": (bool, "true or false"),
    "tls_server_name": (str, "a host name"),
    "color": (bool, "true or false"),
    "bit_depth": (int, "8 or 12"),
    "dpi": (int, "printer pixels per inch"),
    "presentation_lut": (bool, "true or false"),
    "plut_in_film_session": (bool, "true or false"),
    "annotation_box": (bool, "true or false"),
    "annotation_text_length": (int, "a number of characters"),
    "annotation_display_format_id": (str, "the printer's Annotation Display Format ID"),
    "print_job": (bool, "true or false"),
    "meta_sop_only": (bool, "true or false"),
    "configuration_information": (str, "a string"),
    "memory_allocation": (int, "kilobytes"),
    "preempt": (bool, "true or false"),
    "retry_interval_s": ((int, float), "seconds"),
    "retry_limit": (int, "a number of attempts"),
    "status_poll_s": ((int, float), "seconds"),
}


def _printer(file: str, name: str, raw: Any) -> PrinterConfig:
    base = f"printers.{name}"
    _check(file, base, raw, dict, "a table")
    kwargs: dict[str, Any] = {"name": name}
    found = _Collector()
    for key, value in raw.items():
        with found.each():
            _printer_key(file, base, key, value, kwargs)
    found.raise_any()
    return _printer_checks(file, base, kwargs)


def _printer_key(file: str, base: str, key: str, value: Any, kwargs: dict[str, Any]) -> None:
    full = f"{base}.{key}"
    if key == "driver":
        kwargs[key] = _choice(file, full, value, DRIVERS)
    elif key in _PRINTER_FIELDS:
        kind, what = _PRINTER_FIELDS[key]
        kwargs[key] = _check(file, full, value, kind, what)
    elif key == "reprint_in_doubt":
        kwargs[key] = _choice(file, full, value, REPRINT_IN_DOUBT)
    elif key == "film_sizes":
        kwargs[key] = _str_list(file, full, value, tuple(FILM_SIZES))
    elif key == "magnification_types":
        kwargs[key] = _str_list(file, full, value, MAGNIFICATIONS)
    elif key in ("display_formats", "medium_types", "film_destinations"):
        kwargs[key] = _str_list(file, full, value)
    elif key == "defaults":
        kwargs[key] = _defaults(file, full, value)
    elif key == "status_policy":
        _check(file, full, value, dict, "a table of \"OPERATION 0xCODE\" = action")
        kwargs[key] = _status_policy(file, full, value)
    else:
        raise ConfigError(file, full, "unknown key")


def _status_policy(file: str, base: str, raw: dict[str, Any]) -> dict[str, str]:
    """A printer's status_policy, read with the status policy's own grammar: normalised keys."""
    policy = {}
    for key, action in raw.items():
        try:
            norm, chosen = parse_override(key, action)
        except ValueError as exc:
            raise ConfigError(file, f"{base}.\"{key}\"", str(exc)) from None
        policy[norm] = chosen.value
    return policy


def _printer_checks(file: str, base: str, kwargs: dict[str, Any]) -> PrinterConfig:
    """Checks between keys, once each key is valid on its own."""
    if kwargs.get("bit_depth", 8) not in (8, 12):
        raise ConfigError(file, f"{base}.bit_depth", "must be 8 or 12")
    for key in ("ae_title", "calling_ae_title"):
        if key in kwargs and not 1 <= len(kwargs[key].strip()) <= 16:
            raise ConfigError(file, f"{base}.{key}", "an AE title has 1 to 16 characters")
    if not 0 < kwargs.get("port", 104) < 65536:
        raise ConfigError(file, f"{base}.port", "must be 1-65535")
    if kwargs.get("dpi", 320) <= 0:
        raise ConfigError(file, f"{base}.dpi", "must be positive")
    _check_tls(file, base, kwargs)
    config = PrinterConfig(**kwargs)
    for key, value, allowed in (("film_size", config.defaults.film_size, config.film_sizes),
                                ("magnification", config.defaults.magnification, config.magnification_types),
                                ("layout", config.defaults.layout, config.display_formats),
                                ("medium_type", config.defaults.medium_type, config.medium_types),
                                ("film_destination", config.defaults.film_destination, config.film_destinations)):
        if allowed and value is not None and value not in allowed:
            raise ConfigError(file, f"{base}.defaults.{key}", f"{value!r} is not one this printer accepts "
                                                              f"({', '.join(allowed)})")
    return config


def _check_tls(file: str, base: str, kwargs: dict[str, Any]) -> None:
    """TLS keys that go together. The files are not read here (a client reading this
    file for the socket path may not be allowed to): the driver reports a file it cannot
    use when it connects, and stops the printer until it can."""
    if not kwargs.get("tls", False):
        return
    for key in ("tls_ca_file", "tls_cert_file", "tls_key_file", "tls_server_name"):
        if key in kwargs and not kwargs[key].strip():
            raise ConfigError(file, f"{base}.{key}", "must not be empty")
    if kwargs.get("tls_verify", True) and "tls_ca_file" not in kwargs:
        raise ConfigError(file, f"{base}.tls_ca_file", "required with tls = true, to verify the printer's "
                                                       "certificate (or set tls_verify = false)")
    if "tls_key_file" in kwargs and "tls_cert_file" not in kwargs:
        raise ConfigError(file, f"{base}.tls_key_file", "given without tls_cert_file")


def _defaults(file: str, base: str, raw: Any) -> PrinterDefaults:
    _check(file, base, raw, dict, "a table")
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        full = f"{base}.{key}"
        if key == "film_size":
            kwargs[key] = _choice(file, full, value, tuple(FILM_SIZES))
        elif key == "orientation":
            kwargs[key] = _choice(file, full, value, ORIENTATIONS)
        elif key == "magnification":
            kwargs[key] = _choice(file, full, value, MAGNIFICATIONS)
        elif key == "priority":
            kwargs[key] = _choice(file, full, value, PRIORITIES)
        elif key == "copies":
            kwargs[key] = _check(file, full, value, int, "a whole number")
        elif key in ("layout", "medium_type", "film_destination"):
            kwargs[key] = _check(file, full, value, str, "a string")
        else:
            raise ConfigError(file, full, "unknown key (allowed: film_size, orientation, layout, "
                                          "medium_type, film_destination, magnification, priority, copies)")
    return PrinterDefaults(**kwargs)


_SERVER_FIELDS: dict[str, tuple[type | tuple, str]] = {
    "ae_title": (str, "an AE title (1-16 characters)"),
    "state_dir": (str, "a directory path"),
    "socket": (str, "a socket path"),
    "database": (str, "an SQLAlchemy URL"),
    "spool": (str, "a directory path"),
    "idle_release_s": ((int, float), "seconds"),
    "retry_interval_s": ((int, float), "seconds"),
    "retry_max_interval_s": ((int, float), "seconds"),
    "retry_limit": (int, "a number of attempts"),
    "max_message_bytes": (int, "bytes"),
    "max_attachment_bytes": (int, "bytes"),
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


_DICOM_IN_FIELDS: dict[str, tuple[type | tuple, str]] = {
    "host": (str, "an address to listen on"),
    "port": (int, "a TCP port number"),
    "max_associations": (int, "a number of associations"),
    "max_pdu": (int, "a PDU size in bytes"),
    "max_association_bytes": (int, "bytes"),
    "duplicate_window_s": ((int, float), "seconds"),
    "network_timeout_s": ((int, float), "seconds"),
}
_ROUTE_KEYS = ("service", "printer", "layout", "film_size", "orientation", "windows", "copies", "priority",
               "quiet_s")


def _ae_title(file: str, key: str, value: Any) -> str:
    _check(file, key, value, str, "an AE title")
    if not 1 <= len(value.strip()) <= 16 or "\\" in value or not value.isascii():
        raise ConfigError(file, key, "an AE title has 1 to 16 ASCII characters, without a backslash")
    return value.strip()


def _dicom_in(file: str, raw: Any, printers: dict[str, PrinterConfig]) -> DicomListener:
    _check(file, "dicom_in", raw, dict, "a table")
    values: dict[str, Any] = {}
    routes: dict[str, DicomRoute] = {}
    for key, value in raw.items():
        full = f"dicom_in.{key}"
        if key == "ae":
            for title, entry in _check(file, full, value, dict, "a table of called AE titles").items():
                title = _ae_title(file, f"{full}.{title}", title)
                routes[title] = _route(file, f"{full}.{title}", title, entry, printers)
        elif key == "allowed_calling_aes":
            values[key] = tuple(_ae_title(file, f"{full}[{i}]", v) for i, v in enumerate(_str_list(file, full, value)))
        elif key in _DICOM_IN_FIELDS:
            values[key] = _check(file, full, value, *_DICOM_IN_FIELDS[key])
        else:
            raise ConfigError(file, full, f"unknown key (allowed: ae, allowed_calling_aes, "
                                          f"{', '.join(_DICOM_IN_FIELDS)})")
    missing = [key for key in ("host", "port") if key not in values]
    if missing:
        raise ConfigError(file, f"dicom_in.{missing[0]}", "required")
    if not 0 <= values["port"] < 65536:
        raise ConfigError(file, "dicom_in.port", "must be 0-65535 (0: any free port)")
    if not routes:
        raise ConfigError(file, "dicom_in.ae", "at least one called AE title ([dicom_in.ae.NAME]) is needed")
    if not 1 <= values.get("max_associations", 16) <= 1000:
        raise ConfigError(file, "dicom_in.max_associations", "must be 1-1000")
    if not 4096 <= values.get("max_pdu", 131072) <= (1 << 24):
        raise ConfigError(file, "dicom_in.max_pdu", "must be 4096-16777216")
    for key in ("max_association_bytes", "duplicate_window_s", "network_timeout_s"):
        if key in values and not values[key] > 0:
            raise ConfigError(file, f"dicom_in.{key}", "must be positive")
    return DicomListener(routes=routes, **values)


def _route(file: str, base: str, title: str, raw: Any, printers: dict[str, PrinterConfig]) -> DicomRoute:
    _check(file, base, raw, dict, "a table (service, printer, ...)")
    for key in raw:
        if key not in _ROUTE_KEYS:
            raise ConfigError(file, f"{base}.{key}", f"unknown key (allowed: {', '.join(_ROUTE_KEYS)})")
    for key in ("service", "printer"):
        if key not in raw:
            raise ConfigError(file, f"{base}.{key}", "required")
    service = _choice(file, f"{base}.service", raw["service"], SERVICES)
    printer = _check(file, f"{base}.printer", raw["printer"], str, "a printer name")
    if printer not in printers:
        raise ConfigError(file, f"{base}.printer", f"no printer {printer!r} (configured: {', '.join(printers)})")
    kwargs: dict[str, Any] = {}
    if service == "print" and set(raw) - {"service", "printer", "priority"}:
        extra = sorted(set(raw) - {"service", "printer", "priority"})[0]
        raise ConfigError(file, f"{base}.{extra}", "a print route prints what the modality sends: only "
                                                   "service, printer and priority apply")
    for key, allowed in (("layout", None), ("film_size", tuple(FILM_SIZES)), ("orientation", ORIENTATIONS)):
        if key in raw:
            kwargs[key] = _check(file, f"{base}.{key}", raw[key], str, "a string")
            if allowed:
                _choice(file, f"{base}.{key}", raw[key], allowed)
    if "layout" in kwargs:
        try:
            validate_layout(kwargs["layout"], kwargs.get("orientation", "PORTRAIT"),
                            kwargs.get("film_size", "14INX17IN"))
        except ValueError as exc:
            raise ConfigError(file, f"{base}.layout", str(exc)) from None
    if "priority" in raw:
        kwargs["priority"] = _choice(file, f"{base}.priority", raw["priority"], PRIORITIES)
    if "copies" in raw and not 1 <= _check(file, f"{base}.copies", raw["copies"], int, "a whole number") <= 99:
        raise ConfigError(file, f"{base}.copies", "must be 1-99")
    if "quiet_s" in raw and not _check(file, f"{base}.quiet_s", raw["quiet_s"], (int, float), "seconds") > 0:
        raise ConfigError(file, f"{base}.quiet_s", "must be positive")
    kwargs.update({k: raw[k] for k in ("copies", "quiet_s") if k in raw})
    windows = _check(file, f"{base}.windows", raw.get("windows", {}), dict,
                     "a table of Modality = { center = C, width = W }")
    for modality, window in windows.items():
        where = f"{base}.windows.{modality}"
        _check(file, where, window, dict, "{ center = C, width = W }")
        if set(window) != {"center", "width"} or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in window.values()) \
                or not window["width"] > 0:
            raise ConfigError(file, where, "expected { center = C, width = W } with W > 0")
    kwargs["windows"] = {m.upper(): {"center": float(w["center"]), "width": float(w["width"])}
                         for m, w in windows.items()}
    return DicomRoute(title, service, printer, **kwargs)


def parse(text: str, source: str) -> ServerConfig:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "(syntax)", str(exc)) from None
    for key in raw:
        if key not in ("server", "printers", "dicom_in"):
            raise ConfigError(source, key, "unknown section (allowed: server, printers, dicom_in)")
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
    if "ae_title" in values and not 1 <= len(values["ae_title"].strip()) <= 16:
        found.errors.append(ConfigError(source, "server.ae_title", "an AE title has 1 to 16 characters"))
    node_name = values.get("node_name")
    if node_name is not None and (not 1 <= len(node_name) <= 40 or "#" in node_name):
        found.errors.append(ConfigError(source, "server.node_name", "1 to 40 characters, without '#'"))
    if values.get("lease_s", 30.0) < 1:
        found.errors.append(ConfigError(source, "server.lease_s", "must be at least 1 second"))
    if values.get("max_upload_bytes_per_owner", 1) <= 0:
        found.errors.append(ConfigError(source, "server.max_upload_bytes_per_owner", "must be positive"))
    if not values.get("upload_grace_s", 3600) >= 1:   # also refuses nan
        found.errors.append(ConfigError(source, "server.upload_grace_s",
                                        "must be at least 1 second (the time between upload and submit)"))
    if values.get("format_processes", 0) < 0:
        found.errors.append(ConfigError(source, "server.format_processes",
                                        "must be 0 (one per CPU, at most 4) or more"))
    if "socket_group" in values:
        try:
            grp.getgrnam(values["socket_group"])
        except KeyError:
            found.errors.append(ConfigError(source, "server.socket_group",
                                            f"no group {values['socket_group']!r} on this system"))
    state_dir = Path(values.pop("state_dir", "var"))
    socket = Path(values.pop("socket", "run/hcserver.sock"))
    spool = Path(values.pop("spool", "spool"))
    audit_log = Path(values.pop("audit_log", "audit.log"))
    database = values.pop("database", f"sqlite:///{state_dir / 'queue.db'}")
    printers_raw = _check(source, "printers", raw.get("printers", {}), dict, "a table of printers")
    if not printers_raw:
        found.errors.append(ConfigError(source, "printers", "at least one printer must be configured"))
    printers = {}
    for name, value in printers_raw.items():
        with found.each():
            printers[name] = _printer(source, name, value)
    if "dicom_in" in raw and not found.errors:
        with found.each():
            values["dicom_in"] = _dicom_in(source, raw["dicom_in"], printers)
    found.raise_any()
    return ServerConfig(
        source=source,
        state_dir=state_dir,
        socket=socket if socket.is_absolute() else state_dir / socket,
        spool=spool if spool.is_absolute() else state_dir / spool,
        audit_log=audit_log if audit_log.is_absolute() else state_dir / audit_log,
        database=database,
        printers=printers,
        **values,
    )


def load(path: str | os.PathLike | None = None) -> ServerConfig:
    """Load ``path``, else ``$HCSERVER_CONFIG``, else the embedded defaults."""
    path = path or os.environ.get("HCSERVER_CONFIG")
    if not path:
        return parse(EMBEDDED_DEFAULTS, EMBEDDED_SOURCE)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), "(file)", exc.strerror or str(exc)) from None
    return parse(text, str(path))
