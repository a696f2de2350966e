"""What the simulated printer accepts: anything it can lay out (the default), or what a printer
profile says (``PrinterSimulator(profile=NAME)``, ``--profile NAME``; the profiles are the data
of :mod:`hcserver.profiles`, which the configuration reads too).

An emulated printer refuses what its profile does not list as a printer does: a value it does not
take is 0x0106 (Invalid attribute value), an attribute it does not take at all, such as a
Presentation LUT referenced from the film box of a printer that wants it on the film session, is
0x0105 (No such attribute); both say what in the Error Comment. That is how DCMTK's ``dcmprscp``
answers the same requests, which the tests check it against.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset

from hcserver import profiles
from hcserver.simulator.state import Result


def _upper(values: Iterable[Any] | None) -> tuple[str, ...] | None:
    """A profile's list as the simulator compares it (None: anything)."""
    return tuple(str(v).strip().upper() for v in values) if values else None


@dataclass(frozen=True)
class Capabilities:
    """What the printer takes; None for a list means anything."""

    profile: str | None = None
    medium_types: tuple[str, ...] | None = None
    film_destinations: tuple[str, ...] | None = None
    film_sizes: tuple[str, ...] | None = None          # the first is the default
    display_formats: tuple[str, ...] | None = None
    magnification_types: tuple[str, ...] | None = None
    color: bool = True
    supports_12bit: bool = True
    presentation_lut: bool = True
    plut_in_film_session: bool | None = None           # where a Presentation LUT is referenced; None: either
    annotation_box: bool = True
    implicit_only: bool = False
    image_size: bool = True                            # takes Requested Image Size
    trim: bool = True
    manufacturer: str = "hcserver"
    model: str = "Printer Simulator"

    @classmethod
    def of_profile(cls, name: str) -> Capabilities:
        """The capabilities of the bundled printer profile ``name`` (ValueError if there is none)."""
        profile = profiles.load(name)
        p: Mapping[str, Any] = profile.printer
        scp: Mapping[str, Any] = profile.scp
        plut = bool(p.get("presentation_lut", False))
        return cls(profile=name, medium_types=_upper(p.get("medium_types")),
                   film_destinations=_upper(p.get("film_destinations")), film_sizes=_upper(p.get("film_sizes")),
                   display_formats=_upper(p.get("display_formats")),
                   magnification_types=_upper(p.get("magnification_types")),
                   color=bool(p.get("color", False)), supports_12bit=p.get("bit_depth", 8) == 12,
                   presentation_lut=plut,
                   plut_in_film_session=bool(p.get("plut_in_film_session", False)) if plut else None,
                   annotation_box=bool(p.get("annotation_box", False)),
                   implicit_only=bool(scp.get("implicit_only", False)), image_size=bool(scp.get("image_size", True)),
                   trim=bool(scp.get("trim", True)), manufacturer=str(scp.get("manufacturer", "hcserver")),
                   model=str(scp.get("model", f"Printer Simulator ({name})")))

    @property
    def default_film_size(self) -> str:
        """What a film box without Film Size ID gets."""
        return self.film_sizes[0] if self.film_sizes else "8INX10IN"

    # -- the checks -------------------------------------------------------------------
    def check_film_session(self, attrs: Dataset) -> Result | None:
        return (_one_of(attrs, "MediumType", "Medium Type", self.medium_types)
                or _one_of(attrs, "FilmDestination", "Film Destination", self.film_destinations)
                or self._plut_level(attrs, in_session=True))

    def check_film_box(self, attrs: Dataset) -> Result | None:
        return (_one_of(attrs, "FilmSizeID", "Film Size ID", self.film_sizes)
                or _one_of(attrs, "ImageDisplayFormat", "Image Display Format", self.display_formats)
                or _one_of(attrs, "MagnificationType", "Magnification Type", self.magnification_types)
                or _not_taken(attrs, "Trim", not self.trim)
                or self._plut_level(attrs, in_session=False))

    def check_image_box(self, mods: Dataset) -> Result | None:
        return (_one_of(mods, "MagnificationType", "Magnification Type", self.magnification_types)
                or _not_taken(mods, "RequestedImageSize", not self.image_size))

    def _plut_level(self, attrs: Dataset, *, in_session: bool) -> Result | None:
        if self.plut_in_film_session is None or self.plut_in_film_session == in_session:
            return None
        wanted = "film session" if self.plut_in_film_session else "film box"
        return _not_taken(attrs, "ReferencedPresentationLUTSequence", True,
                          f"this printer takes the Presentation LUT on the {wanted}")


def _one_of(attrs: Dataset, keyword: str, name: str, allowed: tuple[str, ...] | None) -> Result | None:
    value = attrs.get(keyword)
    if allowed is None or value in (None, ""):
        return None
    text = "\\".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
    if text.strip().upper() in allowed:
        return None
    return Result(0x0106, comment=f"{name} {text} not supported"[:64])


def _not_taken(attrs: Dataset, keyword: str, refused: bool, why: str = "") -> Result | None:
    if not refused or keyword not in attrs:
        return None
    return Result(0x0105, comment=(why or f"{keyword} not supported")[:64])
