"""A printer's worker: one thread per printer that claims its jobs, has their films formatted,
prints them and ends each attempt (how: hcserver.dispatch.outcomes).

It sleeps until something concerns its printer or one of its pools (a job submitted, released,
moved, reprioritised; the printer enabled; another member of its pools busy or stopped; a
back-off expiring; the idle timer; a status poll). It never polls the database on a clock:
timers (hcserver.dispatch.timers) wake it.

When the database refuses to write an attempt's end (a full disk, a read-only file), the worker
keeps that end, with the films and warnings it could not record, and writes it as soon as the
database takes it (tried every :data:`WRITE_RETRY_S`; nothing else is printed meanwhile), so the
job is requeued at once with the true reason instead of waiting for its lease to run out. It
renews the job's lease meanwhile.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from queue import SimpleQueue

from apscheduler.schedulers.background import BackgroundScheduler

from hcserver.config import PrinterConfig, ServerConfig
from hcserver.dbspool import DatabaseSpool
from hcserver.dispatch import outcomes
from hcserver.dispatch.outcomes import RetryPolicy
from hcserver.dispatch.recorder import JobObserver, recorder_thread
from hcserver.dispatch.timers import PrinterTimers
from hcserver.drivers.base import Driver, Held, JobTicket, PrintFailure
from hcserver.events import PrintingObserver
from hcserver.formatting import FormatPool
from hcserver.printer_drivers import build_driver
from hcserver.queue import AttemptEnd, ClaimedJob, FilmCheck, JobQueue, LeaseLost, unwritable
from hcserver.spool import Spool
from hcserver.states import PrinterState, PrinterTransition

log = logging.getLogger(__name__)

#: Seconds between tries to write an attempt's end the database refused.
WRITE_RETRY_S = 1.0


@dataclass
class _Ending:
    """An attempt's end with what is written with it (see the module docstring)."""

    job_id: int
    end: AttemptEnd
    exchanges: list[dict] = field(default_factory=list)
    films: list[tuple[int, str | None, list[dict]]] = field(default_factory=list)   # not yet recorded
    warnings: list[tuple[str, int | None, str]] = field(default_factory=list)      # not yet recorded


class PrinterWorker:
    def __init__(self, printer: PrinterConfig, server: ServerConfig, queue: JobQueue, spool: Spool,
                 scheduler: BackgroundScheduler, formatting: FormatPool, driver: Driver | None = None,
                 observer: PrintingObserver | None = None):
        self.printer, self.server, self.queue, self.spool = printer, server, queue, spool
        self.observer = observer or PrintingObserver()
        self.formatting = formatting
        films = spool.put_film if isinstance(spool, DatabaseSpool) else None   # previews readable on any node
        self.driver = driver or build_driver(printer, server, films)
        self.name = printer.name
        self._wake = threading.Event()
        self._stopping = False
        self._stop_reason = "the server is shutting down"
        self.timers = PrinterTimers(scheduler, self.name, wake=self.wake, overtime=self._job_overtime)
        self._overtime = False     # set by the job-time timer while a job prints too long
        self.driving = False       # this node holds the printer's lease (one node drives a printer)
        self.printing: int | None = None   # the job being printed: its lease is renewed
        self._observer: JobObserver | None = None   # of the job printing now
        self._owed: _Ending | None = None   # an attempt's end the database refused, to write first
        self._calls: SimpleQueue = SimpleQueue()   # (function, Future) to run between jobs
        self._recorder = recorder_thread(self.name)   # see JobObserver
        self._thread = threading.Thread(target=self._run, name=f"printer-{self.name}", daemon=True)

    # ---- control (any thread) -------------------------------------------------------

    def start(self) -> None:
        if self.queue.printers.state(self.name) is PrinterState.STOPPED:
            self.timers.poll_status(self.printer.status_poll_s)
        self._thread.start()
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0, reason: str = "the server is shutting down") -> None:
        """Stop after the film being printed (its job goes back to pending with ``reason``)."""
        self._stop_reason = reason
        self._stopping = True
        self.wake()
        self._thread.join(timeout)
        self.timers.cancel_all()
        self.driver.close()

    # ---- the worker thread ----------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    return
                try:
                    self._cycle()
                except Exception as exc:  # the worker must survive anything a cycle throws
                    why = unwritable(exc)
                    if why:   # e.g. a claim on a full disk: nothing was started
                        log.error("printer %s: %s", self.name, why)
                    else:
                        log.exception("printer %s: worker cycle failed", self.name)
        finally:
            if self._owed is not None and not self._write(self._owed):
                log.error("printer %s: job %s stays processing: %s; it is requeued when its lease runs out or "
                          "at the next start", self.name, self._owed.job_id, self._owed.end.reason)
            # Here, not in stop(): a worker that stop() gave up waiting for still records its last film.
            self._recorder.shutdown(wait=False)

    def call(self, function, timeout: float, start_timeout: float | None = None):
        """Run ``function(driver)`` on the worker thread between jobs; TimeoutError if it has not
        started within ``start_timeout`` (a job is printing), or else within ``timeout``. Once
        started it is waited for to the end: it is bounded by the printer's own timeouts, and
        another run of it beside this one would only double the wait on a printer that does not
        answer."""
        future: Future = Future()
        started = threading.Event()

        def run(driver):
            started.set()
            return function(driver)

        self._calls.put((run, future))
        self.wake()
        if start_timeout is not None and not started.wait(start_timeout) and future.cancel():
            raise TimeoutError   # it never will run
        try:
            return future.result(timeout)
        except TimeoutError:
            if future.cancel():  # not started yet: it never will be
                raise
        return future.result()

    def _run_calls(self) -> None:
        while not self._calls.empty():
            function, future = self._calls.get_nowait()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(function(self.driver))
                except BaseException as exc:
                    future.set_exception(exc)

    def _printable(self) -> bool:
        return self.queue.printers.state(self.name) is PrinterState.IDLE

    def _drives(self) -> bool:
        """Whether this node drives the printer; another node's live lease makes it stand by
        (the lease timer wakes it to try again; the printer is taken over once that lease runs out)."""
        if not self.driving:
            self.driving = self.queue.leases.acquire_printer(self.name)
            if self.driving:
                log.debug("printer %s: driven by this node (%s)", self.name, self.queue.owner)
                if self.queue.printers.state(self.name) is PrinterState.STOPPED:   # by the node that drove it
                    self.timers.poll_status(self.printer.status_poll_s)
        return self.driving

    def _cycle(self) -> None:
        self._run_calls()
        if self._owed is not None and not self._write(self._owed):
            return   # tried again by the write timer
        if not self._drives():
            self.driver.idle()   # the printer is another node's: release an association left open
            return
        if self.timers.poll_is_due():
            self._poll_status()
        printed = False
        pools = self.server.pools_of(self.name)
        while not self._stopping and self.driving and self._printable():
            job = self.queue.attempts.claim_next(self.name, pools)
            if job is None:
                break
            # A pool's job says whether it has colour images; this printer decides if they print so.
            job = replace(job, color=job.color and self.printer.color)
            printed = True
            self.printing = job.id
            try:
                self._print(job)
            except Exception as exc:  # e.g. the database went away: never leave it processing
                log.exception("printer %s: job %s", self.name, job.id)
                try:
                    self._end(job.id, outcomes.internal_error(exc))
                except Exception:
                    log.exception("printer %s: job %s could not be requeued", self.name, job.id)
                break
            finally:
                self.printing = None if self._owed is None else self._owed.job_id   # its lease is kept
                self.timers.clear_job_time()
            if self._owed is not None:
                return   # nothing more until the database takes writes again
            self._run_calls()
        if printed:
            self.timers.release_when_idle(self.server.idle_release_s)
        elif self.timers.idle_is_due():
            self.driver.idle()
        # A disabled or stopped printer is woken by enable or by its status poll, not by due jobs.
        due = self.queue.attempts.next_due(self.name, [pool.name for pool in pools]) if self._printable() else None
        if due is not None:
            self.timers.wake_when_due(due)

    def _poll_status(self) -> None:
        try:
            status = self.driver.status()
        except PrintFailure as exc:
            self.queue.printers.report_poll_failure(self.name, exc.reason)
            return
        self.queue.printers.report_status(self.name, status.status, status.info)
        if status.status != "FAILURE":
            log.info("printer %s: status %s, printing resumes", self.name, status.status)
            self.timers.stop_polling()
            self.queue.printers.change(self.name, PrinterTransition.RESUME)

    def _interruption(self, job: ClaimedJob, index: int, check: FilmCheck | None) -> AttemptEnd | None:
        """Why printing must stop before film ``index``, if it must (``check``: read with the
        previous film's record, else read now)."""
        if self._stopping:
            return outcomes.worker_stopping(self._stop_reason)
        check = check or self.queue.attempts.between_films(job.id, self.name, job.priority_rank)
        end = outcomes.before_film(job, index, check, printer=self.name, preempt=self.printer.preempt)
        if not check.driving:
            self.driving = False
        return end

    def _end(self, job_id: int, end: AttemptEnd) -> None:
        """End the attempt (a record still being written first), or keep its end to write once
        the database can be written."""
        ending = _Ending(job_id, end)
        if self._observer:
            self._observer.settle()
            ending.exchanges = self._observer.exchanges
            ending.films, ending.warnings = self._observer.unrecorded, self._observer.unwritten_warnings
        self._write(ending)

    def _write(self, ending: _Ending) -> bool:
        """Write an attempt's end; False if the database refused it (kept, and tried again)."""
        end = ending.end
        try:
            printer_stopped = self.queue.attempts.end(ending.job_id, end, ending.exchanges, ending.films,
                                                      ending.warnings)
        except LeaseLost as exc:   # the job is another node's now: leave it alone
            log.warning("printer %s: %s; this attempt's outcome (%s: %s) is dropped", self.name, exc,
                        end.transition.value, end.reason)
            self._owed = None
            self.printing = None
            return True
        except Exception as exc:
            why = unwritable(exc)
            if not why:
                raise
            if self._owed is None:
                log.error("printer %s: job %s: %s; its attempt's end (%s: %s) is written as soon as the database "
                          "takes it", self.name, ending.job_id, why, end.transition.value, end.reason)
            self._owed = ending
            self.printing = ending.job_id   # keep its lease meanwhile
            if not self._stopping:
                self.timers.retry_write(WRITE_RETRY_S)
            return False
        if self._owed is not None:
            log.warning("printer %s: job %s: the database takes writes again; written: %s: %s", self.name,
                        ending.job_id, end.transition.value, end.reason)
            self._owed = None
            self.printing = None
        if printer_stopped:   # until its status is no longer FAILURE
            self.timers.poll_status(self.printer.status_poll_s)
        return True

    def _print(self, job: ClaimedJob) -> None:
        """Print ``job`` from its first unprinted film and end the attempt as outcomes decides."""
        self._observer = None
        if job.films_printed >= job.films_total:  # e.g. stopped after its last film was recorded
            self._end(job.id, outcomes.completed(job))
            return
        observer = self._observer = JobObserver(self.queue, self.name, job, self._recorder, self.observer)
        ticket = JobTicket(job_id=job.id, copies=job.copies, priority=job.priority.upper(),
                           medium_type=job.medium_type, film_destination=job.film_destination,
                           label=job.label, color=job.color, films_total=job.films_total)
        self._overtime = False
        self.timers.limit_job_time(job.id, self.server.max_job_time_s)
        try:
            end = self._print_films(job, ticket, observer)
        except LeaseLost as exc:
            log.warning("printer %s: %s; stopping it here", self.name, exc)
            return
        except Exception as error:
            if isinstance(error, PrintFailure):
                self.observer.failure(self.name, error.operation, error.reason)
            observer.settle()   # a film the printer accepted before the failure counts as printed
            end = outcomes.after_error(error, job, printer=self.name, films_printed=observer.films_accepted,
                                       retry=RetryPolicy.of(self.printer, self.server),
                                       overtime_s=self.server.max_job_time_s if self._overtime else None,
                                       reprint_in_doubt=self.printer.reprint_in_doubt)
        self._end(job.id, end)

    def _print_films(self, job: ClaimedJob, ticket: JobTicket, observer: JobObserver) -> AttemptEnd:
        # Film k+1 is formatted while film k goes to the printer; never more than two
        # films of a job are held in memory.
        films = self.queue.attempts.film_specs(job.id, job.films_printed)
        upcoming = self._format(job, films, job.films_printed)
        check = None
        held: list[int] = []   # films the printer holds, printed with a later one (drivers.base.HELD)
        with self.driver.session(ticket, observer) as session:
            for index in range(job.films_printed, job.films_total):
                interruption = self._interruption(job, index, check)
                if interruption:
                    return interruption   # once the session has ended (a failure there wins)
                sheet = upcoming.result()
                if index + 1 < job.films_total:
                    upcoming = self._format(job, films, index + 1)
                for note in sheet.notes:
                    observer.warning("format", None, note)
                output = session.print_film(sheet)
                if isinstance(output, Held):
                    held.append(index)
                    check = None      # read before the next film: no record was written
                    continue
                check = observer.recorded(index, output)   # the held films were announced before it
                for printed in [*held, index]:
                    twice = outcomes.reprinted(job, printed)
                    if twice:
                        observer.warning("print", None, twice)
                held = []
        return outcomes.completed(job)

    def _job_overtime(self, job_id: int) -> None:
        """Timer (scheduler thread): the job has printed too long; abort what it waits for."""
        log.warning("printer %s: job %s exceeded max_job_time_s; aborting", self.name, job_id)
        self._overtime = True
        self.driver.close()

    def _format(self, job: ClaimedJob, films: list[dict], index: int) -> Future:
        """Start formatting film ``index`` in a formatting process (see hcserver.formatting);
        ``films`` are the job's film specs from its first unprinted film on."""
        film = films[index - job.films_printed]
        return self.formatting.format_job_film(self.printer, film, job.color, index, self.spool.path)
