"""The preview driver: writes each film as a PNG under ``<state_dir>/preview/``."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from PIL import Image

from hcserver import formatter
from hcserver.drivers.base import Driver, JobObserver, JobTicket
from hcserver.formatter.film import FilmSheet


def write_png(image, path: Path) -> None:
    """Write atomically: a reader never sees half a PNG."""
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(image).save(tmp, format="PNG", compress_level=1)
    os.replace(tmp, path)


class PreviewFilms:
    def __init__(self, directory: Path, ticket: JobTicket, observer: JobObserver):
        self.directory, self.ticket, self.observer = directory, ticket, observer

    def print_film(self, sheet: FilmSheet) -> str:
        path = self.directory / f"job-{self.ticket.job_id:06d}-film-{sheet.index + 1:03d}.png"
        write_png(formatter.compose(sheet), path)
        return str(path)


class PreviewDriver(Driver):
    def __init__(self, printer, server):
        self.directory = Path(server.state_dir) / "preview"

    @contextmanager
    def session(self, ticket: JobTicket, observer: JobObserver):
        self.directory.mkdir(parents=True, exist_ok=True)
        yield PreviewFilms(self.directory, ticket, observer)

    def echo(self) -> dict:
        return {"ok": self.directory.parent.is_dir(), "printer_status": "NORMAL",
                "printer_status_info": f"writes PNG files to {self.directory}"}
