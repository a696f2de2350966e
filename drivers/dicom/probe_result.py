"""What a capability probe found (:mod:`hcserver.drivers.dicom.probe`), and the printer settings
it amounts to.

Every value tried is a :class:`Tried`: accepted (a success or warning status) or refused (with
the status, its meaning and the printer's Error Comment). :meth:`ProbeResult.settings` turns the
accepted values into keys of a printer's configuration (``drivers/settings.py``:
:class:`~hcserver.drivers.settings.PrinterConfig`), which ``hcq probe --toml`` prints as a
``[printers.NAME]`` block; a list of which nothing was accepted is left out (an empty list would
mean "anything"), with a note saying so.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from hcserver.drivers.settings import PrinterConfig

#: The SOP classes a probe proposes, by the names the result uses.
CLASS_NAMES = ("grayscale-meta", "color-meta", "presentation-lut", "annotation-box", "print-job",
               "printer-configuration")


@dataclass(frozen=True)
class Tried:
    """One value tried, and the printer's answer: its status (None: none came, the association
    ended), the status's meaning, and the printer's Error Comment."""

    value: str
    accepted: bool
    status: int | None = None
    meaning: str = ""
    comment: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "accepted": self.accepted,
                "status": None if self.status is None else f"0x{self.status:04X}", "meaning": self.meaning,
                "comment": self.comment}

    @property
    def answer(self) -> str:
        """The answer in words: ``0x0106 Invalid Attribute Value (printer says: ...)``."""
        status = "no answer" if self.status is None else f"0x{self.status:04X}"
        return f"{status} {self.meaning}" + (f" (printer says: {self.comment})" if self.comment else "")


@dataclass
class ProbeResult:
    """Everything a probe learnt, in the order it asked (see the probe module's docstring)."""

    printer: str
    sop_classes: dict[str, bool] = field(default_factory=dict)        # proposed class -> accepted
    printer_attributes: dict[str, str] = field(default_factory=dict)  # N-GET Printer
    configuration: list[dict[str, Any]] | None = None   # Printer Configuration Sequence; None: not asked
    medium_types: list[Tried] = field(default_factory=list)
    film_destinations: list[Tried] = field(default_factory=list)
    film_sizes: list[Tried] = field(default_factory=list)
    display_formats: list[Tried] = field(default_factory=list)
    magnification_types: list[Tried] = field(default_factory=list)
    bit_depths: list[Tried] = field(default_factory=list)             # "12", "8"
    presentation_lut: list[Tried] = field(default_factory=list)       # "created", "film-box", "film-session"
    annotation: list[Tried] = field(default_factory=list)             # the Annotation Display Format ID
    requests: int = 0
    associations: int = 0             # more than one: the printer kept what it would not delete
    seconds: float = 0.0
    stopped: str | None = None        # why the probe ended before it was done
    cut_short: str | None = None      # the list of TRIED_LISTS it was trying then
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)            # see derive_settings

    @property
    def complete(self) -> bool:
        return self.stopped is None

    def to_dict(self) -> dict[str, Any]:
        tried = {name: [t.to_dict() for t in getattr(self, name)] for name in TRIED_LISTS}
        return {"printer": self.printer, "complete": self.complete, "stopped": self.stopped,
                "cut_short": self.cut_short,
                "requests": self.requests, "associations": self.associations,
                "seconds": round(self.seconds, 3), "sop_classes": self.sop_classes,
                "printer_attributes": self.printer_attributes, "configuration": self.configuration, **tried,
                "notes": self.notes, "settings": self.settings}


#: The lists of values tried, in the order a probe tries them.
TRIED_LISTS = ("medium_types", "film_destinations", "film_sizes", "display_formats", "magnification_types",
               "bit_depths", "presentation_lut", "annotation")


def accepted(tried: list[Tried]) -> list[str]:
    return [t.value for t in tried if t.accepted]


def derive_settings(result: ProbeResult, current: PrinterConfig) -> dict[str, Any]:
    """The keys of a ``[printers.NAME]`` table that say what the probe found the printer accepts.

    Only what was learnt: a list nothing of which was accepted, or whose trying the probe's stop
    cut short, and a value not tried, are left out (and noted in ``result.notes``). ``defaults``
    keeps the printer's current defaults where the printer accepts them, else the first accepted
    value, so that the block is valid as it stands.
    """
    found: dict[str, Any] = {}
    if "color-meta" in result.sop_classes:
        found["color"] = result.sop_classes["color-meta"]
    depths = accepted(result.bit_depths)
    if depths:
        found["bit_depth"] = 12 if "12" in depths else 8
    for key in ("film_sizes", "display_formats", "medium_types", "film_destinations", "magnification_types"):
        tried = getattr(result, key)
        if key == result.cut_short:   # what was not tried may be accepted too
            result.notes.append(f"{key}: left out, the probe stopped while trying them")
        elif tried and accepted(tried):
            found[key] = accepted(tried)
        elif tried:
            result.notes.append(f"{key}: none of the values tried was accepted; left out (an empty list would "
                                "mean any)")
    levels = accepted(result.presentation_lut)
    if result.cut_short == "presentation_lut":
        result.notes.append("presentation_lut: left out, the probe stopped while trying it")
    elif "film-box" in levels or "film-session" in levels:
        found["presentation_lut"] = True
        # the film box is the standard's place (CP 173); the film session only where the box is refused
        found["plut_in_film_session"] = "film-box" not in levels
    elif result.sop_classes.get("presentation-lut") is not None:
        found["presentation_lut"] = False
    if result.annotation:
        found["annotation_box"] = result.annotation[0].accepted
        if result.annotation[0].accepted:
            found["annotation_display_format_id"] = result.annotation[0].value
    if "print-job" in result.sop_classes:
        found["print_job"] = result.sop_classes["print-job"]
    found["defaults"] = _defaults(found, current)
    return found


def _defaults(found: dict[str, Any], current: PrinterConfig) -> dict[str, Any]:
    """The printer's defaults, each one the printer accepts (see :func:`derive_settings`)."""
    defaults = {k: v for k, v in dataclasses.asdict(current.defaults).items() if v is not None}
    for key, listed in (("film_size", "film_sizes"), ("magnification", "magnification_types"),
                        ("layout", "display_formats"), ("medium_type", "medium_types"),
                        ("film_destination", "film_destinations")):
        values = found.get(listed)
        if not values or defaults.get(key) in values:
            continue
        if key in ("film_size", "magnification"):   # always sent: the first the printer takes
            defaults[key] = values[0]
        else:                                       # left out: the printer's own default
            defaults.pop(key, None)
    return defaults
