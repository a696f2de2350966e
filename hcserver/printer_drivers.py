"""The one place a printer's configured ``driver`` becomes a driver object (the daemon wires
drivers; they know nothing of the daemon)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from hcserver.drivers.base import Driver
from hcserver.drivers.settings import PrinterConfig

if TYPE_CHECKING:
    from hcserver.drivers.preview import FilmStore

if TYPE_CHECKING:   # the configuration imports DRIVERS from here to check printers
    from hcserver.config import ServerConfig

DRIVERS = ("dicom", "preview")


def build_driver(printer: PrinterConfig, server: ServerConfig, films: FilmStore | None = None) -> Driver:
    """``films``: where a preview printer keeps its films (else files in ``server.preview_dir``)."""
    if printer.driver == "preview":
        from hcserver.drivers.preview import PreviewDriver
        return PreviewDriver(server.preview_dir, films)
    if printer.driver == "dicom":
        from hcserver.drivers.dicom.scu import DicomDriver
        return DicomDriver(printer, server.station)
    raise ValueError(f"printer {printer.name!r}: unknown driver {printer.driver!r}")
