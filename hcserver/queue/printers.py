"""Printers: their rows (one per configured printer, shared by the nodes), and the one place a
printer's state changes (:func:`change`; the transitions are hcserver.states').
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hcserver.errors import ErrorCode
from hcserver.events import JobChange, Notice
from hcserver.models import Event, Job, Printer
from hcserver.queue.store import QueueError, Store, insert_missing, iso, node_of, now_in
from hcserver.states import UNFINISHED, JobState, PrinterState, PrinterTransition, Transition, printer_changes

#: SQL: the printer prints its jobs (PrinterState.IDLE).
PRINTABLE = (Printer.enabled, Printer.stopped.is_(False))


def unknown_printer(name: str) -> QueueError:
    return QueueError(ErrorCode.UNKNOWN_PRINTER, f"no printer {name!r}")


def _row(session: Session, name: str) -> Printer:
    printer = session.get(Printer, name)
    if printer is None:
        raise unknown_printer(name)
    return printer


def _write(session: Session, name: str, changes: dict) -> bool:
    """Set ``changes`` on printer ``name``'s row; False, and nothing written, when nothing differs
    (as when each job's N-GET finds the printer as it was)."""
    printer = _row(session, name)
    if all(getattr(printer, key) == value for key, value in changes.items()):
        return False
    for key, value in changes.items():
        setattr(printer, key, value)
    printer.updated_at = now_in(session)
    return True


def change(session: Session, name: str, transition: PrinterTransition, reason: str | None = None) -> bool:
    """Apply ``transition`` to printer ``name`` in this transaction, with ``reason`` (why it is
    disabled or stopped). True if the row changed: announce it (:func:`announce`) once committed."""
    return _write(session, name, printer_changes(transition, reason))


def announce(store: Store, name: str) -> None:
    store.notify(JobChange(0, name, Notice.PRINTER, ""))


class Printers:
    def __init__(self, store: Store):
        self.store = store

    def sync(self, names: Iterable[str]) -> None:
        """Give every configured printer its row (several nodes may do this at the same time)."""
        now = self.store.clock()
        insert_missing(self.store, Printer, [{"name": name, "enabled": True, "accepting": True, "stopped": False,
                                              "updated_at": now} for name in names])

    def get(self, name: str) -> Printer:
        with self.store.reading() as session:
            printer = session.get(Printer, name)
            if printer is None:
                raise unknown_printer(name)
            return printer

    def state(self, name: str) -> PrinterState:
        printer = self.get(name)
        return PrinterState.of(printer.enabled, printer.stopped)

    def change(self, name: str, transition: PrinterTransition, reason: str | None = None) -> dict:
        """Apply ``transition`` to printer ``name`` (see :func:`change`); returns the columns it set."""
        with self.store.writing() as session:
            changed = change(session, name, transition, reason)
        if changed:
            announce(self.store, name)
        return printer_changes(transition, reason)

    def _report(self, name: str, **changes) -> None:
        with self.store.writing() as session:
            changed = _write(session, name, changes)
        if changed:
            announce(self.store, name)

    def report_status(self, name: str, status: str, info: str) -> None:
        """What the printer says of itself (DICOM Printer Status and Printer Status Info)."""
        self._report(name, dicom_status=status, dicom_status_info=info)

    def report_poll_failure(self, name: str, reason: str) -> None:
        """A stopped printer's status could not be read: it stays stopped, and says why."""
        self._report(name, reason=f"status poll: {reason}")

    def views(self) -> list[dict]:
        """Every printer's row, with its queued jobs, the job it prints (``printing``, on any node)
        and, when its next job waits for a back-off, that job, when it is due and why its last
        attempt failed (``retry``): an idle printer that cannot be reached says so."""
        now = self.store.clock()
        with self.store.reading() as session:
            counts = dict(session.execute(
                select(Job.printer, func.count()).where(Job.state.in_([s.value for s in UNFINISHED]))
                .group_by(Job.printer)).all())
            # ``printed_on``: the printer of a job's latest attempt (a pool's job: the member)
            printing = dict(session.execute(
                select(Job.printed_on, func.min(Job.id)).where(Job.state == JobState.PROCESSING.value)
                .group_by(Job.printed_on)).all())
            retries = _retries(session, now)
            return [{"name": p.name, "enabled": p.enabled, "accepting": p.accepting, "stopped": p.stopped,
                     "dicom_status": p.dicom_status, "dicom_status_info": p.dicom_status_info,
                     "reason": p.reason, "queued": counts.get(p.name, 0), "updated_at": iso(p.updated_at),
                     "node": node_of(p.driver_owner) if p.driver_until and p.driver_until > now else None,
                     "printing": printing.get(p.name), "retry": retries.get(p.name)}
                    for p in session.scalars(select(Printer).order_by(Printer.name))]


def _retries(session: Session, now: datetime) -> dict[str, dict]:
    """Per printer, its first job waiting for a back-off: id, when it is due, and its last
    failure (the reason of its last retry event: private to the job's owner, see
    hcserver.queue.privacy.retry_as_seen_by). A pool's job counts for the member it failed on."""
    first: dict[str, tuple[int, datetime | None, str]] = {}
    for printer, job_id, due, owner in session.execute(
            select(func.coalesce(Job.printed_on, Job.printer), Job.id, Job.not_before, Job.owner)
            .where(Job.state == JobState.PENDING.value, Job.not_before > now).order_by(Job.not_before)):
        first.setdefault(printer, (job_id, due, owner))
    found = {}
    for printer, (job_id, due, owner) in first.items():
        reason = session.scalar(select(Event.reason).where(Event.job_id == job_id, Event.kind == Transition.RETRY.value)
                                .order_by(Event.id.desc()).limit(1))
        if reason:   # the failure, without the "; retry at ..." the event adds (``at`` says when)
            reason = reason.rsplit("; retry at ", 1)[0]
        found[printer] = {"job": job_id, "owner": owner, "at": iso(due), "reason": reason}
    return found
