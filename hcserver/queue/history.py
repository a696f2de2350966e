"""History: finished jobs are kept for a while (history_days, history_max_jobs), then purged."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from hcserver.events import JobChange, Notice
from hcserver.models import Film, Frame, Job
from hcserver.queue.store import Store
from hcserver.states import TERMINAL


class History:
    def __init__(self, store: Store):
        self.store = store

    def purge(self, older_than: datetime, keep: int) -> tuple[int, set[str], list[str]]:
        """Delete finished jobs that ended before ``older_than`` or beyond the newest ``keep``.

        Returns how many were deleted, the image digests no remaining job uses, and the film
        outputs (preview files) of the deleted jobs."""
        finished = [s.value for s in TERMINAL]
        with self.store.writing() as session:
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
            self.store.notify(JobChange(0, "", Notice.PURGE, ""))
        return len(doomed), images - still_used, outputs
