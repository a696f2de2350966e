"""The ``[printers.NAME]`` tables of the configuration: how each printer is reached and what it
accepts, its job defaults, its status policy, and the printer profile it may name
(hcserver.profiles). hcserver.config reads the rest of the file and calls :func:`parse_printer`;
as there, every error names the file and the key, and all of a table's errors are reported at
once."""
from __future__ import annotations

import math
from typing import Any

from hcserver import profiles
from hcserver.configerrors import Collector, ConfigError, check, choice, ranges, str_list
from hcserver.drivers.dicom.status_policy import parse_override
from hcserver.drivers.settings import PRINT_ACTIONS, REPRINT_IN_DOUBT, PrinterConfig, PrinterDefaults
from hcserver.formatter.geometry import FILM_SIZES, MAGNIFICATIONS, MAX_DPI, ORIENTATIONS, film_size_id
from hcserver.printer_drivers import DRIVERS
from hcserver.states import PRIORITIES

#: Bounds of numbers, by key: (lowest, highest, what the error says)
_RANGES: dict[str, tuple[float, float, str]] = {
    "port": (1, 65535, "a TCP port is 1-65535"),
    "connect_timeout_s": (0.1, 3600, "0.1 to 3600 seconds"),
    "acse_timeout_s": (0.1, 3600, "0.1 to 3600 seconds"),
    "dimse_timeout_s": (0.1, 86400, "0.1 to 86400 seconds"),
    "network_timeout_s": (0.1, 86400, "0.1 to 86400 seconds"),
    "dpi": (1, MAX_DPI, f"1 to {MAX_DPI} printer pixels per inch"),
    "annotation_text_length": (1, 1024, "1 to 1024 characters"),
    "memory_allocation": (0, math.inf, "0 or more kilobytes"),
    "retry_interval_s": (0, 86400, "0 to 86400 seconds"),
    "retry_limit": (1, 1000, "1 to 1000 attempts"),
    "status_poll_s": (0.1, 86400, "0.1 to 86400 seconds"),
    "print_job_timeout_s": (0.1, 86400, "0.1 to 86400 seconds"),
    "session_films": (0, 10000, "0 (all the job's films) to 10000 films"),
}
#: The PDU sizes a printer may be offered: 0 means no limit; below DCMTK's minimum nothing fits
MIN_PDU, MAX_PDU = 4096, (1 << 32) - 1


_FIELDS: dict[str, tuple[type | tuple, str]] = {
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
    "print_job_timeout_s": ((int, float), "seconds"),
    "session_films": (int, "a number of films (0: all the job's films)"),
    "meta_sop_only": (bool, "true or false"),
    "configuration_information": (str, "a string"),
    "memory_allocation": (int, "kilobytes"),
    "preempt": (bool, "true or false"),
    "retry_interval_s": ((int, float), "seconds"),
    "retry_limit": (int, "a number of attempts"),
    "status_poll_s": ((int, float), "seconds"),
}


def parse_printer(file: str, name: str, raw: Any) -> PrinterConfig:
    """One printer's table; every error in it is reported (ConfigErrors), not only the first."""
    base = f"printers.{name}"
    check(file, base, raw, dict, "a table")
    kwargs: dict[str, Any] = {"name": name}
    found = Collector()
    if "profile" in raw:
        with found.each():
            raw = _profile_keys(file, base, raw, kwargs)
    for key, value in raw.items():
        with found.each():
            _printer_key(file, base, key, value, kwargs)
    ranges(file, base, kwargs, _RANGES, found)
    config = _printer_checks(file, base, kwargs, found)
    found.raise_any()
    assert config is not None
    return config


def _profile_keys(file: str, base: str, raw: dict[str, Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """A printer that names a profile (hcserver.profiles): the profile's keys, checked as the
    printer's own are, into ``kwargs``; returns the printer's own keys, which are read after them
    and so win (its ``defaults`` merged over the profile's, key by key)."""
    name = check(file, f"{base}.profile", raw["profile"], str, "the name of a printer profile")
    if name.lower() in profiles.names():   # a name in any case, as the other enumerations
        name = name.lower()
    try:
        profile = profiles.load(name)
    except profiles.ProfileError as exc:
        raise ConfigError(file, f"{base}.profile", str(exc)) from None
    where = f"{base} (profile {name})"
    found = Collector()
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
        kwargs[key] = choice(file, full, value, DRIVERS, str.lower)
    elif key == "profile":
        return   # read before the other keys (_profile_keys)
    elif key in _FIELDS:
        kind, what = _FIELDS[key]
        kwargs[key] = check(file, full, value, kind, what)
    elif key == "reprint_in_doubt":
        kwargs[key] = choice(file, full, value, REPRINT_IN_DOUBT, str.lower)
    elif key == "print_action":
        kwargs[key] = choice(file, full, value, PRINT_ACTIONS, str.lower)
    elif key == "film_sizes":
        kwargs[key] = str_list(file, full, value, tuple(FILM_SIZES), film_size_id)
    elif key == "magnification_types":
        kwargs[key] = str_list(file, full, value, MAGNIFICATIONS)
    elif key in ("display_formats", "medium_types", "film_destinations", "smoothing_types"):
        kwargs[key] = str_list(file, full, value)
    elif key == "defaults":
        kwargs[key] = _defaults(file, full, value)
    elif key == "status_policy":
        check(file, full, value, dict, "a table of \"OPERATION 0xCODE\" = action")
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


def _printer_checks(file: str, base: str, kwargs: dict[str, Any], found: Collector) -> PrinterConfig | None:
    """Checks between keys, once each key is valid on its own; each error goes to ``found``."""
    def error(key: str, message: str) -> None:
        found.errors.append(ConfigError(file, f"{base}.{key}", message))

    if kwargs.get("bit_depth", 8) not in (8, 12):
        error("bit_depth", "must be 8 or 12")
    for key in ("ae_title", "calling_ae_title"):
        if key in kwargs and not 1 <= len(kwargs[key].strip()) <= 16:
            error(key, "an AE title has 1 to 16 characters")
    pdu = kwargs.get("max_pdu", 0)
    if pdu != 0 and not MIN_PDU <= pdu <= MAX_PDU:
        error("max_pdu", f"{pdu!r} is out of range: must be 0 (no limit) or {MIN_PDU} to {MAX_PDU} bytes")
    with found.each():
        _check_tls(file, base, kwargs)
    try:
        config = PrinterConfig(**kwargs)
    except (TypeError, ValueError) as exc:
        error("(table)", str(exc))
        return None
    for key, value, allowed in (("film_size", config.defaults.film_size, config.film_sizes),
                                ("magnification", config.defaults.magnification, config.magnification_types),
                                ("layout", config.defaults.layout, config.display_formats),
                                ("medium_type", config.defaults.medium_type, config.medium_types),
                                ("film_destination", config.defaults.film_destination, config.film_destinations)):
        if allowed and value is not None and value not in allowed:
            error(f"defaults.{key}", f"{value!r} is not one this printer accepts ({', '.join(allowed)})")
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
    check(file, base, raw, dict, "a table")
    kwargs: dict[str, Any] = {}
    found = Collector()
    for key, value in raw.items():
        with found.each():
            kwargs[key] = _default(file, f"{base}.{key}", key, value)
    if "copies" in kwargs and not 1 <= kwargs["copies"] <= 99:
        found.errors.append(ConfigError(file, f"{base}.copies",
                                        f"{kwargs['copies']!r} is out of range: must be 1 to 99"))
    found.raise_any()
    return PrinterDefaults(**kwargs)


def _default(file: str, full: str, key: str, value: Any) -> Any:
    if key == "film_size":
        return choice(file, full, value, tuple(FILM_SIZES), film_size_id)
    if key == "orientation":
        return choice(file, full, value, ORIENTATIONS)
    if key == "magnification":
        return choice(file, full, value, MAGNIFICATIONS)
    if key == "priority":
        return choice(file, full, value, PRIORITIES, str.lower)
    if key == "copies":
        return check(file, full, value, int, "a whole number")
    if key in ("layout", "medium_type", "film_destination"):
        return check(file, full, value, str, "a string")
    raise ConfigError(file, full, "unknown key (allowed: film_size, orientation, layout, "
                                  "medium_type, film_destination, magnification, priority, copies)")
