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

from hcserver import __version__, profiles
from hcserver.drivers.dicom.status_policy import parse_override
from hcserver.drivers.settings import REPRINT_IN_DOUBT, PrinterConfig, PrinterDefaults, Station
from hcserver.formatter.geometry import FILM_SIZES, MAGNIFICATIONS, ORIENTATIONS
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


#: How a pool picks the member for its next job (README, "Printer pools").
POOL_POLICIES = ("first-available", "round-robin")


@dataclass(frozen=True)
class PoolConfig:
    """A pool (CUPS: a class): jobs sent to it print on one of its printers, tried in this order."""

    name: str
    printers: tuple[str, ...]
    policy: str = "first-available"


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
    # the sockets (hcserver.server.transport): connections and what they may hold
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
    printers: dict[str, PrinterConfig] = field(default_factory=dict)
    pools: dict[str, PoolConfig] = field(default_factory=dict)

    def members(self, name: str) -> tuple[str, ...]:
        """The printers a job sent to ``name`` may print on: a pool's, or the printer itself."""
        pool = self.pools.get(name)
        return pool.printers if pool else (name,)

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
    if "profile" in raw:
        with found.each():
            raw = _profile_keys(file, base, raw, kwargs)
    for key, value in raw.items():
        with found.each():
            _printer_key(file, base, key, value, kwargs)
    found.raise_any()
    return _printer_checks(file, base, kwargs)


def _profile_keys(file: str, base: str, raw: dict[str, Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """A printer that names a profile (hcserver.profiles): the profile's keys, checked as the
    printer's own are, into ``kwargs``; returns the printer's own keys, which are read after them
    and so win (its ``defaults`` merged over the profile's, key by key)."""
    name = _check(file, f"{base}.profile", raw["profile"], str, "the name of a printer profile")
    try:
        profile = profiles.load(name)
    except profiles.ProfileError as exc:
        raise ConfigError(file, f"{base}.profile", str(exc)) from None
    where = f"{base} (profile {name})"
    found = _Collector()
    for key, value in profile.printer.items():
        with found.each():
            _printer_key(file, where, key, value, kwargs)
    found.raise_any()
    own = {key: value for key, value in raw.items() if key != "profile"}
    if isinstance(own.get("defaults"), dict) and isinstance(profile.printer.get("defaults"), dict):
        own["defaults"] = {**profile.printer["defaults"], **own["defaults"]}
    return own


def _printer_key(file: str, base: str, key: str, value: Any, kwargs: dict[str, Any]) -> None:
    full = f"{base}.{key}"
    if key == "driver":
        kwargs[key] = _choice(file, full, value, DRIVERS)
    elif key == "profile":
        return   # read before the other keys (_profile_keys)
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
    """The socket limits, each against the others (hcserver.server.transport)."""
    defaults = ServerConfig(source)

    def get(key: str):
        return values.get(key, getattr(defaults, key))

    for key in ("max_connections", "max_connections_per_user", "max_pending_upload_bytes",
                "max_failed_auth_per_minute"):
        if get(key) < 1:
            found.errors.append(ConfigError(source, f"server.{key}", "must be at least 1"))
    for key in ("idle_timeout_s", "stall_timeout_s"):
        if not get(key) >= 1:   # also refuses nan
            found.errors.append(ConfigError(source, f"server.{key}", "must be at least 1 second"))
    if not 0 <= get("reserved_admin_connections") < get("max_connections"):
        found.errors.append(ConfigError(source, "server.reserved_admin_connections",
                                        f"must be 0 or more and less than max_connections ({get('max_connections')})"))
    if get("max_pending_upload_bytes") < get("max_attachment_bytes"):
        found.errors.append(ConfigError(source, "server.max_pending_upload_bytes",
                                        f"must be at least max_attachment_bytes ({get('max_attachment_bytes')}): "
                                        f"the largest upload allowed must fit"))


def _pools(file: str, raw: Any, printers: dict[str, Any]) -> dict[str, PoolConfig]:
    """``[pools.NAME]``: printers (configured ones, in the order they are tried) and a policy.
    Pools and printers share one namespace: a job names either."""
    pools: dict[str, PoolConfig] = {}
    found = _Collector()
    for name, entry in _check(file, "pools", raw, dict, "a table of pools").items():
        with found.each():
            base = f"pools.{name}"
            _check(file, base, entry, dict, "a table with printers = [...] and policy")
            if name in printers:
                raise ConfigError(file, base, f"a printer is named {name!r} too: a job names a printer or a pool, "
                                              "so their names must differ")
            extra = sorted(set(entry) - {"printers", "policy"})
            if extra:
                raise ConfigError(file, f"{base}.{extra[0]}", "unknown key (allowed: policy, printers)")
            members = _str_list(file, f"{base}.printers", entry.get("printers", []))
            if not members:
                raise ConfigError(file, f"{base}.printers", "a pool needs at least one printer")
            for i, member in enumerate(members):
                if member not in printers:
                    raise ConfigError(file, f"{base}.printers[{i}]", f"no printer {member!r} (configured: "
                                                                     f"{', '.join(printers)})")
                if member in members[:i]:
                    raise ConfigError(file, f"{base}.printers[{i}]", f"{member!r} is listed twice")
            policy = _choice(file, f"{base}.policy", entry.get("policy", POOL_POLICIES[0]), POOL_POLICIES)
            pools[name] = PoolConfig(name, members, policy)
    found.raise_any()
    return pools


def parse(text: str, source: str) -> ServerConfig:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "(syntax)", str(exc)) from None
    for key in raw:
        if key not in ("server", "printers", "pools"):
            raise ConfigError(source, key, "unknown section (allowed: server, printers, pools)")
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
    _connection_checks(source, values, found)
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
    pools: dict[str, PoolConfig] = {}
    with found.each():
        pools = _pools(source, raw.get("pools", {}), printers_raw)
    found.raise_any()
    return ServerConfig(
        source=source,
        state_dir=state_dir,
        socket=socket if socket.is_absolute() else state_dir / socket,
        spool=spool if spool.is_absolute() else state_dir / spool,
        audit_log=audit_log if audit_log.is_absolute() else state_dir / audit_log,
        database=database,
        printers=printers,
        pools=pools,
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
