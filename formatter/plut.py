"""The Presentation LUT of a film (PS3.3 C.11.4): what it is, checked, and burnt into pixels.

A film's ``presentation_lut`` option is one of

* ``"IDENTITY"`` or ``"LIN OD"``: a Presentation LUT Shape;
* ``{"gamma": g}``: P-values that are the input to the power ``g`` (both taken as fractions of
  their full range: ``P = (x / x_max) ** g * P_max``), made here into a table;
* ``{"descriptor": [entries, first, bits], "data": [...]}``: the LUT as given, its LUT
  Descriptor and LUT Data: 256 or 4096 entries (the input values of 8- and 12-bit images),
  first input value 0, 10 to 16 bits per entry.

:func:`check` normalises it (an :class:`~hcserver.formatter.options.OptionError` names the field),
:func:`lut_for` makes what is sent with images of a bit depth, and :func:`burn_in` applies it to a
box's pixels for a printer that takes no Presentation LUT. The pipeline of a grey image box is
Polarity, then the Presentation LUT (PS3.4 H.2): the P-values it gives are taken, scaled to the
image's bits, as the pixels a printer without a Presentation LUT receives (as if through its
default, an IDENTITY one). ``LIN OD`` cannot be burnt in: it needs the printer's densities.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

SHAPES = ("IDENTITY", "LIN OD")
ENTRIES = (256, 4096)               # the input values of 8- and 12-bit images
BITS_RANGE = (10, 16)               # bits per LUT Data entry (PS3.3 C.11.4.1)
GAMMA_RANGE = (0.0, 10.0)           # exclusive .. inclusive
GAMMA_BITS = 12                     # the P-value bits of a table made from a gamma


class LutError(ValueError):
    """A bad ``presentation_lut``: ``field`` is what is wrong in it (``""``: the whole value)."""

    def __init__(self, field: str, problem: str):
        super().__init__(problem)
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class PresentationLUT:
    """What is sent (or burnt in): a shape, or a table of ``len(data)`` entries of ``bits`` bits
    whose first input value is 0."""

    shape: str | None = None
    bits: int = 0
    data: tuple[int, ...] = ()

    @property
    def descriptor(self) -> tuple[int, int, int]:
        return (len(self.data), 0, self.bits)

    @property
    def identity(self) -> bool:
        return self.shape == "IDENTITY"


def _whole(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int)


def check(value: Any) -> str | dict:
    """The normalised option (see the module docstring); raises :class:`LutError`."""
    if isinstance(value, str):
        shape = " ".join(value.replace("_", " ").split()).upper()
        if shape not in SHAPES:
            raise LutError("", f"{value!r} is not one of: {', '.join(SHAPES)} (or a LUT as "
                               "{\"gamma\": g} or {\"descriptor\": [...], \"data\": [...]})")
        return shape
    if not isinstance(value, dict):
        raise LutError("", f"expected IDENTITY, LIN OD, {{\"gamma\": g}} or {{\"descriptor\": [entries, 0, bits], "
                           f"\"data\": [...]}}, got {value!r}")
    if set(value) == {"gamma"}:
        gamma = value["gamma"]
        low, high = GAMMA_RANGE
        if isinstance(gamma, bool) or not isinstance(gamma, int | float) or not low < gamma <= high:
            raise LutError("gamma", f"expected a number more than {low:g} to {high:g}, got {gamma!r}")
        return {"gamma": float(gamma)}
    if set(value) == {"descriptor", "data"}:
        descriptor, data = value["descriptor"], value["data"]
        if not (isinstance(descriptor, list) and len(descriptor) == 3 and all(_whole(v) for v in descriptor)):
            raise LutError("descriptor", f"expected [entries, first input value, bits], got {descriptor!r}")
        entries, first, bits = descriptor
        if entries not in ENTRIES:
            raise LutError("descriptor", f"entries: expected {' or '.join(map(str, ENTRIES))} (the input values "
                                         f"of 8- and 12-bit images), got {entries!r}")
        if first != 0:
            raise LutError("descriptor", f"first input value: expected 0, got {first!r}")
        if not BITS_RANGE[0] <= bits <= BITS_RANGE[1]:
            raise LutError("descriptor", f"bits: expected {BITS_RANGE[0]} to {BITS_RANGE[1]}, got {bits!r}")
        if not isinstance(data, list) or len(data) != entries:
            raise LutError("data", f"expected a list of {entries} entries (the descriptor's), got "
                                   f"{len(data) if isinstance(data, list) else repr(data)}"
                                   f"{' entries' if isinstance(data, list) else ''}")
        top = (1 << bits) - 1
        bad = next((i for i, v in enumerate(data) if not _whole(v) or not 0 <= v <= top), None)
        if bad is not None:
            raise LutError("data", f"entry {bad}: expected a whole number from 0 to {top} ({bits} bits), "
                                   f"got {data[bad]!r}")
        return {"descriptor": [entries, 0, bits], "data": list(data)}
    raise LutError("", f"expected {{\"gamma\": g}} or {{\"descriptor\": [...], \"data\": [...]}}, got the keys "
                       f"{', '.join(sorted(map(str, value)))}")


def lut_for(option: str | dict, bit_depth: int) -> PresentationLUT:
    """The Presentation LUT sent with images of ``bit_depth`` bits for a normalised ``option``: a
    table has one entry per input value (``2 ** bit_depth``); a given one of another size is
    sampled at the nearest entry of the same fraction of the input range."""
    if isinstance(option, str):
        return PresentationLUT(shape=option)
    entries = 1 << bit_depth
    x = np.arange(entries, dtype=np.float64) / (entries - 1)
    if "gamma" in option:
        top = (1 << GAMMA_BITS) - 1
        table = np.rint(x ** option["gamma"] * top).astype(np.int64)
        return PresentationLUT(bits=GAMMA_BITS, data=tuple(int(v) for v in table))
    given = np.asarray(option["data"], dtype=np.int64)
    picked = given[np.rint(x * (len(given) - 1)).astype(np.int64)]
    return PresentationLUT(bits=int(option["descriptor"][2]), data=tuple(int(v) for v in picked))


def can_burn_in(option: str | dict) -> bool:
    """Whether the option can be applied to the pixels here (LIN OD needs the printer's densities)."""
    return option != "LIN OD"


def burn_in(pixels: np.ndarray, lut: PresentationLUT, polarity: str = "NORMAL") -> np.ndarray:
    """Grey ``pixels`` (uint8: 8 bits, uint16: 12 bits) as a printer without a Presentation LUT
    should get them to print as ``lut`` with ``polarity`` would: the printer still applies the
    polarity, so a REVERSE box gets ``max - P(max - x)``, and the P-values are scaled to the
    pixels' bits and rounded. IDENTITY leaves them as they are."""
    if lut.identity:
        return pixels
    if lut.shape is not None:
        raise ValueError(f"a {lut.shape} Presentation LUT cannot be burnt in")
    top = 255 if pixels.dtype == np.uint8 else 4095
    table = np.asarray(lut.data, dtype=np.float64)
    if len(table) != top + 1:
        raise ValueError(f"a LUT of {len(table)} entries for {top + 1} input values")
    scaled = np.rint(table * (top / ((1 << lut.bits) - 1))).astype(pixels.dtype)
    if polarity == "REVERSE":
        return (top - scaled[top - pixels]).astype(pixels.dtype)
    return scaled[pixels]
