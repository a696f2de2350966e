"""The dispatcher's timers, as APScheduler jobs: nothing polls the database on a clock.

Each printer's worker has five, named "<kind>-<printer>": the back-off of its earliest retried
job ("due"), the release of an idle association ("idle"), the status poll of a stopped printer
("poll"), the next try to write an attempt's end the database refused ("write") and the time
limit of the job it prints ("jobtime"). The first four only wake the worker, which then looks at
what is due; the last aborts what the job waits for. The
dispatcher's own two run for the whole node: lease keeping and the history purge.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler

KINDS = ("idle", "due", "poll", "write", "jobtime")


def new_scheduler() -> BackgroundScheduler:
    return BackgroundScheduler(timezone=UTC)


def keep_house(scheduler: BackgroundScheduler, *, purge_history: Callable[[], object],
               keep_leases: Callable[[], None], lease_s: float) -> None:
    """The node's timers: purge the history now and hourly; keep leases every lease_s/3."""
    scheduler.add_job(purge_history, "interval", hours=1, id="purge-history",
                      next_run_time=datetime.now(UTC), misfire_grace_time=None)
    scheduler.add_job(keep_leases, "interval", seconds=lease_s / 3, id="leases",
                      misfire_grace_time=None, coalesce=True, max_instances=1)


class PrinterTimers:
    """The timers of one printer's worker. ``wake`` wakes the worker; ``overtime(job_id)`` is
    called when a job prints longer than it may. Runs on the scheduler's thread."""

    def __init__(self, scheduler: BackgroundScheduler, printer: str, wake: Callable[[], None],
                 overtime: Callable[[int], None]):
        self.scheduler, self.printer = scheduler, printer
        self._wake, self._overtime = wake, overtime
        self._idle_due = False
        self._poll_due = False

    def _set(self, kind: str, function: Callable, args: tuple, **trigger) -> None:
        self.scheduler.add_job(function, args=args, id=f"{kind}-{self.printer}", replace_existing=True,
                               misfire_grace_time=None, **trigger)

    def _cancel(self, kind: str) -> None:
        try:
            self.scheduler.remove_job(f"{kind}-{self.printer}")
        except JobLookupError:  # not set, or a one-shot timer that has just fired
            pass

    def _fire(self, kind: str) -> None:
        if kind == "idle":
            self._idle_due = True
        elif kind == "poll":
            self._poll_due = True
        self._wake()

    # ---- the back-off of a retried job --------------------------------------------------

    def wake_when_due(self, when: datetime) -> None:
        """Wake the worker at ``when`` (a stored time: naive UTC), or now if that has passed."""
        self._set("due", self._fire, ("due",), trigger="date",
                  run_date=max(when.replace(tzinfo=UTC), datetime.now(UTC)))

    # ---- the idle association --------------------------------------------------------

    def release_when_idle(self, after_s: float) -> None:
        """Something was printed: the association is released after ``after_s`` without work."""
        self._idle_due = False
        self._set("idle", self._fire, ("idle",), trigger="date",
                  run_date=datetime.now(UTC) + timedelta(seconds=after_s))

    def idle_is_due(self) -> bool:
        """Whether the idle period has passed since last asked."""
        due, self._idle_due = self._idle_due, False
        return due

    # ---- the status poll of a stopped printer -------------------------------------------

    def poll_status(self, every_s: float) -> None:
        self._set("poll", self._fire, ("poll",), trigger="interval", seconds=every_s)

    def stop_polling(self) -> None:
        self._cancel("poll")

    def poll_is_due(self) -> bool:
        """Whether a status poll is due since last asked."""
        due, self._poll_due = self._poll_due, False
        return due

    # ---- an attempt's end the database refused -----------------------------------------

    def retry_write(self, after_s: float) -> None:
        """Wake the worker in ``after_s`` to try writing it again."""
        self._set("write", self._fire, ("write",), trigger="date",
                  run_date=datetime.now(UTC) + timedelta(seconds=after_s))

    # ---- the time limit of a job -----------------------------------------------------

    def limit_job_time(self, job_id: int, seconds: float) -> None:
        self._set("jobtime", self._overtime, (job_id,), trigger="date",
                  run_date=datetime.now(UTC) + timedelta(seconds=seconds))

    def clear_job_time(self) -> None:
        self._cancel("jobtime")

    def cancel_all(self) -> None:
        for kind in KINDS:
            self._cancel(kind)
