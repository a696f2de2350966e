"""DICOM Print Management SCU driver (``driver = "dicom"``).

``DicomDriver(printer, server)`` is imported lazily, so that the status policy
(used when the configuration is read) does not pull in the network stack.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hcserver.drivers.dicom.scu import DicomDriver

__all__ = ["DicomDriver"]


def __getattr__(name: str) -> Any:
    if name == "DicomDriver":
        from hcserver.drivers.dicom.scu import DicomDriver
        return DicomDriver
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
