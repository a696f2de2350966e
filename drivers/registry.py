"""Builds the driver a printer's configuration names."""
from __future__ import annotations

from hcserver.config import PrinterConfig, ServerConfig
from hcserver.drivers.base import Driver


def build_driver(printer: PrinterConfig, server: ServerConfig) -> Driver:
    if printer.driver == "preview":
        from hcserver.drivers.preview import PreviewDriver
        return PreviewDriver(printer, server)
    if printer.driver == "dicom":
        from hcserver.drivers.dicom.scu import DicomDriver
        return DicomDriver(printer, server)
    raise ValueError(f"printer {printer.name!r}: unknown driver {printer.driver!r}")
