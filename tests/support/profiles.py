"""Printer profiles (hcserver.profiles) as the tests' peers take them: DCMTK's dcmprscp configured
to match a profile (the knobs of tests/support/dcmtk.py), and a printer of the configuration that
names it."""
from __future__ import annotations

from typing import Any

from hcserver import profiles
from hcserver.config import PrinterConfig, parse
from tests.support.dcmtk import DEFAULT_OPTIONS


def _listed(values: list[str]) -> str:
    return "\\".join(values)


def dcmprscp_options(name: str) -> dict[str, Any]:
    """dcmprscp's knobs for a printer that accepts what profile ``name`` lists (what it leaves open,
    e.g. any medium type, keeps dcmprscp's default list). dcmprscp takes STANDARD\\C,R layouts
    only, as C,R (and their transposes in landscape)."""
    profile = profiles.load(name)
    p, scp = profile.printer, profile.scp
    formats = []
    for layout in p["display_formats"]:
        kind, _, numbers = layout.partition("\\")
        if kind != "STANDARD":
            raise ValueError(f"profile {name}: dcmprscp takes STANDARD layouts only, not {layout}")
        formats.append(numbers)
    options: dict[str, Any] = {
        "display_formats": _listed(formats),
        "film_sizes": _listed(p["film_sizes"]),
        "magnification_types": _listed(p["magnification_types"]),
        "supports_12bit": p.get("bit_depth", 8) == 12,
        "plut": bool(p.get("presentation_lut", False)),
        "plut_in_session": bool(p.get("plut_in_film_session", False)),
        "plut_match": scp.get("plut_match_required", False),
        "implicit_only": scp.get("implicit_only", False),
        "omit_sop_class": scp.get("omit_sop_class_uid", False),
        "image_size": scp.get("image_size", True),
        "trim": scp.get("trim", True),
        "max_pdu": scp.get("max_pdu", DEFAULT_OPTIONS["max_pdu"]),
    }
    for key in ("medium_types", "film_destinations"):
        if p.get(key):
            options[key] = _listed(p[key])
    return options


def profile_printer(name: str, port: int, ae_title: str = "PRINTSCP", extra: str = "") -> PrinterConfig:
    """A DICOM printer on 127.0.0.1:``port`` that names profile ``name``, with short timeouts."""
    text = (f'[printers.p]\ndriver = "dicom"\nprofile = "{name}"\nae_title = "{ae_title}"\nhost = "127.0.0.1"\n'
            f"port = {port}\nconnect_timeout_s = 3\nacse_timeout_s = 5\ndimse_timeout_s = 5\n{extra}")
    return parse(text, f"profile {name}").printers["p"]
