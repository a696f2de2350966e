"""What the queue shows: the job list, one job with its films and events, the event feed, and
a stored job as a spec again. Reads only; hcserver.queue.joblist keeps the list as JSON text."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from hcserver.models import Event, Film, Frame, Job
from hcserver.queue.store import Store, iso, node_of, unknown_job
from hcserver.states import TERMINAL, UNFINISHED, WAITING, EventKind, JobState

#: Ids per ``IN (...)`` list: well below the bound parameters any SQLite build allows.
IN_LIST_CHUNK = 500


def job_view(job, warnings: list[dict]) -> dict:
    """A job as clients see it (a Job or a row of its columns)."""
    return {
        "id": job.id, "state": job.state, "printer": job.printer, "priority": job.priority,
        "owner": job.owner, "copies": job.copies, "medium_type": job.medium_type,
        "film_destination": job.film_destination, "label": job.label,
        "films_total": job.films_total, "films_printed": job.films_printed,
        "attempts": job.attempts, "failed_attempts": job.failed_attempts, "warnings": warnings, "error": job.error,
        "not_before": iso(job.not_before), "cancel_requested": job.cancel_requested,
        "created_at": iso(job.created_at), "updated_at": iso(job.updated_at),
        "node": node_of(job.lease_owner),
        "printed_on": job.printed_on,   # the printer of its latest attempt (for a pool's job, the member)
    }


def event_view(e: Event) -> dict:
    return {"id": e.id, "job": e.job_id, "at": iso(e.at), "kind": e.kind, "from": e.from_state,
            "to": e.to_state, "reason": e.reason, "data": e.data}


def _warnings(session: Session, job_ids) -> dict[int, list[dict]]:
    """Warnings per job; ``job_ids`` is a list or a select of ids."""
    found: dict[int, list[dict]] = {}
    rows = session.execute(select(Event.job_id, Event.data, Event.at)
                           .where(Event.kind == EventKind.WARNING.value, Event.job_id.in_(job_ids))
                           .order_by(Event.id))
    for job_id, data, at in rows:
        found.setdefault(job_id, []).append({**(data or {}), "at": iso(at)})
    return found


def _listed(include_history: bool, printer: str | None) -> list:
    where: list = []
    if not include_history:
        where.append(Job.state.not_in([s.value for s in TERMINAL]))
    if printer:   # jobs sent to it, and the pool jobs it prints or printed
        where.append((Job.printer == printer) |
                     ((Job.printed_on == printer) & Job.state.not_in([s.value for s in WAITING])))
    return where


def _columns() -> list:
    return [getattr(Job, c.key) for c in Job.__table__.columns]


class Views:
    def __init__(self, store: Store):
        self.store = store

    def list_jobs(self, *, include_history: bool = False, printer: str | None = None) -> list[dict]:
        where = _listed(include_history, printer)
        with self.store.reading() as session:
            # Plain rows, not ORM objects: the list must stay fast with thousands of jobs.
            jobs = session.execute(select(*_columns()).where(*where).order_by(Job.priority_rank, Job.id)).all()
            warnings = _warnings(session, select(Job.id).where(*where))
            return [job_view(job, warnings.get(job.id, [])) for job in jobs]

    def list_ids(self, *, include_history: bool = False, printer: str | None = None) -> list[int]:
        """The ids of :meth:`list_jobs`, in the same order."""
        with self.store.reading() as session:
            return list(session.scalars(select(Job.id).where(*_listed(include_history, printer))
                                        .order_by(Job.priority_rank, Job.id)))

    def pending_ids(self, printer: str) -> list[int]:
        """The pending jobs sent to ``printer`` (or pool), in print order."""
        with self.store.reading() as session:
            return list(session.scalars(select(Job.id).where(Job.printer == printer,
                                                             Job.state == JobState.PENDING.value)
                                        .order_by(Job.priority_rank, Job.id)))

    def list_entries(self, job_ids: list[int]) -> dict[int, dict]:
        """The list entries of these jobs (those that still exist), by id."""
        out: dict[int, dict] = {}
        with self.store.reading() as session:
            for start in range(0, len(job_ids), IN_LIST_CHUNK):
                chunk = job_ids[start:start + IN_LIST_CHUNK]
                warnings = _warnings(session, chunk)
                for job in session.execute(select(*_columns()).where(Job.id.in_(chunk))):
                    out[job.id] = job_view(job, warnings.get(job.id, []))
        return out

    def show(self, job_id: int, *, log: bool = False) -> dict:
        """One job with its films and events; ``log`` adds the DIMSE exchanges of every attempt."""
        with self.store.reading() as session:
            job = session.scalars(select(Job).where(Job.id == job_id)
                                  .options(selectinload(Job.films), selectinload(Job.events))).first()
            if job is None:
                raise unknown_job(job_id)
            view = job_view(job, _warnings(session, [job.id]).get(job.id, []))
            # in_doubt: times the film's print request got no answer (the printer may have printed it)
            view["films"] = [{"index": f.index, "film_size": f.film_size, "orientation": f.orientation,
                              "layout": f.layout, "frames": len(f.frames), "printed_at": iso(f.printed_at),
                              "output": f.output, "in_doubt": f.in_doubt, "in_doubt_at": iso(f.in_doubt_at)}
                             for f in job.films]
            view["films_in_doubt"] = [f.index for f in job.films if f.in_doubt]
            view["events"] = [event_view(e) for e in job.events if e.kind != EventKind.DIMSE.value]
            if log:
                view["log"] = [{"at": iso(e.at), **(e.data or {})} for e in job.events
                               if e.kind == EventKind.DIMSE.value]
            return view

    def events_since(self, since: int | None, job_id: int | None = None, limit: int = 1000) -> tuple[list[dict], int]:
        """Job events after event id ``since`` (all jobs, or one), and the newest event id."""
        with self.store.reading() as session:
            last = session.scalar(select(func.max(Event.id))) or 0
            if since is None:
                return [], last
            query = (select(Event).where(Event.id > since, Event.kind != EventKind.DIMSE.value)
                     .order_by(Event.id).limit(limit))
            if job_id is not None:
                query = query.where(Event.job_id == job_id)
            events = [event_view(e) for e in session.scalars(query)]
            return events, (events[-1]["id"] if len(events) == limit else last)

    def job_spec(self, job_id: int) -> dict:
        """The stored job as a normalised spec (images as spool references), to re-validate it."""
        with self.store.reading() as session:
            job = session.scalars(select(Job).where(Job.id == job_id)
                                  .options(selectinload(Job.films).selectinload(Film.frames))).first()
            if job is None:
                raise unknown_job(job_id)
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
        with self.store.reading() as session:
            owner = session.scalar(select(Job.owner).where(Job.id == job_id))
        if owner is None:
            raise unknown_job(job_id)
        return owner

    def owners(self, job_ids) -> dict[int, str]:
        """The owners of these jobs (those that still exist), by id."""
        ids = list(set(job_ids))
        out: dict[int, str] = {}
        with self.store.reading() as session:
            for start in range(0, len(ids), IN_LIST_CHUNK):
                chunk = ids[start:start + IN_LIST_CHUNK]
                for job_id, owner in session.execute(select(Job.id, Job.owner).where(Job.id.in_(chunk))):
                    out[job_id] = owner
        return out

    def counts(self) -> dict[tuple[str, str], int]:
        """How many jobs each printer has in each state (its history included)."""
        with self.store.reading() as session:
            rows = session.execute(select(Job.printer, Job.state, func.count()).group_by(Job.printer, Job.state))
            return {(printer, state): count for printer, state, count in rows}

    def queued_count(self, owner: str) -> int:
        """Jobs of ``owner`` that have not ended (indexed: owner, state)."""
        with self.store.reading() as session:
            return session.scalar(select(func.count()).select_from(Job).where(
                Job.owner == owner, Job.state.in_([s.value for s in UNFINISHED]))) or 0

    def unfinished_among(self, job_ids) -> set[int]:
        """Which of ``job_ids`` have not ended (gone ones have)."""
        ids, found = list(job_ids), set[int]()
        with self.store.reading() as session:
            for i in range(0, len(ids), IN_LIST_CHUNK):
                found.update(session.scalars(select(Job.id).where(
                    Job.id.in_(ids[i:i + IN_LIST_CHUNK]), Job.state.in_([s.value for s in UNFINISHED]))))
        return found

    def images_of_unfinished(self, owner_prefix: str) -> dict[str, set[int]]:
        """The spooled images of the unfinished jobs whose owner starts with ``owner_prefix``:
        each image's digest and the jobs that print it."""
        out: dict[str, set[int]] = {}
        with self.store.reading() as session:
            rows = session.execute(select(Frame.image, Job.id).join(Film, Frame.film_id == Film.id)
                                   .join(Job, Film.job_id == Job.id)
                                   .where(Job.owner.startswith(owner_prefix, autoescape=True),
                                          Job.state.in_([s.value for s in UNFINISHED])).distinct())
            for image, job_id in rows:
                out.setdefault(image, set()).add(job_id)
        return out

    def warnings_of(self, job_id: int) -> set[tuple[str, str | None, str]]:
        """The warnings recorded on a job: (operation, status as 0xNNNN or None, meaning) each."""
        with self.store.reading() as session:
            rows = session.scalars(select(Event.data).where(Event.job_id == job_id,
                                                            Event.kind == EventKind.WARNING.value))
            return {(data.get("operation", ""), data.get("status"), data.get("meaning", ""))
                    for data in rows if data}

    def image_in_use(self, digest: str) -> bool:
        """Whether a job (of any state) prints the spooled image ``digest``."""
        with self.store.reading() as session:
            return session.scalar(select(Frame.id).where(Frame.image == digest).limit(1)) is not None

    def printer_of(self, job_id: int) -> str:
        with self.store.reading() as session:
            printer = session.scalar(select(Job.printer).where(Job.id == job_id))
        if printer is None:
            raise unknown_job(job_id)
        return printer

    def state_of(self, job_id: int) -> str:
        with self.store.reading() as session:
            state = session.scalar(select(Job.state).where(Job.id == job_id))
        if state is None:
            raise unknown_job(job_id)
        return state
