"""What every part of the queue shares: the engine and its transactions, the node this process
speaks for, change notification, and :meth:`Store.move`, the one place a job changes state.

A change is committed before anyone is told of it: the database stays the truth, notifications
only wake those who read it (hcserver.events).

The queue takes the time from its store's ``clock`` (naive UTC): :func:`utcnow` unless the store
is handed another, as the queue's tests do so that a lease runs out when they say, not after a sleep.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import InternalError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from hcserver.db import writer
from hcserver.errors import ErrorCode
from hcserver.events import JobChange
from hcserver.models import Event, Job
from hcserver.states import EventKind, InvalidTransition, JobState, Transition, transition

Clock = Callable[[], datetime]   # what the queue takes as now (naive UTC)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def now_in(session: Session) -> datetime:
    """Now, by the clock of the store that opened ``session``."""
    return session.info["clock"]()


def node_of(owner: str | None) -> str | None:
    """The node name of a lease owner ("node#incarnation")."""
    return owner.rpartition("#")[0] if owner else None


def iso(value: datetime | None) -> str | None:
    """A stored (naive UTC) time as ISO 8601 with its offset."""
    return None if value is None else value.isoformat(timespec="milliseconds") + "+00:00"


class QueueError(ValueError):
    """A request the queue refuses; ``code`` is the protocol error code."""

    def __init__(self, code: ErrorCode, message: str):
        super().__init__(message)
        self.code = code


class LeaseLost(QueueError):
    """The job is no longer this node's to print: another node took it over (its lease had run
    out) or it left the processing state meanwhile."""

    def __init__(self, job_id: int):
        super().__init__(ErrorCode.LEASE_LOST, f"job {job_id} is no longer this node's to print (another node "
                                               f"took it over after its lease ran out)")


def unwritable(error: BaseException) -> str | None:
    """Why the database refused a write, in words, if ``error`` says it did: a full disk, a
    read-only file or database, an I/O error, a lost connection (the database's own words
    follow). None for any other error."""
    if not isinstance(error, (OperationalError, InternalError)):
        return None
    detail = str(error.orig or error).strip().splitlines()[0]   # the driver's words, not the SQL
    return f"the queue database could not be written: {detail}"


def insert_missing(store: Store, model: type, rows: list[dict]) -> None:
    """Insert the rows (keyed by ``name``) that are not there yet; several nodes may do this at
    the same time (configured printers and pools)."""
    if not rows:
        return
    dialect = store.engine.dialect.name
    insert_rows = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(model)
    with store.writing() as session:
        session.execute(insert_rows.on_conflict_do_nothing(index_elements=["name"]), rows)


def unknown_job(job_id: int) -> QueueError:
    return QueueError(ErrorCode.UNKNOWN_JOB, f"no job {job_id}")


class Store:
    """The queue's database, as one node (``owner``, "node#incarnation") sees it."""

    def __init__(self, engine: Engine, notify: Callable[[JobChange], None] | None = None, *,
                 owner: str = "local#0", lease_s: float = 30.0, clock: Clock = utcnow):
        self.engine = engine
        self.owner, self.lease_s = owner, lease_s
        self.clock = clock
        # Each session carries the clock: what is handed only a session (Store.move) tells the same time.
        self._readers = sessionmaker(engine, expire_on_commit=False, info={"clock": clock})
        self._writers = sessionmaker(writer(engine), expire_on_commit=False, info={"clock": clock})
        self.notify = notify or (lambda change: None)

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A transaction that writes: it holds the write lock from its first statement."""
        with self._writers() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self._readers() as session, session.begin():
            yield session

    @staticmethod
    def locked_job(session: Session, job_id: int) -> Job:
        """The job, row-locked for this write transaction (PostgreSQL; SQLite's writer holds
        the database lock already), so two changes to one job never interleave."""
        job = session.get(Job, job_id, with_for_update=True)
        if job is None:
            raise unknown_job(job_id)
        return job

    @staticmethod
    def move(session: Session, job: Job, name: Transition, reason: str, data: dict | None = None,
             **changes) -> JobChange:
        """Apply transition ``name`` to ``job`` (refused unless hcserver.states allows it from
        its state) with ``changes`` to its columns, and record it as an event."""
        current = JobState(job.state)
        try:
            target = transition(current, name)
        except InvalidTransition as exc:
            raise QueueError(ErrorCode.INVALID_STATE, f"job {job.id}: {exc}") from None
        now = now_in(session)
        for key, value in changes.items():
            setattr(job, key, value)
        if target is not JobState.PROCESSING:
            job.lease_owner = job.lease_until = None
        job.state = target.value
        job.updated_at = now
        session.add(Event(job_id=job.id, at=now, kind=name.value, from_state=current.value,
                          to_state=target.value, reason=reason, data=data))
        return JobChange(job.id, job.printer, name, target.value, job.printed_on)

    @staticmethod
    def note(session: Session, job: Job, kind: EventKind, reason: str, data: dict | None = None,
             at: datetime | None = None) -> JobChange:
        """Record an event that leaves the job's state as it is."""
        session.add(Event(job_id=job.id, at=at or now_in(session), kind=kind.value, from_state=job.state,
                          to_state=job.state, reason=reason, data=data))
        return JobChange(job.id, job.printer, kind, job.state, job.printed_on)
