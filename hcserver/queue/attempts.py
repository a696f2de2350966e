"""Attempts: a printer's worker claims a job, records each film the printer accepted and the
warnings it gave, and ends the attempt as hcserver.dispatch.outcomes decided.

A printing job's cancel is decided here: asked for, it only marks the job (:func:`request_cancel`);
the worker stops before its next film; and whatever else ends the attempt, a pending cancel wins
where the ending yields to it (:func:`_close`, for the worker's endings and for the attempts a
node could not end itself alike).

Every write the worker makes checks that the job is still this node's to print (its lease, see
hcserver.queue.leases): a node that stalled and lost the job writes nothing more about it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from hcserver.configpools import PoolConfig
from hcserver.events import JobChange
from hcserver.models import Event, Film, Frame, Job, Printer
from hcserver.queue import pools as pools_rule
from hcserver.queue import printers
from hcserver.queue.printers import PRINTABLE
from hcserver.queue.store import LeaseLost, Store, node_of, now_in, unknown_job
from hcserver.states import EventKind, JobState, PrinterTransition, Transition


@dataclass(frozen=True)
class FilmCheck:
    """What the worker checks before each film (:meth:`Attempts.between_films`)."""

    cancel: bool          # a cancel was requested
    printable: bool       # the printer is enabled and not stopped
    higher: bool          # a due job of higher priority waits
    leased: bool          # the job is still this node's to print (no other node took it over)
    driving: bool         # this node still drives the printer (no other node took it over)


@dataclass(frozen=True)
class ClaimedJob:
    """What a worker needs to print a job it has just started."""

    id: int
    printer: str          # where it was sent: a printer, or a pool (then the claiming member prints it)
    priority: str
    priority_rank: int
    copies: int
    medium_type: str | None
    film_destination: str | None
    label: str | None
    color: bool
    films_total: int
    films_printed: int
    attempts: int
    failed_attempts: int
    in_doubt: int = 0     # times the print request of film ``films_printed`` (where it resumes) got no answer
    in_doubt_films: int = 0   # films from ``films_printed`` on that are in doubt (one request may print several)


@dataclass(frozen=True)
class FilmInDoubt:
    """A film whose print request got no answer: the printer may have printed it."""

    index: int
    times: int               # its print requests without an answer, this one included
    reason: str              # the film-in-doubt event's text
    counted: bool = False    # counted as printed: never sent again (and the job goes on after it)
    warning: tuple[str, int | None, str] | None = None   # recorded on the job when counted
    count: int = 1           # films from ``index`` on in doubt with it (a film session's print request)


@dataclass(frozen=True)
class AttemptEnd:
    """How an attempt ends: the job's transition and why, and what comes with it."""

    transition: Transition
    reason: str
    error: str | None = None                # a failed job's error
    failed_attempts: int | None = None      # counted again when the attempt failed
    not_before: datetime | None = None      # when a retried job is due
    if_canceled: str | None = None          # with a cancel pending the job is canceled instead, for this reason
    stop_printer: str | None = None         # the printer stops too, for this reason
    warning: tuple[str, int | None, str] | None = None   # (operation, status, meaning) recorded first
    in_doubt: FilmInDoubt | None = None     # a film of the attempt is in doubt: recorded first

    def changes(self) -> dict:
        """The job's columns this ending sets besides its state."""
        return {key: value for key, value in (("error", self.error), ("failed_attempts", self.failed_attempts),
                                              ("not_before", self.not_before)) if value is not None}


# The statements of the printing path run once or twice per film: they are built once, with
# parameters, because building a statement costs SQLAlchemy more than running it.
_BETWEEN_FILMS = select(
    Job.cancel_requested,
    select(Printer.name).where(Printer.name == bindparam("printer"), *PRINTABLE).exists(),
    select(Job.id).where(Job.printer == bindparam("printer"), Job.state == JobState.PENDING.value,
                         Job.priority_rank < bindparam("rank"),
                         Job.not_before.is_(None) | (Job.not_before <= bindparam("now"))).exists(),
    Job.lease_owner, Job.state,
    select(Printer.name).where(Printer.name == bindparam("printer"),
                               Printer.driver_owner == bindparam("owner")).exists(),
).where(Job.id == bindparam("job_id"))
_PRINTING_JOB = select(Job.state, Job.printed_on, Job.films_total, Job.lease_owner).where(
    Job.id == bindparam("job_id")).with_for_update()
_FILM_PRINTED = update(Film).where(Film.job_id == bindparam("job"), Film.index == bindparam("film")).values(
    printed_at=bindparam("now"), output=bindparam("film_output"))
_FILMS_PRINTED = update(Job).where(Job.id == bindparam("job")).values(
    films_printed=bindparam("printed"), updated_at=bindparam("now"))


def request_cancel(session: Session, job: Job, by: str) -> JobChange:
    """A printing job is not canceled at once: it stops after its current film."""
    job.cancel_requested = True
    job.updated_at = now_in(session)
    return Store.note(session, job, EventKind.CANCEL_REQUESTED,
                      f"cancel requested by {by}; stops after the current film", at=job.updated_at)


def _warning(session: Session, job: Job, operation: str, status: int | None, meaning: str) -> JobChange:
    code = None if status is None else f"0x{status:04X}"
    return Store.note(session, job, EventKind.WARNING, f"{operation} {code or ''} {meaning}".replace("  ", " "),
                      {"operation": operation, "status": code, "meaning": meaning})


def _close(session: Session, job: Job, end: AttemptEnd) -> JobChange:
    """Write how ``job``'s attempt ends. A cancel asked for while it printed wins over an ending
    that yields to it: the job ends canceled."""
    if end.warning:
        _warning(session, job, *end.warning)
    if job.cancel_requested and end.if_canceled is not None:
        return Store.move(session, job, Transition.CANCEL, end.if_canceled)
    return Store.move(session, job, end.transition, end.reason, **end.changes())


def _film_in_doubt(session: Session, job: Job, doubt: FilmInDoubt) -> JobChange:
    """Record a film in doubt (or several, from ``doubt.index`` on); counted as printed, they move
    the job past them."""
    now = now_in(session)
    last = doubt.index + doubt.count - 1
    session.execute(update(Film).where(Film.job_id == job.id, Film.index >= doubt.index, Film.index <= last)
                    .values(in_doubt=Film.in_doubt + 1, in_doubt_at=now))
    if doubt.counted:
        job.films_printed = max(job.films_printed, last + 1)
    data = {"film": doubt.index, "times": doubt.times, "counted": doubt.counted}
    if doubt.count > 1:
        data["films"] = doubt.count
    change = Store.note(session, job, EventKind.FILM_IN_DOUBT, doubt.reason, data, at=now)
    if doubt.warning:
        _warning(session, job, *doubt.warning)
    return change


def end_interrupted(session: Session, job: Job, why: str) -> JobChange:
    """End an attempt its node could not end (it stopped, crashed or stalled): the job resumes
    at its first unprinted film."""
    return _close(session, job, AttemptEnd(
        Transition.REQUEUE, f"{why}; resuming after film {job.films_printed} of {job.films_total}",
        if_canceled=f"canceled: {why} with the cancel pending"))


def _add_exchanges(session: Session, job_id: int, state: str, exchanges: list[dict] | None,
                   *more_events: dict) -> None:
    """The DIMSE exchanges of an attempt (``hcq show --log``), written with the film they
    belong to so logging never costs a transaction of its own. One multi-row insert: they
    are written once per film and never read back as objects."""
    # ``exchanges`` is left as it is: a transaction that fails writes them again later.
    rows = [{"job_id": job_id, "at": exchange["at"], "kind": EventKind.DIMSE.value, "from_state": state,
             "to_state": state, "reason": "", "data": {k: v for k, v in exchange.items() if k != "at"}}
            for exchange in exchanges or ()]
    rows += more_events
    if rows:
        session.execute(insert(Event), rows)


def _film_rows(session: Session, job_id: int, state: str, films_total: int, index: int, output: str | None,
               exchanges: list[dict] | None, now: datetime, late: bool = False) -> None:
    """A printed film's row, its film-printed event and the exchanges before it (not the job's
    count: the caller sets it)."""
    late_text = "; recorded late: the queue database could not be written when it printed" if late else ""
    _add_exchanges(session, job_id, state, exchanges, {
        "job_id": job_id, "at": now, "kind": EventKind.FILM_PRINTED.value, "from_state": state,
        "to_state": state, "reason": f"film {index + 1} of {films_total} printed{late_text}",
        "data": {"film": index, "output": output}})
    session.execute(_FILM_PRINTED, {"job": job_id, "film": index, "now": now, "film_output": output})


class Attempts:
    def __init__(self, store: Store):
        self.store = store

    def _drives(self, printer: str):
        """SQL: this node holds ``printer``'s lease (it may claim and print its jobs)."""
        return (select(Printer.name).where(Printer.name == printer,
                                           Printer.driver_owner == self.store.owner).exists())

    def claim_next(self, printer: str, pools: Sequence[PoolConfig] = ()) -> ClaimedJob | None:
        """Start the first due pending job of ``printer``, or of the ``pools`` it belongs to whose
        jobs it may take now (hcserver.queue.pools): priority, then submission order."""
        now = self.store.clock()
        with self.store.writing() as session:
            mine = Job.printer == printer
            from_pools = pools_rule.takes_from(session, printer, pools, now)
            if from_pools:
                mine = mine | Job.printer.in_(from_pools)
            job = session.scalars(
                select(Job).where(mine, Job.state == JobState.PENDING.value,
                                  (Job.not_before.is_(None)) | (Job.not_before <= now), self._drives(printer))
                .order_by(Job.priority_rank, Job.id).limit(1).with_for_update(skip_locked=True)).first()
            if job is None:
                return None
            attempt = job.attempts + 1
            where = printer if job.printer == printer else f"{printer} (pool {job.printer})"
            change = self.store.move(session, job, Transition.START,
                                     f"printing on {where} (node {node_of(self.store.owner)}), attempt {attempt}",
                                     attempts=attempt, not_before=None, lease_owner=self.store.owner,
                                     lease_until=now + timedelta(seconds=self.store.lease_s), printed_on=printer)
            if job.printer != printer:
                pools_rule.took(session, job.printer, printer, now)
            in_doubt = session.scalar(select(Film.in_doubt).where(Film.job_id == job.id,
                                                                  Film.index == job.films_printed)) or 0
            # Films in doubt from there on: one print request printed them all (see FilmInDoubt.count).
            in_doubt_films = session.scalar(select(func.count()).select_from(Film).where(
                Film.job_id == job.id, Film.index >= job.films_printed, Film.in_doubt > 0)) if in_doubt else 0
            claimed = ClaimedJob(job.id, job.printer, job.priority, job.priority_rank, job.copies,
                                 job.medium_type, job.film_destination, job.label, job.color,
                                 job.films_total, job.films_printed, job.attempts, job.failed_attempts, in_doubt,
                                 in_doubt_films or 0)
        self.store.notify(change)
        return claimed

    def next_due(self, printer: str, pools: Sequence[str] = ()) -> datetime | None:
        """When the earliest backed-off pending job of ``printer`` (or of its ``pools``) becomes due."""
        with self.store.reading() as session:
            return session.scalar(select(func.min(Job.not_before)).where(
                Job.printer.in_([printer, *pools]), Job.state == JobState.PENDING.value, Job.not_before.is_not(None)))

    def film_specs(self, job_id: int, start: int = 0) -> list[dict]:
        """The normalised film dicts the formatter takes (images as spool digests), of films
        ``start`` onwards, in one read when a job starts printing (plain rows: a job may have
        hundreds of films)."""
        with self.store.reading() as session:
            films = session.execute(select(Film.id, Film.film_size, Film.orientation, Film.layout, Film.options)
                                    .where(Film.job_id == job_id, Film.index >= start).order_by(Film.index)).all()
            frames: dict[int, list[dict]] = {film.id: [] for film in films}
            for film_id, image, frame, options in session.execute(
                    select(Frame.film_id, Frame.image, Frame.frame, Frame.options).join(Film)
                    .where(Film.job_id == job_id, Film.index >= start).order_by(Frame.film_id, Frame.index)):
                frames[film_id].append({"image": image, "frame": frame, **options})
            return [{"film_size": film.film_size, "orientation": film.orientation, "layout": film.layout,
                     **film.options, "frames": frames[film.id]} for film in films]

    def between_films(self, job_id: int, printer: str, rank: int) -> FilmCheck:
        """What the worker checks before each film, in one query."""
        with self.store.reading() as session:
            row = session.execute(_BETWEEN_FILMS, {"job_id": job_id, "printer": printer, "rank": rank,
                                                   "now": self.store.clock(), "owner": self.store.owner}).one()
            # A lease past its time is still ours until another node takes the job over: the
            # renewal may just have been late (a stall); printing on is what nobody else does.
            leased = row.lease_owner == self.store.owner and row.state == JobState.PROCESSING.value
            return FilmCheck(bool(row[0]), bool(row[1]), bool(row[2]), leased, bool(row[5]))

    def film_printed(self, job_id: int, index: int, output: str | None, exchanges: list[dict] | None = None) -> None:
        """Record a film whose print action succeeded: it is never printed again.

        Written with plain statements, not ORM objects: this runs once per film on the printing
        path, and the ORM's bookkeeping was most of its cost."""
        now = self.store.clock()
        with self.store.writing() as session:
            job = session.execute(_PRINTING_JOB, {"job_id": job_id}).one_or_none()
            if job is None:
                raise unknown_job(job_id)
            if job.lease_owner != self.store.owner or job.state != JobState.PROCESSING.value:
                raise LeaseLost(job_id)
            _film_rows(session, job_id, job.state, job.films_total, index, output, exchanges, now)
            session.execute(_FILMS_PRINTED, {"job": job_id, "printed": index + 1, "now": now})
            # Names the printer printing it, the only one it concerns (not the pool's other members).
            change = JobChange(job_id, job.printed_on, EventKind.FILM_PRINTED, job.state, job.printed_on)
        self.store.notify(change)

    def note(self, job_id: int, kind: EventKind, reason: str, data: dict | None = None) -> None:
        """Record an event of a printing job that leaves its state as it is (e.g. the outcome of
        the printer's print job for its films)."""
        with self.store.writing() as session:
            change = Store.note(session, self.store.locked_job(session, job_id), kind, reason, data)
        self.store.notify(change)

    def add_warning(self, job_id: int, operation: str, status: int | None, meaning: str) -> None:
        with self.store.writing() as session:
            change = _warning(session, self.store.locked_job(session, job_id), operation, status, meaning)
        self.store.notify(change)

    def end(self, job_id: int, end: AttemptEnd, exchanges: list[dict] | None = None,
            films: Sequence[tuple[int, str | None, list[dict]]] = (),
            warnings: Sequence[tuple[str, int | None, str]] = ()) -> bool:
        """End a processing job's attempt as ``end`` says, with the exchanges not yet written, in
        one transaction; a printer that stops (``end.stop_printer``) stops in it too. Returns
        whether it did. Raises :class:`LeaseLost` if another node has taken the job over
        meanwhile: then nothing is written. ``films`` (film, output, exchanges) and ``warnings``
        are those the database refused while the job printed, written first."""
        printer_changed = False
        now = self.store.clock()
        with self.store.writing() as session:
            job = self.store.locked_job(session, job_id)
            if job.lease_owner != self.store.owner or job.state != JobState.PROCESSING.value:
                raise LeaseLost(job_id)
            for index, output, before in films:
                _film_rows(session, job.id, job.state, job.films_total, index, output, before, now, late=True)
                job.films_printed = max(job.films_printed, index + 1)
            for warning in warnings:
                _warning(session, job, *warning)
            _add_exchanges(session, job.id, job.state, exchanges)
            if end.in_doubt is not None:
                _film_in_doubt(session, job, end.in_doubt)
            printer = job.printed_on or job.printer   # the member, for a job sent to a pool
            if end.stop_printer is not None:
                printer_changed = printers.change(session, printer, PrinterTransition.STOP, end.stop_printer)
            pools_rule.attempt_ended(session, printer, end.transition, now)
            change = _close(session, job, end)
        if exchanges:
            exchanges.clear()   # written: never again
        if printer_changed:
            printers.announce(self.store, printer)
        self.store.notify(change)
        return end.stop_printer is not None
