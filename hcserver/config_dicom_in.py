"""The ``[dicom_in]`` section of the configuration: the DICOM front door (hcserver.dicom_in), a
listener whose called AE titles are routes to printers. hcserver.config reads the rest of the
file and calls :func:`parse_dicom_in`; as there, every error names the file and the key, and all
of a section's errors are reported at once."""
from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hcserver.configerrors import Collector, ConfigError, check, choice, ranges, str_list
from hcserver.formatter.geometry import FILM_SIZES, ORIENTATIONS, film_size_id, validate_layout
from hcserver.states import PRIORITIES

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
    max_association_bytes: int = 1 << 30   # bytes one association may send (more: aborted)
    max_message_bytes: int = 512 << 20     # bytes one DIMSE message may have (more: the association is aborted)
    max_bytes_in_flight: int = 1 << 30     # bytes of messages all associations are receiving (more: aborted)
    max_spool_bytes: int = 8 << 30         # the routes' images not yet printed, all origins together
    duplicate_window_s: float = 600.0      # a film identical to one this recent is a modality's retry
    network_timeout_s: float = 60.0


_FIELDS: dict[str, tuple[type | tuple, str]] = {
    "host": (str, "an address to listen on"),
    "port": (int, "a TCP port number"),
    "max_associations": (int, "a number of associations"),
    "max_pdu": (int, "a PDU size in bytes"),
    "max_association_bytes": (int, "bytes"),
    "max_message_bytes": (int, "bytes"),
    "max_bytes_in_flight": (int, "bytes"),
    "max_spool_bytes": (int, "bytes"),
    "duplicate_window_s": ((int, float), "seconds"),
    "network_timeout_s": ((int, float), "seconds"),
}
#: Bounds of numbers, by key: (lowest, highest, what the error says); see also _POSITIVE
_RANGES: dict[str, tuple[float, float, str]] = {
    "port": (0, 65535, "0-65535 (0: any free port)"),
    "max_associations": (1, 1000, "1 to 1000 associations"),
    "max_pdu": (4096, 1 << 24, "4096 to 16777216 bytes"),
    "max_association_bytes": (1, math.inf, "at least 1 byte"),
    "max_message_bytes": (1, math.inf, "at least 1 byte"),
    "max_bytes_in_flight": (1, math.inf, "at least 1 byte"),
    "max_spool_bytes": (1, math.inf, "at least 1 byte"),
}
_POSITIVE = ("duplicate_window_s", "network_timeout_s")
_ROUTE_KEYS = ("service", "printer", "layout", "film_size", "orientation", "windows", "copies", "priority",
               "quiet_s")
_PRINT_ROUTE_KEYS = {"service", "printer", "priority"}


def _positive(file: str, key: str, value: Any, found: Collector) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not value > 0:   # also refuses NaN
        found.errors.append(ConfigError(file, key, f"{value!r} is out of range: must be more than 0 seconds"))


def _ae_title(file: str, key: str, value: Any) -> str:
    check(file, key, value, str, "an AE title")
    if not 1 <= len(value.strip()) <= 16 or "\\" in value or not value.isascii():
        raise ConfigError(file, key, "an AE title has 1 to 16 ASCII characters, without a backslash")
    return value.strip()


def parse_dicom_in(file: str, raw: Any, printers: Collection[str],
                   pools: Mapping[str, Sequence[str]] | None = None) -> DicomListener:
    """``[dicom_in]`` of ``file``; ``printers``: the names of the configured printers, which the
    routes name; ``pools``: the configured pools and their printers, which a route may not name
    (see :func:`_route`). Raises ConfigErrors with every problem found."""
    check(file, "dicom_in", raw, dict, "a table")
    values: dict[str, Any] = {}
    routes: dict[str, DicomRoute] = {}
    found = Collector()
    for key, value in raw.items():
        full = f"dicom_in.{key}"
        with found.each():
            if key == "ae":
                for title, entry in check(file, full, value, dict, "a table of called AE titles").items():
                    with found.each():
                        title = _ae_title(file, f"{full}.{title}", title)
                        routes[title] = _route(file, f"{full}.{title}", title, entry, printers, pools or {})
            elif key == "allowed_calling_aes":
                values[key] = tuple(_ae_title(file, f"{full}[{i}]", v)
                                    for i, v in enumerate(str_list(file, full, value)))
            elif key in _FIELDS:
                values[key] = check(file, full, value, *_FIELDS[key])
            else:
                raise ConfigError(file, full, f"unknown key (allowed: ae, allowed_calling_aes, {', '.join(_FIELDS)})")
    for key in ("host", "port"):
        if key not in values and not any(error.key == f"dicom_in.{key}" for error in found.errors):
            found.errors.append(ConfigError(file, f"dicom_in.{key}", "required"))
    if not routes and not any(error.key.startswith("dicom_in.ae") for error in found.errors):
        found.errors.append(ConfigError(file, "dicom_in.ae",
                                        "at least one called AE title ([dicom_in.ae.NAME]) is needed"))
    ranges(file, "dicom_in", values, _RANGES, found)
    for key in _POSITIVE:
        _positive(file, f"dicom_in.{key}", values.get(key), found)
    found.raise_any()
    return DicomListener(routes=routes, **values)


def _route(file: str, base: str, title: str, raw: Any, printers: Collection[str],
           pools: Mapping[str, Sequence[str]]) -> DicomRoute:
    """One ``[dicom_in.ae.TITLE]`` table; every error in it is reported. A store route may name
    a pool (its jobs go where ``hcq submit``'s to the pool go); a print route names one printer:
    it answers a modality for that printer (its film sizes, display formats, media, status)
    before any member of a pool would be chosen."""
    check(file, base, raw, dict, "a table (service, printer, ...)")
    found = Collector()
    for key in raw:
        if key not in _ROUTE_KEYS:
            found.errors.append(ConfigError(file, f"{base}.{key}", f"unknown key (allowed: {', '.join(_ROUTE_KEYS)})"))
    for key in ("service", "printer"):
        if key not in raw:
            found.errors.append(ConfigError(file, f"{base}.{key}", "required"))
    found.raise_any()
    kwargs: dict[str, Any] = {}
    with found.each():
        kwargs["service"] = choice(file, f"{base}.service", raw["service"], SERVICES, str.lower)
    with found.each():
        kwargs["printer"] = check(file, f"{base}.printer", raw["printer"], str, "a printer name")
        if kwargs["printer"] in pools and kwargs.get("service") == "print":
            members = ", ".join(pools[kwargs["printer"]]) or "none"
            raise ConfigError(file, f"{base}.printer",
                              f"{kwargs['printer']!r} is a pool: a print route names one printer, whose film "
                              f"sizes, formats and status the modality is answered with; name one of the pool's "
                              f"printers ({members}), or use the pool from a store route")
        if kwargs["printer"] not in printers and kwargs["printer"] not in pools:
            raise ConfigError(file, f"{base}.printer",
                              f"no printer {kwargs['printer']!r} (configured: {', '.join(printers)})")
    if kwargs.get("service") == "print" and set(raw) - _PRINT_ROUTE_KEYS:
        extra = sorted(set(raw) - _PRINT_ROUTE_KEYS)[0]
        found.errors.append(ConfigError(file, f"{base}.{extra}", "a print route prints what the modality sends: "
                                                                 "only service, printer and priority apply"))
        found.raise_any()
    for key, allowed, spell in (("film_size", tuple(FILM_SIZES), film_size_id),
                                ("orientation", ORIENTATIONS, str.upper), ("priority", PRIORITIES, str.lower)):
        if key in raw:
            with found.each():
                kwargs[key] = choice(file, f"{base}.{key}", raw[key], allowed, spell)
    if "layout" in raw:
        with found.each():
            kwargs["layout"] = check(file, f"{base}.layout", raw["layout"], str, "a display format")
            try:
                validate_layout(kwargs["layout"], kwargs.get("orientation", "PORTRAIT"),
                                kwargs.get("film_size", "14INX17IN"))
            except ValueError as exc:
                raise ConfigError(file, f"{base}.layout", str(exc)) from None
    for key, kind, what in (("copies", int, "a whole number"), ("quiet_s", (int, float), "seconds")):
        if key in raw:
            with found.each():
                kwargs[key] = check(file, f"{base}.{key}", raw[key], kind, what)
    ranges(file, base, kwargs, {"copies": (1, 99, "1 to 99")}, found)
    _positive(file, f"{base}.quiet_s", kwargs.get("quiet_s"), found)
    with found.each():
        kwargs["windows"] = _windows(file, f"{base}.windows", raw.get("windows", {}))
    found.raise_any()
    return DicomRoute(title, **kwargs)


def _windows(file: str, base: str, raw: Any) -> dict[str, dict[str, float]]:
    """The window presets of a store route, by Modality: ``{ center = C, width = W }`` each."""
    windows = check(file, base, raw, dict, "a table of Modality = { center = C, width = W }")
    for modality, window in windows.items():
        where = f"{base}.{modality}"
        check(file, where, window, dict, "{ center = C, width = W }")
        if set(window) != {"center", "width"} or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in window.values()) \
                or not window["width"] > 0:
            raise ConfigError(file, where, "expected { center = C, width = W } with W > 0")
    return {m.upper(): {"center": float(w["center"]), "width": float(w["width"])} for m, w in windows.items()}
