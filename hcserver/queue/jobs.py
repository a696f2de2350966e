"""Jobs: submitting them, and the commands users give them (hold, release, cancel, priority, move).

What a printing job's cancel does is the attempt's business (hcserver.queue.attempts).
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert, select

from hcserver.errors import ErrorCode
from hcserver.events import JobChange
from hcserver.models import Event, Film, Frame, Job
from hcserver.queue.attempts import request_cancel
from hcserver.queue.store import QueueError, Store
from hcserver.queue.views import job_view
from hcserver.states import PRIORITY_RANK, WAITING, EventKind, JobState, Transition, transition


class Jobs:
    def __init__(self, store: Store):
        self.store = store

    def submit(self, owner: str, job: dict, held: bool = False, details: dict | None = None) -> int:
        """Queue a normalised job (see hcserver.jobspec); returns its id once committed."""
        job_id, _new = self.submit_once(owner, job, held=held, details=details)
        return job_id

    def submit_once(self, owner: str, job: dict, *, held: bool = False, details: dict | None = None,
                    origin_key: str | None = None, window_s: float = 0.0) -> tuple[int, bool]:
        """Queue a normalised job unless one with ``origin_key`` was submitted in the last
        ``window_s`` seconds: (its id, True) once committed, or (the earlier job's id, False).
        The look and the insert are one write transaction, so two submits of one key at once
        queue one job.

        Written with multi-row inserts, not ORM objects: a job may have hundreds of films and
        frames, and the ORM's bookkeeping was most of a submit's time."""
        now = self.store.clock()
        state = transition(None, Transition.SUBMIT, held=held)
        films = job["films"]
        with self.store.writing() as session:
            if origin_key is not None:
                earlier = session.scalars(select(Job.id).where(
                    Job.origin_key == origin_key, Job.created_at >= now - timedelta(seconds=window_s))
                    .order_by(Job.id.desc()).limit(1)).first()
                if earlier is not None:
                    return earlier, False
            job_id = session.scalars(insert(Job).returning(Job.id), [dict(origin_key=origin_key,
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
            copy_of = (details or {}).get("reprint_of")
            reason = f"submitted by {owner}" + (f" as a reprint of job {copy_of}" if copy_of else "")
            session.execute(insert(Event), [dict(
                job_id=job_id, at=now, kind=Transition.SUBMIT.value, from_state=None, to_state=state.value,
                reason=reason, data={"films": len(films), **(details or {})})])
            change = JobChange(job_id, job["printer"], Transition.SUBMIT, state.value)
        self.store.notify(change)
        return change.job_id, True

    def _command(self, job_id: int, name: Transition, reason: str, **changes) -> dict:
        with self.store.writing() as session:
            job = self.store.locked_job(session, job_id)
            change = self.store.move(session, job, name, reason, **changes)
            view = job_view(job, [])
        self.store.notify(change)
        return view

    def hold(self, job_id: int, by: str) -> dict:
        return self._command(job_id, Transition.HOLD, f"held by {by}")

    def release(self, job_id: int, by: str) -> dict:
        # Released by a person: due now, not at the back-off of the attempt before it was held.
        return self._command(job_id, Transition.RELEASE, f"released by {by}", not_before=None)

    def cancel(self, job_id: int, by: str) -> dict:
        """Cancel a queued job now; a printing job stops after its current film."""
        with self.store.writing() as session:
            job = self.store.locked_job(session, job_id)
            if job.state == JobState.PROCESSING.value:
                change = request_cancel(session, job, by)
            else:
                change = self.store.move(session, job, Transition.CANCEL, f"canceled by {by}")
            view = job_view(job, [])
        self.store.notify(change)
        return view

    def _change_waiting_job(self, job_id: int, what: EventKind, reason, by: str, **changes) -> dict:
        """``reason(before, by)``: the event's words, given the job's values before the change."""
        with self.store.writing() as session:
            job = self.store.locked_job(session, job_id)
            if JobState(job.state) not in WAITING:
                raise QueueError(ErrorCode.INVALID_STATE, f"job {job_id} is {job.state}: only pending or held "
                                                          f"jobs can have their {what.value} changed")
            now = self.store.clock()
            before = {key: getattr(job, key) for key in changes}
            for key, value in changes.items():
                setattr(job, key, value)
            if "printer" in changes:   # the back-off was the old printer's: due at once on the new one
                job.not_before = None
            job.updated_at = now
            change = self.store.note(session, job, what, reason(before, by), {"from": before, "to": changes}, at=now)
            view = job_view(job, [])
        self.store.notify(change)
        if "printer" in changes:  # wake the old printer's worker too
            self.store.notify(JobChange(job_id, before["printer"], what, change.state))
        return view

    def set_priority(self, job_id: int, priority: str, by: str) -> dict:
        if priority not in PRIORITY_RANK:
            raise QueueError(ErrorCode.BAD_REQUEST, f"priority must be one of: {', '.join(PRIORITY_RANK)}")
        return self._change_waiting_job(job_id, EventKind.PRIORITY,
                                        lambda before, by: f"priority changed from {before['priority']} to "
                                                           f"{priority} by {by}",
                                        by, priority=priority, priority_rank=PRIORITY_RANK[priority])

    def move(self, job_id: int, printer: str, by: str, color: bool) -> dict:
        """Move to ``printer`` (the caller has checked the job against it)."""
        return self._change_waiting_job(job_id, EventKind.PRINTER,
                                        lambda before, by: f"moved from printer {before['printer']} to {printer} "
                                                           f"by {by}",
                                        by, printer=printer, color=color)

    def hold_printer_jobs(self, printer: str, reason: str) -> list[int]:
        """Hold every pending job of ``printer`` or pool (e.g. it left the configuration)."""
        return self._hold(Job.printer == printer, reason)

    def hold_jobs(self, job_ids: list[int], reason: str) -> list[int]:
        """Hold those of ``job_ids`` that are still pending (e.g. their pool can no longer print them)."""
        return self._hold(Job.id.in_(job_ids), reason) if job_ids else []

    def _hold(self, where, reason: str) -> list[int]:
        with self.store.writing() as session:
            # Locked, so a job another node claims meanwhile is re-checked (and left alone).
            jobs = session.scalars(select(Job).where(where, Job.state == JobState.PENDING.value)
                                   .with_for_update()).all()
            changes = [self.store.move(session, job, Transition.HOLD, reason) for job in jobs]
        for change in changes:
            self.store.notify(change)
        return [change.job_id for change in changes]
