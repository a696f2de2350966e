"""The persistent print queue: jobs, their films and events, and printer state.

Every state change goes through :meth:`JobQueue._move`, which applies the
state machine (:mod:`hcserver.states`), records the event and commits before
anyone is told. A job id is returned only after its row is committed.

Leases. Several server processes ("nodes") may share one PostgreSQL queue. Each JobQueue
speaks for one of them, named ``owner`` ("node#incarnation", new at every start). A claimed
job carries a lease (``lease_owner``, ``lease_until``) that its node renews every lease_s/3;
every write the printing worker makes checks the lease is still its own. When a node dies its
leases run out and any node puts the job back to pending (:meth:`take_over_expired`): it
resumes at its first unprinted film. A printer is driven by one node at a time the same way
(``driver_owner``, ``driver_until`` on the printer row; :meth:`acquire_printer`), so there is
one association per printer. Times are the nodes' clocks: keep them synchronised (NTP); the
skew must stay well below lease_s.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, selectinload, sessionmaker

from hcserver.db import writer
from hcserver.errors import ErrorCode
from hcserver.events import JobChange, Notice
from hcserver.models import Event, Film, Frame, Job, PrinterState
from hcserver.states import (
    PRIORITY_RANK,
    TERMINAL,
    UNFINISHED,
    WAITING,
    EventKind,
    InvalidTransition,
    JobState,
    Transition,
    transition,
)

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def node_of(owner: str | None) -> str | None:
    """The node name of a lease owner ("node#incarnation")."""
    return owner.rpartition("#")[0] if owner else None


def iso(value: datetime | None) -> str | None:
    """A stored (naive UTC) time as ISO 8601 with its offset."""
    return None if value is None else value.isoformat(timespec="milliseconds") + "+00:00"


class QueueError(ValueError):
    """A request the queue refuses; ``code`` is the protocol error code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class LeaseLost(QueueError):
    """The job is no longer this node's to print: another node took it over (its lease had run
    out) or it left the processing state meanwhile."""

    def __init__(self, job_id: int):
        super().__init__(ErrorCode.LEASE_LOST, f"job {job_id} is no longer this node's to print (another node "
                                               f"took it over after its lease ran out)")


@dataclass(frozen=True)
class FilmCheck:
    """What the worker checks before each film (:meth:`JobQueue.between_films`)."""

    cancel: bool          # a cancel was requested
    printable: bool       # the printer is enabled and not stopped
    higher: bool          # a due job of higher priority waits
    leased: bool          # the job is still this node's to print (no other node took it over)
    driving: bool         # this node still drives the printer (no other node took it over)


@dataclass(frozen=True)
class ClaimedJob:
    """What a worker needs to print a job it has just started."""

    id: int
    printer: str
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


#: Ids per ``IN (...)`` list: well below the bound parameters any SQLite build allows.
IN_LIST_CHUNK = 500

# The statements of the printing path run once or twice per film: they are built once, with
# parameters, because building a statement costs SQLAlchemy more than running it.
_BETWEEN_FILMS = select(
    Job.cancel_requested,
    select(PrinterState.name).where(PrinterState.name == bindparam("printer"), PrinterState.enabled,
                                    PrinterState.stopped.is_(False)).exists(),
    select(Job.id).where(Job.printer == bindparam("printer"), Job.state == JobState.PENDING.value,
                         Job.priority_rank < bindparam("rank"),
                         Job.not_before.is_(None) | (Job.not_before <= bindparam("now"))).exists(),
    Job.lease_owner, Job.state,
    select(PrinterState.name).where(PrinterState.name == bindparam("printer"),
                                    PrinterState.driver_owner == bindparam("owner")).exists(),
).where(Job.id == bindparam("job_id"))
_PRINTING_JOB = select(Job.state, Job.printer, Job.films_total, Job.lease_owner).where(
    Job.id == bindparam("job_id")).with_for_update()
_FILM_PRINTED = update(Film).where(Film.job_id == bindparam("job"), Film.index == bindparam("film")).values(
    printed_at=bindparam("now"), output=bindparam("film_output"))
_FILMS_PRINTED = update(Job).where(Job.id == bindparam("job")).values(
    films_printed=bindparam("printed"), updated_at=bindparam("now"))


class JobQueue:
    def __init__(self, engine: Engine, notify: Callable[[JobChange], None] | None = None, *,
                 owner: str = "local#0", lease_s: float = 30.0):
        self.engine = engine
        self.owner, self.lease_s = owner, lease_s
        self._readers = sessionmaker(engine, expire_on_commit=False)
        self._writers = sessionmaker(writer(engine), expire_on_commit=False)
        self._notify = notify or (lambda change: None)

    @contextmanager
    def _session(self) -> Iterable[Session]:
        """A transaction that writes: it holds the write lock from its first statement."""
        with self._writers() as session, session.begin():
            yield session

    @contextmanager
    def _reading(self) -> Iterable[Session]:
        with self._readers() as session, session.begin():
            yield session

    def _job(self, session: Session, job_id: int) -> Job:
        """The job, row-locked for this write transaction (PostgreSQL; SQLite's writer holds
        the database lock already), so two changes to one job never interleave."""
        job = session.get(Job, job_id, with_for_update=True)
        if job is None:
            raise QueueError(ErrorCode.UNKNOWN_JOB, f"no job {job_id}")
        return job

    @staticmethod
    def _move(session: Session, job: Job, name: Transition, reason: str, data: dict | None = None,
              **changes) -> JobChange:
        current = JobState(job.state)
        try:
            target = transition(current, name)
        except InvalidTransition as exc:
            raise QueueError(ErrorCode.INVALID_STATE, f"job {job.id}: {exc}") from None
        now = utcnow()
        for key, value in changes.items():
            setattr(job, key, value)
        if target is not JobState.PROCESSING:
            job.lease_owner = job.lease_until = None
        job.state = target.value
        job.updated_at = now
        session.add(Event(job_id=job.id, at=now, kind=name.value, from_state=current.value,
                          to_state=target.value, reason=reason, data=data))
        return JobChange(job.id, job.printer, name, target.value)

    # ---- submitting -----------------------------------------------------------------

    def submit(self, owner: str, job: dict, held: bool = False, details: dict | None = None) -> int:
        """Queue a normalised job (see hcserver.jobspec); returns its id once committed.

        Written with multi-row inserts, not ORM objects: a job may have hundreds of films and
        frames, and the ORM's bookkeeping was most of a submit's time."""
        now = utcnow()
        state = transition(None, Transition.SUBMIT, held=held)
        films = job["films"]
        with self._session() as session:
            job_id = session.scalars(insert(Job).returning(Job.id), [dict(
                owner=owner, printer=job["printer"], state=state.value, priority=job["priority"],
                priority_rank=PRIORITY_RANK[job["priority"]], copies=job["copies"],
                medium_type=job["medium_type"], film_destination=job["film_destination"],
                label=job["label"], color=job["color"], films_total=len(films), films_printed=0, attempts=0,
                failed_attempts=0, cancel_requested=False, created_at=now, updated_at=now)]).one()
            film_ids = session.scalars(insert(Film).returning(Film.id, sort_by_parameter_order=True), [
                {"job_id": job_id, "index": index, "film_size": film["film_size"],
                 "orientation": film["orientation"], "layout": film["layout"],
                 "options": {k: v for k, v in film.items()
                             if k not in ("film_size", "orientation", "layout", "frames")}}
                for index, film in enumerate(films)]).all()
            session.execute(insert(Frame), [
                {"film_id": film_id, "index": i, "image": frame["image"], "frame": frame["frame"],
                 "options": {k: v for k, v in frame.items() if k not in ("image", "frame")}}
                for film_id, film in zip(film_ids, films) for i, frame in enumerate(film["frames"])])
            session.execute(insert(Event), [dict(
                job_id=job_id, at=now, kind=Transition.SUBMIT.value, from_state=None, to_state=state.value,
                reason=f"submitted by {owner}", data={"films": len(films), **(details or {})})])
            change = JobChange(job_id, job["printer"], Transition.SUBMIT, state.value)
        self._notify(change)
        return change.job_id

    # ---- user commands --------------------------------------------------------------

    def _command(self, job_id: int, name: Transition, reason: str, **changes) -> dict:
        with self._session() as session:
            job = self._job(session, job_id)
            change = self._move(session, job, name, reason, **changes)
            view = self._view(job, [])
        self._notify(change)
        return view

    def hold(self, job_id: int, by: str) -> dict:
        return self._command(job_id, Transition.HOLD, f"held by {by}")

    def release(self, job_id: int, by: str) -> dict:
        return self._command(job_id, Transition.RELEASE, f"released by {by}")

    def cancel(self, job_id: int, by: str) -> dict:
        """Cancel a queued job now; a printing job stops after its current film."""
        with self._session() as session:
            job = self._job(session, job_id)
            if job.state == JobState.PROCESSING.value:
                job.cancel_requested = True
                job.updated_at = utcnow()
                session.add(Event(job_id=job.id, at=job.updated_at, kind=EventKind.CANCEL_REQUESTED.value,
                                  from_state=job.state, to_state=job.state,
                                  reason=f"cancel requested by {by}; stops after the current film"))
                change = JobChange(job.id, job.printer, EventKind.CANCEL_REQUESTED, job.state)
            else:
                change = self._move(session, job, Transition.CANCEL, f"canceled by {by}")
            view = self._view(job, [])
        self._notify(change)
        return view

    def _change_waiting_job(self, job_id: int, what: EventKind, by: str, **changes) -> dict:
        with self._session() as session:
            job = self._job(session, job_id)
            if JobState(job.state) not in WAITING:
                raise QueueError(ErrorCode.INVALID_STATE, f"job {job_id} is {job.state}: only pending or held "
                                                          f"jobs can have their {what.value} changed")
            now = utcnow()
            before = {key: getattr(job, key) for key in changes}
            for key, value in changes.items():
                setattr(job, key, value)
            job.updated_at = now
            session.add(Event(job_id=job.id, at=now, kind=what.value, from_state=job.state, to_state=job.state,
                              reason=f"{what.value} changed by {by}", data={"from": before, "to": changes}))
            change = JobChange(job.id, job.printer, what, job.state)
            view = self._view(job, [])
        self._notify(change)
        if "printer" in changes:  # wake the old printer's worker too
            self._notify(JobChange(job_id, before["printer"], what, change.state))
        return view

    def set_priority(self, job_id: int, priority: str, by: str) -> dict:
        if priority not in PRIORITY_RANK:
            raise QueueError(ErrorCode.BAD_REQUEST, f"priority must be one of: {', '.join(PRIORITY_RANK)}")
        return self._change_waiting_job(job_id, EventKind.PRIORITY, by, priority=priority,
                                        priority_rank=PRIORITY_RANK[priority])

    def move(self, job_id: int, printer: str, by: str, color: bool) -> dict:
        """Move to ``printer`` (the caller has checked the job against it)."""
        return self._change_waiting_job(job_id, EventKind.PRINTER, by, printer=printer, color=color)

    # ---- reading --------------------------------------------------------------------

    def _warnings(self, session: Session, job_ids) -> dict[int, list[dict]]:
        """Warnings per job; ``job_ids`` is a list or a select of ids."""
        found: dict[int, list[dict]] = {}
        rows = session.execute(select(Event.job_id, Event.data, Event.at)
                               .where(Event.kind == EventKind.WARNING.value, Event.job_id.in_(job_ids))
                               .order_by(Event.id))
        for job_id, data, at in rows:
            found.setdefault(job_id, []).append({**(data or {}), "at": iso(at)})
        return found

    @staticmethod
    def _view(job: Job, warnings: list[dict]) -> dict:
        return {
            "id": job.id, "state": job.state, "printer": job.printer, "priority": job.priority,
            "owner": job.owner, "copies": job.copies, "medium_type": job.medium_type,
            "film_destination": job.film_destination, "label": job.label,
            "films_total": job.films_total, "films_printed": job.films_printed,
            "attempts": job.attempts, "failed_attempts": job.failed_attempts, "warnings": warnings, "error": job.error,
            "not_before": iso(job.not_before), "cancel_requested": job.cancel_requested,
            "created_at": iso(job.created_at), "updated_at": iso(job.updated_at),
            "node": node_of(job.lease_owner),
        }

    @staticmethod
    def _listed(include_history: bool, printer: str | None) -> list:
        where = []
        if not include_history:
            where.append(Job.state.not_in([s.value for s in TERMINAL]))
        if printer:
            where.append(Job.printer == printer)
        return where

    def list(self, *, include_history: bool = False, printer: str | None = None) -> list[dict]:
        where = self._listed(include_history, printer)
        with self._reading() as session:
            # Plain rows, not ORM objects: the list must stay fast with thousands of jobs.
            jobs = session.execute(select(*self._columns()).where(*where).order_by(Job.priority_rank, Job.id)).all()
            warnings = self._warnings(session, select(Job.id).where(*where))
            return [self._view(job, warnings.get(job.id, [])) for job in jobs]

    def list_ids(self, *, include_history: bool = False, printer: str | None = None) -> list[int]:
        """The ids of :meth:`list`, in the same order."""
        with self._reading() as session:
            return list(session.scalars(select(Job.id).where(*self._listed(include_history, printer))
                                        .order_by(Job.priority_rank, Job.id)))

    def views(self, job_ids: list[int]) -> dict[int, dict]:
        """The list entries of these jobs (those that still exist), by id."""
        out: dict[int, dict] = {}
        with self._reading() as session:
            for start in range(0, len(job_ids), IN_LIST_CHUNK):
                chunk = job_ids[start:start + IN_LIST_CHUNK]
                warnings = self._warnings(session, chunk)
                for job in session.execute(select(*self._columns()).where(Job.id.in_(chunk))):
                    out[job.id] = self._view(job, warnings.get(job.id, []))
        return out

    @staticmethod
    def _columns() -> list:
        return [getattr(Job, c.key) for c in Job.__table__.columns]

    def show(self, job_id: int, *, log: bool = False) -> dict:
        """One job with its films and events; ``log`` adds the DIMSE exchanges of every attempt."""
        with self._reading() as session:
            job = session.scalars(select(Job).where(Job.id == job_id)
                                  .options(selectinload(Job.films), selectinload(Job.events))).first()
            if job is None:
                raise QueueError(ErrorCode.UNKNOWN_JOB, f"no job {job_id}")
            view = self._view(job, self._warnings(session, [job.id]).get(job.id, []))
            view["films"] = [{"index": f.index, "film_size": f.film_size, "orientation": f.orientation,
                              "layout": f.layout, "frames": len(f.frames), "printed_at": iso(f.printed_at),
                              "output": f.output} for f in job.films]
            view["events"] = [self._event_view(e) for e in job.events if e.kind != EventKind.DIMSE.value]
            if log:
                view["log"] = [{"at": iso(e.at), **e.data} for e in job.events if e.kind == EventKind.DIMSE.value]
            return view

    @staticmethod
    def _event_view(e: Event) -> dict:
        return {"id": e.id, "job": e.job_id, "at": iso(e.at), "kind": e.kind, "from": e.from_state,
                "to": e.to_state, "reason": e.reason, "data": e.data}

    def events_since(self, since: int | None, job_id: int | None = None, limit: int = 1000) -> tuple[list[dict], int]:
        """Job events after event id ``since`` (all jobs, or one), and the newest event id."""
        with self._reading() as session:
            last = session.scalar(select(func.max(Event.id))) or 0
            if since is None:
                return [], last
            query = (select(Event).where(Event.id > since, Event.kind != EventKind.DIMSE.value)
                     .order_by(Event.id).limit(limit))
            if job_id is not None:
                query = query.where(Event.job_id == job_id)
            events = [self._event_view(e) for e in session.scalars(query)]
            return events, (events[-1]["id"] if len(events) == limit else last)

    def job_spec(self, job_id: int) -> dict:
        """The stored job as a normalised spec (images as spool references), to re-validate it."""
        with self._reading() as session:
            job = session.scalars(select(Job).where(Job.id == job_id)
                                  .options(selectinload(Job.films).selectinload(Film.frames))).first()
            if job is None:
                raise QueueError(ErrorCode.UNKNOWN_JOB, f"no job {job_id}")
            return {
                "printer": job.printer, "priority": job.priority, "copies": job.copies,
                "medium_type": job.medium_type, "film_destination": job.film_destination, "label": job.label,
                "films": [{"film_size": f.film_size, "orientation": f.orientation, "layout": f.layout,
                           **f.options,
                           "frames": [{"image": "sha256:" + fr.image, "frame": fr.frame, **fr.options}
                                      for fr in f.frames]}
                          for f in job.films],
            }

    def owner_of(self, job_id: int) -> str:
        with self._reading() as session:
            owner = session.scalar(select(Job.owner).where(Job.id == job_id))
        if owner is None:
            raise QueueError(ErrorCode.UNKNOWN_JOB, f"no job {job_id}")
        return owner

    def queued_count(self, owner: str) -> int:
        """Jobs of ``owner`` that have not ended (indexed: owner, state)."""
        with self._reading() as session:
            return session.scalar(select(func.count()).select_from(Job).where(
                Job.owner == owner, Job.state.in_([s.value for s in UNFINISHED])))

    def state_of(self, job_id: int) -> str:
        with self._reading() as session:
            state = session.scalar(select(Job.state).where(Job.id == job_id))
        if state is None:
            raise QueueError(ErrorCode.UNKNOWN_JOB, f"no job {job_id}")
        return state

    def film_specs(self, job_id: int, start: int = 0) -> list[dict]:
        """The normalised film dicts the formatter takes (images as spool digests), of films
        ``start`` onwards, in one read when a job starts printing (plain rows: a job may have
        hundreds of films)."""
        with self._reading() as session:
            films = session.execute(select(Film.id, Film.film_size, Film.orientation, Film.layout, Film.options)
                                    .where(Film.job_id == job_id, Film.index >= start).order_by(Film.index)).all()
            frames: dict[int, list[dict]] = {film.id: [] for film in films}
            for film_id, image, frame, options in session.execute(
                    select(Frame.film_id, Frame.image, Frame.frame, Frame.options).join(Film)
                    .where(Film.job_id == job_id, Film.index >= start).order_by(Frame.film_id, Frame.index)):
                frames[film_id].append({"image": image, "frame": frame, **options})
            return [{"film_size": film.film_size, "orientation": film.orientation, "layout": film.layout,
                     **film.options, "frames": frames[film.id]} for film in films]

    # ---- the worker's side ----------------------------------------------------------

    def claim_next(self, printer: str) -> ClaimedJob | None:
        """Start the first due pending job of ``printer``: priority, then submission order."""
        now = utcnow()
        with self._session() as session:
            job = session.scalars(
                select(Job).where(Job.printer == printer, Job.state == JobState.PENDING.value,
                                  (Job.not_before.is_(None)) | (Job.not_before <= now), self._drives(printer))
                .order_by(Job.priority_rank, Job.id).limit(1).with_for_update(skip_locked=True)).first()
            if job is None:
                return None
            attempt = job.attempts + 1
            change = self._move(session, job, Transition.START,
                                f"printing on {printer} (node {node_of(self.owner)}), attempt {attempt}",
                                attempts=attempt, not_before=None, lease_owner=self.owner,
                                lease_until=now + timedelta(seconds=self.lease_s))
            claimed = ClaimedJob(job.id, job.printer, job.priority, job.priority_rank, job.copies,
                                 job.medium_type, job.film_destination, job.label, job.color,
                                 job.films_total, job.films_printed, job.attempts, job.failed_attempts)
        self._notify(change)
        return claimed

    def next_due(self, printer: str) -> datetime | None:
        """When the earliest backed-off pending job of ``printer`` becomes due."""
        with self._reading() as session:
            return session.scalar(select(func.min(Job.not_before)).where(
                Job.printer == printer, Job.state == JobState.PENDING.value, Job.not_before.is_not(None)))

    def between_films(self, job_id: int, printer: str, rank: int) -> FilmCheck:
        """What the worker checks before each film, in one query."""
        with self._reading() as session:
            row = session.execute(_BETWEEN_FILMS, {"job_id": job_id, "printer": printer, "rank": rank,
                                                   "now": utcnow(), "owner": self.owner}).one()
            # A lease past its time is still ours until another node takes the job over: the
            # renewal may just have been late (a stall); printing on is what nobody else does.
            leased = row.lease_owner == self.owner and row.state == JobState.PROCESSING.value
            return FilmCheck(bool(row[0]), bool(row[1]), bool(row[2]), leased, bool(row[5]))

    def _drives(self, printer: str):
        """SQL: this node holds ``printer``'s lease (it may claim and print its jobs)."""
        return (select(PrinterState.name).where(PrinterState.name == printer,
                                                PrinterState.driver_owner == self.owner).exists())

    def cancel_requested(self, job_id: int) -> bool:
        with self._reading() as session:
            return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))

    @staticmethod
    def _add_exchanges(session: Session, job_id: int, state: str, exchanges: list[dict],
                       *more_events: dict) -> None:
        """The DIMSE exchanges of an attempt (``hcq show --log``), written with the film they
        belong to so logging never costs a transaction of its own. One multi-row insert: they
        are written once per film and never read back as objects."""
        rows = [{"job_id": job_id, "at": exchange.pop("at"), "kind": EventKind.DIMSE.value, "from_state": state,
                 "to_state": state, "reason": "", "data": exchange} for exchange in exchanges]
        rows += more_events
        if rows:
            session.execute(insert(Event), rows)
        if exchanges:
            exchanges.clear()

    def film_printed(self, job_id: int, index: int, output: str | None, exchanges: list[dict] = ()) -> None:
        """Record a film whose print action succeeded: it is never printed again.

        Written with plain statements, not ORM objects: this runs once per film on the printing
        path, and the ORM's bookkeeping was most of its cost."""
        now = utcnow()
        with self._session() as session:
            job = session.execute(_PRINTING_JOB, {"job_id": job_id}).one_or_none()
            if job is None:
                raise QueueError(ErrorCode.UNKNOWN_JOB, f"no job {job_id}")
            if job.lease_owner != self.owner or job.state != JobState.PROCESSING.value:
                raise LeaseLost(job_id)
            self._add_exchanges(session, job_id, job.state, exchanges, {
                "job_id": job_id, "at": now, "kind": EventKind.FILM_PRINTED.value, "from_state": job.state,
                "to_state": job.state, "reason": f"film {index + 1} of {job.films_total} printed",
                "data": {"film": index, "output": output}})
            session.execute(_FILM_PRINTED, {"job": job_id, "film": index, "now": now, "film_output": output})
            session.execute(_FILMS_PRINTED, {"job": job_id, "printed": index + 1, "now": now})
            change = JobChange(job_id, job.printer, EventKind.FILM_PRINTED, job.state)
        self._notify(change)

    def add_warning(self, job_id: int, operation: str, status: int | None, meaning: str) -> None:
        now = utcnow()
        code = None if status is None else f"0x{status:04X}"
        with self._session() as session:
            job = self._job(session, job_id)
            session.add(Event(job_id=job_id, at=now, kind=EventKind.WARNING.value, from_state=job.state,
                              to_state=job.state, reason=f"{operation} {code or ''} {meaning}".replace("  ", " "),
                              data={"operation": operation, "status": code, "meaning": meaning}))
            change = JobChange(job_id, job.printer, EventKind.WARNING, job.state)
        self._notify(change)

    def finish(self, job_id: int, name: Transition, reason: str, exchanges: list[dict] = (), **changes) -> None:
        """End a processing job's attempt: complete, retry, preempt, requeue, fail or cancel.
        Raises :class:`LeaseLost` if another node has taken the job over meanwhile."""
        with self._session() as session:
            job = self._job(session, job_id)
            if job.lease_owner != self.owner or job.state != JobState.PROCESSING.value:
                raise LeaseLost(job_id)
            self._add_exchanges(session, job.id, job.state, exchanges)
            change = self._move(session, job, name, reason, **changes)
        self._notify(change)

    def hold_printer_jobs(self, printer: str, reason: str) -> list[int]:
        """Hold every pending job of ``printer`` (e.g. it left the configuration)."""
        with self._session() as session:
            # Locked, so a job another node claims meanwhile is re-checked (and left alone).
            jobs = session.scalars(select(Job).where(Job.printer == printer, Job.state == JobState.PENDING.value)
                                   .with_for_update()).all()
            changes = [self._move(session, job, Transition.HOLD, reason) for job in jobs]
        for change in changes:
            self._notify(change)
        return [change.job_id for change in changes]

    def purge_history(self, older_than: datetime, keep: int) -> tuple[int, set[str], list[str]]:
        """Delete finished jobs that ended before ``older_than`` or beyond the newest ``keep``.

        Returns how many were deleted, the image digests no remaining job uses, and the film
        outputs (preview files) of the deleted jobs."""
        finished = [s.value for s in TERMINAL]
        with self._session() as session:
            newest = select(Job.id).where(Job.state.in_(finished)).order_by(Job.updated_at.desc()).limit(keep)
            # Locked rows are another node's purge at work: skip them, they are going anyway.
            doomed = session.scalars(select(Job).where(
                Job.state.in_(finished), (Job.updated_at < older_than) | Job.id.not_in(newest))
                .options(selectinload(Job.films).selectinload(Film.frames))
                .with_for_update(skip_locked=True)).all()
            images = {frame.image for job in doomed for film in job.films for frame in film.frames}
            outputs = [film.output for job in doomed for film in job.films if film.output]
            for job in doomed:
                session.delete(job)
            session.flush()
            still_used = set(session.scalars(select(Frame.image).where(Frame.image.in_(images)).distinct()))
        if doomed:
            self._notify(JobChange(0, "", Notice.PURGE, ""))
        return len(doomed), images - still_used, outputs

    def recover_interrupted(self, only_this_node: bool = True) -> list[int]:
        """At start-up: jobs this node left printing when it stopped or crashed go back to
        pending (their printed films kept), and its printers are free again. Other nodes' jobs
        are theirs until their leases run out (:meth:`take_over_expired`). With
        ``only_this_node`` false (SQLite: one node by definition, whatever its name was) every
        printing job and printer is recovered."""
        mine = f"{node_of(self.owner)}#"
        jobs_of = [Job.lease_owner.is_(None) | Job.lease_owner.startswith(mine, autoescape=True)]
        printers_of = [PrinterState.driver_owner.startswith(mine, autoescape=True)]
        if not only_this_node:
            jobs_of = printers_of = []
        with self._session() as session:
            jobs = session.scalars(select(Job).where(Job.state == JobState.PROCESSING.value, *jobs_of)
                                   .with_for_update()).all()
            changes = [self._requeue_interrupted(session, job, "the server stopped while this job was printing")
                       for job in jobs]
            session.execute(update(PrinterState).where(*printers_of).values(driver_owner=None, driver_until=None))
        for change in changes:
            self._notify(change)
        return [change.job_id for change in changes]

    def _requeue_interrupted(self, session: Session, job: Job, why: str) -> JobChange:
        if job.cancel_requested:
            return self._move(session, job, Transition.CANCEL, f"canceled: {why} with the cancel pending")
        return self._move(session, job, Transition.REQUEUE, f"{why}; resuming after film {job.films_printed} "
                                                            f"of {job.films_total}")

    # ---- leases (see the module docstring) -------------------------------------------

    def renew_leases(self, printing: Iterable[int]) -> set[str]:
        """Extend the leases of the jobs this node's workers are printing (``printing``: an
        attempt that ended without its job being written back, e.g. on a database error, lets its
        lease run out and is taken over) and of the printers it drives; returns those printers."""
        until = utcnow() + timedelta(seconds=self.lease_s)
        with self._session() as session:
            session.execute(update(Job).where(Job.id.in_(list(printing)), Job.lease_owner == self.owner,
                                              Job.state == JobState.PROCESSING.value).values(lease_until=until))
            session.execute(update(PrinterState).where(PrinterState.driver_owner == self.owner)
                            .values(driver_until=until))
            return set(session.scalars(select(PrinterState.name).where(PrinterState.driver_owner == self.owner)))

    def take_over_expired(self) -> list[int]:
        """Put jobs whose node stopped renewing their lease back to pending (any node does this)."""
        now = utcnow()
        with self._session() as session:
            jobs = session.scalars(select(Job).where(Job.state == JobState.PROCESSING.value,
                                                     Job.lease_until.is_(None) | (Job.lease_until < now))
                                   .with_for_update(skip_locked=True)).all()
            changes = [self._requeue_interrupted(
                session, job, f"node {node_of(job.lease_owner) or '?'} stopped renewing its lease") for job in jobs]
        for change in changes:
            self._notify(change)
        return [change.job_id for change in changes]

    def acquire_printer(self, name: str) -> bool:
        """Drive printer ``name`` from this node, unless another node's lease on it still runs."""
        now = utcnow()
        with self._session() as session:
            taken = session.execute(
                update(PrinterState).where(
                    PrinterState.name == name,
                    PrinterState.driver_owner.is_(None) | (PrinterState.driver_owner == self.owner)
                    | (PrinterState.driver_until < now))
                .values(driver_owner=self.owner, driver_until=now + timedelta(seconds=self.lease_s)))
            return taken.rowcount == 1

    def release_printers(self, names: Iterable[str] | None = None) -> None:
        """At a clean stop (or when printers leave the configuration): let another node drive
        this node's printers (all, or ``names``) at once."""
        where = [PrinterState.driver_owner == self.owner]
        if names is not None:
            where.append(PrinterState.name.in_(list(names)))
        with self._session() as session:
            released = session.scalars(update(PrinterState).where(*where).values(driver_owner=None, driver_until=None)
                                       .returning(PrinterState.name)).all()
        for name in released:   # the nodes standing by for it try at once
            self._notify(JobChange(0, name, Notice.PRINTER_RELEASED, ""))

    # ---- printers -------------------------------------------------------------------

    def sync_printers(self, names: Iterable[str]) -> None:
        """Give every configured printer its row (several nodes may do this at the same time)."""
        rows = [{"name": name, "enabled": True, "accepting": True, "stopped": False, "updated_at": utcnow()}
                for name in names]
        if not rows:
            return
        dialect = self.engine.dialect.name
        insert_rows = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(PrinterState)
        with self._session() as session:
            session.execute(insert_rows.on_conflict_do_nothing(index_elements=["name"]), rows)

    def printer(self, name: str) -> PrinterState:
        with self._reading() as session:
            state = session.get(PrinterState, name)
            if state is None:
                raise QueueError(ErrorCode.UNKNOWN_PRINTER, f"no printer {name!r}")
            return state

    def update_printer(self, name: str, **changes) -> PrinterState:
        """Change a printer's row; nothing is written (or announced) when nothing differs, as
        when each job's N-GET finds the printer as it was."""
        with self._session() as session:
            state = session.get(PrinterState, name)
            if state is None:
                raise QueueError(ErrorCode.UNKNOWN_PRINTER, f"no printer {name!r}")
            if all(getattr(state, key) == value for key, value in changes.items()):
                return state
            for key, value in changes.items():
                setattr(state, key, value)
            state.updated_at = utcnow()
        self._notify(JobChange(0, name, Notice.PRINTER, ""))
        return state

    def printer_views(self) -> list[dict]:
        now = utcnow()
        with self._reading() as session:
            counts = dict(session.execute(
                select(Job.printer, func.count()).where(Job.state.in_([s.value for s in UNFINISHED]))
                .group_by(Job.printer)).all())
            return [{"name": p.name, "enabled": p.enabled, "accepting": p.accepting, "stopped": p.stopped,
                     "dicom_status": p.dicom_status, "dicom_status_info": p.dicom_status_info,
                     "reason": p.reason, "queued": counts.get(p.name, 0), "updated_at": iso(p.updated_at),
                     "node": node_of(p.driver_owner) if p.driver_until and p.driver_until > now else None}
                    for p in session.scalars(select(PrinterState).order_by(PrinterState.name))]


def backoff(attempts: int, interval_s: float, max_interval_s: float) -> datetime:
    """Not-before time after ``attempts`` failed tries: interval doubling, capped."""
    delay = min(interval_s * (2 ** min(max(attempts - 1, 0), 30)), max_interval_s)
    return utcnow() + timedelta(seconds=delay)
