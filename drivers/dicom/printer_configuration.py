"""What a printer says of its configuration (Printer Configuration Retrieval, N-GET), as plain values.

The driver asks once per printer (at the first job, or each ``hcq echo``) when the printer accepted
the presentation context; ``hcq printers`` and ``hcq echo`` show the answer. Nothing is decided
from it: the printer's configuration file says what to send.
"""
from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue


def items(attrs: Dataset | None) -> list[dict[str, Any]]:
    """The items of the response's Printer Configuration Sequence (2000,001E), each as a dict."""
    sequence = attrs.get("PrinterConfigurationSequence") if attrs is not None else None
    return [plain(item) for item in sequence or []]


def plain(ds: Dataset) -> dict[str, Any]:
    """A dataset as JSON values by keyword: sequences as lists of dicts, multiple values as lists;
    binary values are left out."""
    out: dict[str, Any] = {}
    for elem in ds:
        if elem.tag.group == 0 or elem.VR in ("OB", "OW", "OD", "OF", "OL", "OV", "UN"):
            continue
        name = elem.keyword or f"({elem.tag.group:04X},{elem.tag.element:04X})"
        if elem.VR == "SQ":
            out[name] = [plain(item) for item in elem.value]
        elif isinstance(elem.value, (list, tuple, MultiValue)):
            out[name] = [_value(v) for v in elem.value]
        else:
            out[name] = _value(elem.value)
    return out


def _value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value.strip() if isinstance(value, str) else value
    if isinstance(value, bytes):
        return value.decode("latin-1", "replace").strip()
    try:      # IS, DS and such: numbers; PersonName, UID and the rest: their text
        return int(value) if float(value).is_integer() and "." not in str(value) else float(value)
    except (TypeError, ValueError):
        return str(value).strip()
