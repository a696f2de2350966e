"""What a film needs against what its printer accepts: the plan it is printed by, and why.

The one place a job's film is fitted to a printer. :func:`plan_film` is asked at submit (and at
``hcq move``, a reprint: :mod:`hcserver.jobspec`) and again when the film is formatted
(:mod:`hcserver.formatting`), with the printer as configured then, so a configuration changed
while the job waited is applied, or refuses the film with the same words.

Where the printer cannot do what the film asks but something close is possible, the film is
printed that way and the plan says so in its ``warnings``, which the printer's worker records on
the job (a ``format`` warning of each film):

* **Display format.** A film whose layout the printer's ``display_formats`` do not list is
  composed by this server into one image and sent as ``STANDARD\\1,1``, as a ``CUSTOM`` film
  always is. A printer that does not list ``STANDARD\\1,1`` either refuses it (and a ``CUSTOM``
  film) with an error naming the layout.
* **Bit depth.** A film asking for 12 bits (``bit_depth``) on a printer that takes 8
  (``bit_depth = 8``) is formatted at 8 bits: the grey levels are computed for 8 bits, not cut
  down from 12.
* **Presentation LUT.** A film asking for a Presentation LUT (``presentation_lut``) on a printer
  without the Presentation LUT SOP class (``presentation_lut = false``) has the LUT burnt into
  its pixels by the formatter (:mod:`hcserver.formatter.plut`), unless it is IDENTITY, which
  changes nothing. ``LIN OD`` cannot be burnt in (it needs the printer's densities) and is
  refused, as is any Presentation LUT on a colour printer (Basic Color Print has none). A printer
  configured with it that does not accept the SOP class on the association is the driver's
  to handle (:mod:`hcserver.drivers.dicom.film_session`), the same way.

Nothing else is fitted: a film size, medium, destination or magnification type the printer does
not list is the spec's error (:mod:`hcserver.jobspec`), because printing on another film or
medium is not what the sender asked for.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hcserver.drivers.settings import PrinterConfig
from hcserver.formatter.geometry import is_custom
from hcserver.formatter.plut import can_burn_in

#: The display format a composed film is sent as: one image box, the whole film.
ONE_BOX = "STANDARD\\1,1"


class PlanError(ValueError):
    """The printer cannot print the film, not even by a fallback: ``field`` names what it asks."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem

    def __reduce__(self):   # rebuilt from its fields when it crosses a process boundary
        return type(self), (self.field, self.problem)


@dataclass(frozen=True)
class FilmPlan:
    """How a film is printed on its printer."""

    compose: bool = False          # composed by this server into one STANDARD\1,1 box
    bit_depth: int = 8             # the grey pixels' bits: 8 or 12
    burn_presentation_lut: bool = False   # the film's Presentation LUT applied to its pixels, none sent
    warnings: tuple[str, ...] = ()

    @property
    def display_format(self) -> str | None:
        """The display format sent instead of the film's own, if any."""
        return ONE_BOX if self.compose else None


def _listed(printer: PrinterConfig, layout: str) -> bool:
    return not printer.display_formats or layout in printer.display_formats


def plan_film(film: dict[str, Any], printer: PrinterConfig, where: str = "") -> FilmPlan:
    """The plan for one normalised ``film`` (its ``layout`` and ``bit_depth``) on ``printer``;
    ``where`` prefixes the field names of a refusal (``films[0].``); a warning names the field alone,
    so the films of a job fitted alike say the same (the worker records it once).
    Raises :class:`PlanError` when no fallback fits."""
    warnings: list[str] = []
    layout = film["layout"]
    compose = is_custom(layout)
    if not _listed(printer, layout):
        if not _listed(printer, ONE_BOX):
            what = "a CUSTOM film is composed into one image and sent as" if compose else \
                "a layout it does not list is composed into one image and sent as"
            raise PlanError(f"{where}layout", f"printer {printer.name!r} accepts only: "
                                              f"{', '.join(printer.display_formats)} ({what} {ONE_BOX}, "
                                              f"which it does not list either)")
        if not compose:
            warnings.append(f"layout: printer {printer.name!r} does not list {layout}: a film in it is "
                            f"composed by this server and sent as one {ONE_BOX} image")
            compose = True
    asked = film.get("bit_depth") or printer.bit_depth
    bit_depth = min(asked, printer.bit_depth)
    if bit_depth < asked:
        warnings.append(f"bit_depth: printer {printer.name!r} takes {printer.bit_depth}-bit images: "
                        f"printed at {bit_depth} bits instead of {asked}")
    burn = _burn_presentation_lut(film.get("presentation_lut"), printer, where, warnings)
    return FilmPlan(compose=compose, bit_depth=bit_depth, burn_presentation_lut=burn, warnings=tuple(warnings))


def _burn_presentation_lut(lut: Any, printer: PrinterConfig, where: str, warnings: list[str]) -> bool:
    """Whether the film's Presentation LUT (normalised) is burnt into its pixels."""
    if lut is None:
        return False
    if printer.color:
        raise PlanError(f"{where}presentation_lut", f"printer {printer.name!r} prints in colour (Basic Color Image "
                                                    "Box), which takes no Presentation LUT")
    if printer.presentation_lut or lut == "IDENTITY":
        return False          # sent as asked; or, burnt in, IDENTITY would change nothing
    if not can_burn_in(lut):
        raise PlanError(f"{where}presentation_lut", f"printer {printer.name!r} has no Presentation LUT SOP class "
                                                    f"(presentation_lut = false), and {lut} cannot be burnt into "
                                                    "the pixels without the printer's densities")
    warnings.append(f"presentation_lut: printer {printer.name!r} has no Presentation LUT SOP class "
                    "(presentation_lut = false): the film's Presentation LUT is burnt into its pixels")
    return True
