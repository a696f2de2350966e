"""The preview driver: writes each film as a PNG file in a directory (the daemon's is
``<state_dir>/preview/``), private to the daemon's user (the films show patient names), or
hands it to a store (with the database spool: the database, so any node can read it)."""
from __future__ import annotations

import os
import stat
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from hcserver import formatter
from hcserver.drivers.base import Driver, JobObserver, JobTicket
from hcserver.formatter.film import FilmSheet


def write_atomically(data: bytes, path: Path) -> None:
    """A reader never sees half a PNG; once this returns, a power cut loses nothing; the file
    is 0600 whatever the umask (a film shows the patient's name)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(fd, 0o600)   # a tmp a crash left behind keeps its old mode through O_CREAT
        out.write(data)
        out.flush()
        os.fsync(fd)
    os.replace(tmp, path)
    _fsync_directory(path.parent)   # the rename must survive the power cut too


def _private_directory(directory: Path) -> None:
    """``directory`` 0700 (created if need be, fsynced in its parent then)."""
    if not directory.is_dir():
        directory.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass
        else:
            _fsync_directory(directory.parent)
    if stat.S_IMODE(os.stat(directory).st_mode) != 0o700:
        os.chmod(directory, 0o700)   # mkdir's mode went through the umask


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: Stores a film's PNG (name, bytes) once and for all; returns the film's output as recorded.
FilmStore = Callable[[str, bytes], str]


class PreviewFilms:
    def __init__(self, directory: Path, ticket: JobTicket, observer: JobObserver, store: FilmStore | None = None):
        self.directory, self.ticket, self.observer, self.store = directory, ticket, observer, store

    def print_film(self, sheet: FilmSheet) -> str:
        name = f"job-{self.ticket.job_id:06d}-film-{sheet.index + 1:03d}.png"
        if self.store is not None:
            return self.store(name, formatter.film_png(sheet))
        path = self.directory / name
        write_atomically(formatter.film_png(sheet), path)
        return str(path)


class PreviewDriver(Driver):
    def __init__(self, directory: Path, store: FilmStore | None = None):
        self.directory, self.store = directory, store

    @contextmanager
    def session(self, ticket: JobTicket, observer: JobObserver):
        if self.store is None:
            _private_directory(self.directory)
        yield PreviewFilms(self.directory, ticket, observer, self.store)

    def echo(self) -> dict:
        if self.store is not None:
            return {"ok": True, "printer_status": "NORMAL", "printer_status_info": "writes PNG films to the database"}
        return {"ok": self.directory.parent.is_dir(), "printer_status": "NORMAL",
                "printer_status_info": f"writes PNG files to {self.directory}"}
