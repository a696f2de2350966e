"""The interface every printer driver implements.

A worker (one per printer) drives a driver like this::

    with driver.session(ticket, observer) as session:   # e.g. N-GET printer, N-CREATE film session
        for sheet in sheets:                            # resumes after the last printed film
            output = session.print_film(sheet)          # N-CREATE box, N-SETs, N-ACTION, N-DELETE box
            ...record film printed...                   # (begun at observer.film_accepted, if called)
                                                        # leaving the block: N-DELETE film session

Any problem is raised as :class:`PrintFailure` carrying the policy action the
worker applies to the job (retry, fail or stop-printer). Warnings go to the
observer and printing goes on.

A printer may print several films at once (DICOM: N-ACTION on the film session): ``print_film``
then returns :data:`HELD` for a film the printer holds but was not told to print yet; it is
printed with a later film of the job, and once ``print_film`` returns anything else every film
held before it was accepted too (each announced with ``observer.film_accepted``). Films still
held when printing stops were not printed.
"""
from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from hcserver.formatter.film import FilmSheet


class Action(str, enum.Enum):
    """What the worker does after a DIMSE status or a connection problem."""

    OK = "ok"
    WARN = "warn"
    RETRY = "retry"
    FAIL = "fail"
    STOP_PRINTER = "stop-printer"


class PrintFailure(Exception):
    """Printing could not go on; ``action`` says what happens to the job.

    ``in_doubt``: the film (``FilmSheet.index``) whose print request reached the printer, or may
    have, without an answer (the connection ended or timed out while waiting for it): the printer
    may have printed it. ``in_doubt_count`` films from it on are in doubt (one print request may
    print several: see :data:`HELD`). The worker records them and decides whether they are sent
    again."""

    def __init__(self, action: Action, reason: str, *, operation: str | None = None,
                 status: int | None = None, in_doubt: int | None = None, in_doubt_count: int = 1):
        super().__init__(reason)
        self.action = Action(action)
        self.reason = reason
        self.operation = operation
        self.status = status
        self.in_doubt = in_doubt
        self.in_doubt_count = in_doubt_count


class Held:
    """The type of :data:`HELD`."""

    def __repr__(self) -> str:
        return "HELD"


#: What :meth:`FilmSession.print_film` returns for a film the printer holds, to be printed with a
#: later film of the job (see the module docstring).
HELD = Held()


@dataclass(frozen=True)
class JobTicket:
    """Session-level attributes of one job (DICOM Basic Film Session)."""

    job_id: int
    copies: int = 1
    priority: str = "MED"            # DICOM Print Priority: HIGH, MED, LOW
    medium_type: str | None = None
    film_destination: str | None = None
    label: str | None = None
    color: bool = False
    films_total: int = 1


@dataclass(frozen=True)
class PrinterStatus:
    """Printer Status (2110,0010) and Printer Status Info (2110,0020)."""

    status: str                      # NORMAL, WARNING, FAILURE
    info: str = ""


class JobObserver(Protocol):
    """Receives what a driver learns while printing a job."""

    def warning(self, operation: str, status: int | None, meaning: str) -> None: ...

    def printer_status(self, status: PrinterStatus) -> None: ...

    def dimse(self, operation: str, sop_class: str, status: int | None, meaning: str,
              seconds: float) -> None: ...

    def print_job(self, films: tuple[int, ...], status: str, info: str) -> None:
        """The printer's own print job for these films (``FilmSheet.index``) ended: ``status``
        DONE or FAILURE (with the printer's ``info``), or UNKNOWN when it could not be followed
        to its end (``info`` says why)."""

    def film_accepted(self, index: int, output: str | None) -> None:
        """Film ``index`` (FilmSheet.index) was accepted by the printer and must never be printed
        again. A driver with work left after that point (DICOM: the film box N-DELETE) says so at
        once, so the film is recorded meanwhile; otherwise the worker records it when
        ``print_film`` returns."""


class FilmSession(Protocol):
    def print_film(self, sheet: FilmSheet) -> str | None | Held:
        """Print one film; return a reference to the output (e.g. a PNG path) or None, or
        :data:`HELD` if it is printed with a later film."""


class Driver(ABC):
    """One printer. Methods are called from that printer's worker thread only,
    except :meth:`close`, which may come from the daemon at shutdown."""

    @abstractmethod
    def session(self, ticket: JobTicket, observer: JobObserver) -> AbstractContextManager[FilmSession]:
        """Open a print session for one job."""

    def status(self) -> PrinterStatus:
        """Ask the printer for its status (N-GET Printer for DICOM)."""
        return PrinterStatus("NORMAL", "")

    def echo(self) -> dict:
        """Check the printer answers (C-ECHO for DICOM); returns details to show."""
        return {"ok": True}

    def configuration(self) -> list[dict] | None:
        """What the printer said of its configuration, when it can be asked (DICOM: Printer
        Configuration Retrieval), as plain values; None if not known."""
        return None

    def association_state(self) -> str | None:
        """"open" or "closed" for drivers that hold a connection to the printer, else None."""
        return None

    def idle(self) -> None:
        """Called when the worker has had no work for the idle period (release associations)."""

    def close(self) -> None:
        """Release every resource; the driver may be used again afterwards."""
