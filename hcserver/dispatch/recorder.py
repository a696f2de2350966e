"""What the driver learns while a job prints, carried into the queue: films, warnings, the
printer's status and the DIMSE exchanges (``hcq show --log``)."""
from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor

from hcserver.drivers.base import PrinterStatus
from hcserver.events import PrintingObserver
from hcserver.queue import ClaimedJob, FilmCheck, JobQueue, unwritable, utcnow
from hcserver.states import EventKind

log = logging.getLogger(__name__)


def recorder_thread(printer: str) -> ThreadPoolExecutor:
    """The thread that writes a printer's film records (one per printer: records stay in order)."""
    return ThreadPoolExecutor(1, thread_name_prefix=f"record-{printer}")


class JobObserver:
    """Carries what the driver learns during a job into the queue.

    A printed film is recorded by the worker's recorder thread as soon as the driver
    announces it (:meth:`film_accepted`, right after the print action succeeded), so the
    commit overlaps the film's clean-up on the printer (the N-DELETE) instead of following it;
    the check before the next film is read in the same go. The worker collects both with
    :meth:`recorded` before it goes on, and :meth:`settle` before it ends the attempt, so a
    record is never written after the attempt's outcome.

    When the database refuses a write (a full disk, a read-only file), nothing the printer did is
    dropped: a film it accepted is kept in :attr:`unrecorded` (the record raises, which ends the
    attempt) and a warning in :attr:`unwritten_warnings`; the worker writes both with the
    attempt's end. A printer status that cannot be written is only logged: the next N-GET
    reads it again. Neither raises into the driver, which may be between a print action and its
    announcement.
    """

    def __init__(self, queue: JobQueue, printer: str, job: ClaimedJob, recorder: ThreadPoolExecutor,
                 observer: PrintingObserver | None = None):
        self.queue, self.printer, self.job_id, self.attempt = queue, printer, job.id, job.attempts
        self.observer = observer or PrintingObserver()
        self.films_total, self.priority_rank = job.films_total, job.priority_rank
        self.exchanges: list[dict] = []   # written with the next film or the end of the attempt
        self._recorder = recorder
        self._recording: tuple[int, Future] | None = None   # (film index, its record and next check)
        self.films_printed = job.films_printed   # the job's count as last recorded (read it after settle())
        self.unrecorded: list[tuple[int, str | None, list[dict]]] = []   # (film, output, exchanges)
        self.unwritten_warnings: list[tuple[str, int | None, str]] = []
        # said of this job already, in this attempt or an earlier one (one query, at the attempt's start)
        self._warned: set[tuple[str, str | None, str]] = queue.views.warnings_of(job.id)

    @property
    def films_accepted(self) -> int:
        """The films the printer accepted, recorded or not (read it after settle())."""
        return max([self.films_printed] + [index + 1 for index, _, _ in self.unrecorded])

    def warning(self, operation: str, status: int | None, meaning: str) -> None:
        """Record a warning on the job, once per job: the same words said of every film (a
        fallback, a class the printer did not accept), or again by a later attempt, are one
        warning."""
        said = (operation, None if status is None else f"0x{status:04X}", meaning)
        if said in self._warned:
            return
        self._warned.add(said)
        log.warning("job %s on %s: %s %s %s", self.job_id, self.printer, operation,
                    "" if status is None else f"0x{status:04X}", meaning)
        try:
            self.queue.attempts.add_warning(self.job_id, operation, status, meaning)
        except Exception as exc:
            if not unwritable(exc):
                raise
            self.unwritten_warnings.append((operation, status, meaning))

    def printer_status(self, status: PrinterStatus) -> None:
        try:
            self.queue.printers.report_status(self.printer, status.status, status.info)
        except Exception as exc:
            why = unwritable(exc)
            if not why:
                raise
            log.warning("printer %s: status %s not recorded: %s", self.printer, status.status, why)

    def print_job(self, films: tuple[int, ...], status: str, info: str) -> None:
        """An event on the job: how the printer's print job for these films ended. Not written when
        the database refuses it (logged): a FAILURE comes with a warning, which is kept."""
        numbers = ", ".join(str(index + 1) for index in films)
        reason = f"film{'s' if len(films) > 1 else ''} {numbers}: print job {status}" + (f" ({info})" if info else "")
        try:
            self.queue.attempts.note(self.job_id, EventKind.PRINT_JOB, reason,
                                     {"films": list(films), "status": status, "info": info})
        except Exception as exc:
            why = unwritable(exc)
            if not why:
                raise
            log.warning("job %s on %s: %s not recorded: %s", self.job_id, self.printer, reason, why)

    def dimse(self, operation: str, sop_class: str, status: int | None, meaning: str, seconds: float) -> None:
        code = None if status is None else f"0x{status:04X}"
        log.debug("job %s on %s: %s %s -> %s (%.1f ms)", self.job_id, self.printer, operation, sop_class,
                  code, seconds * 1000)
        self.observer.dimse(self.printer, operation, code)
        self.exchanges.append({"at": utcnow(), "attempt": self.attempt, "operation": operation,
                               "sop_class": sop_class, "status": code, "meaning": meaning,
                               "ms": round(seconds * 1000, 2)})

    def film_accepted(self, index: int, output: str | None) -> None:
        """The printer accepted film ``index``: start writing its record (see the class docstring)."""
        self._start_record(index, output)

    def _start_record(self, index: int, output: str | None) -> Future:
        self.settle()
        batch, self.exchanges = self.exchanges, []
        future = self._recorder.submit(self._record, index, output, batch)
        self._recording = index, future
        return future

    def _record(self, index: int, output: str | None, exchanges: list[dict]) -> FilmCheck | None:
        try:
            self.queue.attempts.film_printed(self.job_id, index, output, exchanges)
        except Exception as exc:
            if unwritable(exc):   # written with the attempt's end (see the class docstring)
                self.unrecorded.append((index, output, exchanges))
            raise
        self.films_printed = index + 1
        if index + 1 < self.films_total:
            return self.queue.attempts.between_films(self.job_id, self.printer, self.priority_rank)
        return None

    def recorded(self, index: int, output: str | None) -> FilmCheck | None:
        """Wait until film ``index`` is recorded (recording it now if the driver did not announce
        it); return the check before the next film, or None after the last. Raises what the
        record raised (e.g. LeaseLost)."""
        if self._recording is None or self._recording[0] != index:
            future = self._start_record(index, output)
        else:
            future = self._recording[1]
        self._recording = None
        return future.result()

    def settle(self) -> None:
        """Wait for a record still being written; its error is logged (the attempt is ending)."""
        if self._recording is None:
            return
        (index, future), self._recording = self._recording, None
        try:
            future.result()
        except Exception as exc:
            log.warning("job %s on %s: film %d could not be recorded as printed: %s", self.job_id,
                        self.printer, index + 1, exc)
