"""The preview driver: writes each film as a PNG file in a directory (the daemon's is
``<state_dir>/preview/``)."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from hcserver import formatter
from hcserver.drivers.base import Driver, JobObserver, JobTicket
from hcserver.formatter.film import FilmSheet


def write_atomically(data: bytes, path: Path) -> None:
    """A reader never sees half a PNG."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class PreviewFilms:
    def __init__(self, directory: Path, ticket: JobTicket, observer: JobObserver):
        self.directory, self.ticket, self.observer = directory, ticket, observer

    def print_film(self, sheet: FilmSheet) -> str:
        path = self.directory / f"job-{self.ticket.job_id:06d}-film-{sheet.index + 1:03d}.png"
        write_atomically(formatter.film_png(sheet), path)
        return str(path)


class PreviewDriver(Driver):
    def __init__(self, directory: Path):
        self.directory = directory

    @contextmanager
    def session(self, ticket: JobTicket, observer: JobObserver):
        self.directory.mkdir(parents=True, exist_ok=True)
        yield PreviewFilms(self.directory, ticket, observer)

    def echo(self) -> dict:
        return {"ok": self.directory.parent.is_dir(), "printer_status": "NORMAL",
                "printer_status_info": f"writes PNG files to {self.directory}"}
