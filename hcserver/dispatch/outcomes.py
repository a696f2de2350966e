"""How a printing attempt ends, and which job transition follows: decided here and nowhere else.

An attempt ends

- when every film is printed: completed;
- before a film, after the check read with the previous film's record: the worker is stopping,
  or another node drives the printer now, or the printer was disabled → requeued (it resumes at
  that film); a cancel was asked for → canceled; a higher-priority job waits → preempted; the job
  is another node's now → nothing is written (:class:`LeaseLost`);
- when printing fails, by the policy action the driver's :class:`PrintFailure` carries:
  stop-printer → the printer stops and the job is requeued; retry → retried after a back-off, or
  failed once the retry limit is reached; fail → failed. A job that printed longer than
  max_job_time_s, a formatting process that crashed and anything unexpected are retried; a film
  that cannot be formatted fails the job. A failure after every film was accepted leaves the job
  completed, with a warning;
- a film whose print request got no answer (the failure's ``in_doubt``) may have been printed: it
  is recorded in doubt, and the printer's reprint_in_doubt decides whether it is sent again
  (:func:`may_send_again`). One that is not is counted as printed, with a warning: the job goes
  on after it (and completes if it was the last), so no more copies of it come out;
- when the queue's database refuses a write (a full disk, a read-only file: :func:`unwritable`)
  → requeued with that reason, not counted as a failed attempt, resuming after the films the
  printer accepted (the worker writes the ending, and the films not yet recorded, once the
  database can be written again);
- on an error outside the print loop → requeued.

A stop-printer failure stops the printer whatever becomes of the job. A cancel pending when a
failure ends the attempt wins: the job is canceled instead (``if_canceled``; applied with the
job's row locked, hcserver.queue.attempts). Attempts whose node stopped, crashed or stalled are
ended by hcserver.queue.leases.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from hcserver import formatter
from hcserver.config import PrinterConfig, ServerConfig
from hcserver.drivers.base import Action, PrintFailure
from hcserver.formatting import FormattingCrashed
from hcserver.queue import AttemptEnd, ClaimedJob, FilmCheck, FilmInDoubt, LeaseLost, unwritable, utcnow
from hcserver.states import Transition

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    limit: int                # failed attempts before the job fails
    interval_s: float         # the first back-off; it doubles with every failed attempt
    max_interval_s: float

    @classmethod
    def of(cls, printer: PrinterConfig, server: ServerConfig) -> RetryPolicy:
        """The printer's own retry_limit and retry_interval_s where it sets them, else the server's."""
        return cls(printer.retry_limit if printer.retry_limit is not None else server.retry_limit,
                   printer.retry_interval_s if printer.retry_interval_s is not None else server.retry_interval_s,
                   server.retry_max_interval_s)

    def not_before(self, failed_attempts: int) -> datetime:
        """When a job is due again after ``failed_attempts`` failed tries: interval doubling, capped."""
        delay = min(self.interval_s * (2 ** min(max(failed_attempts - 1, 0), 30)), self.max_interval_s)
        return utcnow() + timedelta(seconds=delay)


def completed(job: ClaimedJob) -> AttemptEnd:
    return AttemptEnd(Transition.COMPLETE, f"all {job.films_total} films printed")


def worker_stopping(reason: str) -> AttemptEnd:
    """The worker stops (the server shuts down, or the printer's configuration was reloaded)."""
    return AttemptEnd(Transition.REQUEUE, reason)


def before_film(job: ClaimedJob, index: int, check: FilmCheck, *, printer: str, preempt: bool) -> AttemptEnd | None:
    """Why printing must stop before film ``index``, if it must. Raises :class:`LeaseLost` if
    the job is another node's now."""
    if not check.leased:
        raise LeaseLost(job.id)
    if not check.driving:
        return AttemptEnd(Transition.REQUEUE, f"printer {printer} is driven by another node now; resumes at "
                                              f"film {index + 1}")
    if check.cancel:
        return AttemptEnd(Transition.CANCEL, f"canceled after {index} films")
    if not check.printable:
        return AttemptEnd(Transition.REQUEUE, f"printer {printer} was disabled; resumes at film {index + 1}")
    if index > job.films_printed and preempt and check.higher:
        return AttemptEnd(Transition.PREEMPT, f"a higher-priority job goes first; resumes at film {index + 1}")
    return None


def may_send_again(times_in_doubt: int, reprint_in_doubt: str) -> bool:
    """Whether a film whose print request got no answer ``times_in_doubt`` times is sent again,
    as the printer's reprint_in_doubt says: "once" (the default) sends it once more, so at most
    two copies come out where the printer printed and then failed to say so; "never" counts it as
    printed at once (it may be missing: the warning says to check); "always" sends it every time
    the job is retried (a copy per attempt, up to retry_limit)."""
    if reprint_in_doubt == "always":
        return True
    return reprint_in_doubt == "once" and times_in_doubt < 2


def _in_doubt(job: ClaimedJob, failure: PrintFailure, printer: str, reprint_in_doubt: str) -> FilmInDoubt:
    index, count = failure.in_doubt, max(1, failure.in_doubt_count)
    assert index is not None
    # Only the films from the job's first unprinted one can have been in doubt before (it resumes
    # there): one print request prints one film, or (a film session's) several from there.
    times = (job.in_doubt if index == job.films_printed else 0) + 1
    if count == 1:
        film, its, it = f"film {index + 1} of {job.films_total}", "its print request", "it"
    else:
        film, its, it = (f"films {index + 1} to {index + count} of {job.films_total}",
                         "their print request (one for all of them)", "them")
    verb = "is" if count == 1 else "are"
    what = f"{film} {verb} in doubt: {its} got no answer ({failure.reason}), so the printer may have printed {it}"
    if may_send_again(times, reprint_in_doubt):
        limit = "once more at most" if reprint_in_doubt == "once" else "whenever the job is retried"
        reason = f"{what}; {it} {verb} sent again, {limit} (reprint_in_doubt = {reprint_in_doubt})"
        return FilmInDoubt(index, times, reason, count=count)
    reason = f"{what}; counted as printed and not sent again (reprint_in_doubt = {reprint_in_doubt})"
    copies = "once" if times == 1 else f"up to {times} times"
    warning = (f"{film} {verb} in doubt: sent {times} time(s) without an answer, {'it' if count == 1 else 'each'} "
               f"may have printed {copies} or not at all; counted as printed, not sent again (reprint_in_doubt = "
               f"{reprint_in_doubt}): check the printer's output")
    log.warning("printer %s: job %s: %s", printer, job.id, reason)
    return FilmInDoubt(index, times, reason, counted=True, warning=("print", None, warning), count=count)


def reprinted(job: ClaimedJob, index: int) -> str | None:
    """The warning for film ``index``, printed now, if it was in doubt before (so it may be on
    film twice)."""
    if not job.in_doubt or not job.films_printed <= index < job.films_printed + max(1, job.in_doubt_films):
        return None
    return (f"film {index + 1} of {job.films_total} was in doubt and has been printed again: the printer may have "
            f"printed it twice")


def after_error(error: Exception, job: ClaimedJob, *, printer: str, films_printed: int, retry: RetryPolicy,
                overtime_s: float | None = None, reprint_in_doubt: str = "once") -> AttemptEnd:
    """How an attempt ends that raised ``error`` while printing (not :class:`LeaseLost`: then
    nothing is written). ``films_printed``: the job's count once every record was written;
    ``overtime_s``: the max_job_time_s the job overran, if the job-time timer aborted it;
    ``reprint_in_doubt``: the printer's setting (see :func:`may_send_again`)."""
    if isinstance(error, PrintFailure):
        failure = error
        if overtime_s is not None:
            failure = PrintFailure(Action.RETRY, f"printing took longer than max_job_time_s ({overtime_s:g} s) "
                                                 f"and was aborted ({failure.reason})", in_doubt=failure.in_doubt,
                                   in_doubt_count=failure.in_doubt_count)
        doubt = None if failure.in_doubt is None else _in_doubt(job, failure, printer, reprint_in_doubt)
        if doubt is not None and doubt.counted:
            films_printed = max(films_printed, doubt.index + doubt.count)
        # The printer failed: it stops until its status is no longer FAILURE, whatever the job does.
        stop_printer = failure.reason if failure.action is Action.STOP_PRINTER else None
        if films_printed >= job.films_total:
            # Every film was accepted (or counted, in doubt); what failed afterwards (N-DELETE,
            # a printer report) concerns the printer, not this job.
            warning: tuple[str, int | None, str] | None = None   # a film counted in doubt has its own
            if doubt is None or not doubt.counted:
                warning = (failure.operation or "print", failure.status, f"after the last film: {failure.reason}")
                log.warning("job %s on %s: %s %s %s", job.id, printer, warning[0],
                            "" if warning[1] is None else f"0x{warning[1]:04X}", warning[2])
            return AttemptEnd(Transition.COMPLETE, f"all {job.films_total} films printed", warning=warning,
                              stop_printer=stop_printer, in_doubt=doubt)
        return replace(_failed(job, failure, printer, retry, stop_printer), in_doubt=doubt)
    unwritten = unwritable(error)
    if unwritten:
        return _unwritable(unwritten, job, films_printed)
    if isinstance(error, FormattingCrashed):
        return _failed(job, PrintFailure(Action.RETRY, f"the formatting process ended unexpectedly ({error}); "
                                                       f"the film is formatted again"), printer, retry)
    if isinstance(error, (formatter.UnprintableImage, ValueError)):
        return AttemptEnd(Transition.FAIL, f"cannot format: {error}", error=f"cannot format: {error}")
    log.error("printer %s: job %s", printer, job.id, exc_info=error)
    return _failed(job, PrintFailure(Action.RETRY, f"internal error: {error!r}"), printer, retry)


def _failed(job: ClaimedJob, failure: PrintFailure, printer: str, retry: RetryPolicy,
            stop_printer: str | None = None) -> AttemptEnd:
    reason = failure.reason
    log.warning("printer %s: job %s: %s (%s)", printer, job.id, reason, failure.action.value)
    canceled = f"canceled; the attempt had ended with: {reason}"   # a pending cancel wins
    if failure.action is Action.STOP_PRINTER:
        return AttemptEnd(Transition.REQUEUE, f"printer stopped: {reason}", stop_printer=stop_printer,
                          if_canceled=canceled)
    if failure.action is Action.RETRY:
        failed = job.failed_attempts + 1
        if failed >= retry.limit:
            message = f"gave up after {failed} failed attempts: {reason}"
            return AttemptEnd(Transition.FAIL, message, error=message, failed_attempts=failed, if_canceled=canceled)
        when = retry.not_before(failed)
        return AttemptEnd(Transition.RETRY, f"{reason}; retry at {when.isoformat()}Z", not_before=when,
                          failed_attempts=failed, if_canceled=canceled)
    return AttemptEnd(Transition.FAIL, reason, error=reason, if_canceled=canceled)


def _unwritable(why: str, job: ClaimedJob, films_printed: int) -> AttemptEnd:
    """The queue's database refused a write while the job printed: neither the job's fault nor
    the printer's, so no failed attempt; ``films_printed`` counts the films the printer accepted,
    recorded or not (the worker writes them with this ending)."""
    if films_printed >= job.films_total:
        return AttemptEnd(Transition.COMPLETE, f"all {job.films_total} films printed",
                          warning=("record", None, f"{why}; recorded once it could be written again"))
    return AttemptEnd(Transition.REQUEUE, f"{why}; resumes at film {films_printed + 1}",
                      if_canceled=f"canceled; the attempt had ended with: {why}")


def internal_error(error: Exception) -> AttemptEnd:
    """The attempt could not be ended as decided: never leave it processing."""
    why = unwritable(error)
    return AttemptEnd(Transition.REQUEUE, why or f"internal error: {error!r}")
