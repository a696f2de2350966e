"""Printer profiles: what a printer model accepts, as data.

A profile is a TOML file in this package, ``NAME.toml``, named after the printer it describes::

    description = "IHE restricted Print Server: STANDARD\\\\1,1 only, implicit VR only"
    source = "DCMTK 3.6.7, printers.cfg, section [IHERESTRICTED] ..."

    [printer]        # keys of a [printers.NAME] table of the configuration
    film_sizes = ["8INX10IN", "11INX14IN", "14INX17IN"]
    display_formats = ["STANDARD\\\\1,1"]
    ...

    [scp]            # how a Print SCP emulating it behaves, beyond what the keys above say
    implicit_only = true

A printer of the configuration names one (``profile = "ihe-restricted"``): the profile's keys
fill its capabilities and its own keys win (``hcserver.config_printers``). The printer simulator emulates
a profile (``hcserver.simulator``, ``--profile NAME``), and the tests start DCMTK's ``dcmprscp``
configured to match each one. So that both sides may read them, this package imports nothing of
hcserver's own; the values of the printer keys are checked where every printer key is checked,
by the configuration.
"""
from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

#: The keys of a printer a profile may set: what the printer accepts, never where it is or how
#: it is reached (host, port, AE title, TLS, timeouts are the site's).
PRINTER_KEYS = (
    "color", "bit_depth", "dpi", "film_sizes", "display_formats", "medium_types", "film_destinations",
    "magnification_types", "smoothing_types", "presentation_lut", "plut_in_film_session", "annotation_box",
    "annotation_text_length", "annotation_display_format_id", "print_job", "meta_sop_only",
    "configuration_information", "memory_allocation", "defaults",
)

#: What an emulating Print SCP does beyond the printer keys, with the type of each value.
SCP_KEYS: Mapping[str, type] = MappingProxyType({
    "implicit_only": bool,          # accepts Implicit VR Little Endian only
    "omit_sop_class_uid": bool,     # its N-CREATE responses carry no Affected SOP Class UID
    "plut_match_required": bool,    # a Presentation LUT must match the image's bit depth
    "max_pdu": int,                 # the largest PDU it receives
    "image_size": bool,             # takes Requested Image Size (true-size printing)
    "trim": bool,                   # takes Trim
    "manufacturer": str,            # what its N-GET Printer says
    "model": str,
})

_TOP_KEYS = {"description": str, "source": str, "printer": dict, "scp": dict}


class ProfileError(ValueError):
    """A profile that does not exist or whose file is not a profile."""


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    source: str                      # what it was modelled on, and what was left out
    printer: Mapping[str, Any]       # keys of a [printers.NAME] table
    scp: Mapping[str, Any]           # see SCP_KEYS


def names() -> tuple[str, ...]:
    """The bundled profiles, sorted."""
    return tuple(sorted(entry.name.removesuffix(".toml") for entry in resources.files(__package__).iterdir()
                        if entry.name.endswith(".toml")))


@functools.cache
def load(name: str) -> Profile:
    """The bundled profile ``name``; ProfileError if there is none or its file is no profile."""
    if name not in names():
        raise ProfileError(f"unknown printer profile {name!r} (bundled: {', '.join(names())})")
    text = resources.files(__package__).joinpath(f"{name}.toml").read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"printer profile {name!r}: {exc}") from None
    return parse(name, raw)


def parse(name: str, raw: Mapping[str, Any]) -> Profile:
    """A profile from its file's tables; the shape is checked here, the printer keys' values by
    the configuration (hcserver.config_printers), which checks every printer key."""
    for key, value in raw.items():
        if key not in _TOP_KEYS:
            raise ProfileError(f"printer profile {name!r}: unknown key {key!r} (allowed: {', '.join(_TOP_KEYS)})")
        if not isinstance(value, _TOP_KEYS[key]):
            raise ProfileError(f"printer profile {name!r}: {key} must be a {_TOP_KEYS[key].__name__}")
    for key in ("description", "source"):
        if not raw.get(key, "").strip():
            raise ProfileError(f"printer profile {name!r}: {key} is required: say what it describes and "
                               "what it was modelled on")
    printer = raw.get("printer", {})
    for key in printer:
        if key not in PRINTER_KEYS:
            raise ProfileError(f"printer profile {name!r}: printer.{key}: not a key a profile may set "
                               f"(allowed: {', '.join(PRINTER_KEYS)})")
    scp = raw.get("scp", {})
    for key, value in scp.items():
        kind = SCP_KEYS.get(key)
        if kind is None:
            raise ProfileError(f"printer profile {name!r}: scp.{key}: unknown key (allowed: {', '.join(SCP_KEYS)})")
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ProfileError(f"printer profile {name!r}: scp.{key}: expected a {kind.__name__}, got {value!r}")
    return Profile(name, raw["description"].strip(), raw["source"].strip(), MappingProxyType(dict(printer)),
                   MappingProxyType(dict(scp)))
