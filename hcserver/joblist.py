"""The job list as JSON text (``hcq list --json``), kept up to date job by job.

Building the list from the database costs about 15 µs a job (reading the rows, times back to
text, encoding): 150 ms at 10,000 jobs. A queue that prints changes a job with every film, so
a cache of the whole text would be rebuilt at nearly every call. Instead the text of each job is
kept, and a change (the event bus names the job; other nodes' changes come the same way) makes
only that job's text stale. A list is then one query for the ids in print order, the rows of the
jobs that changed, and a join; the joined text itself is kept until the next change.

A job's text is stamped with the number of changes seen for it when its row was read: a change
that lands while the row is being read leaves the text stale, to be read again next time.
``resync`` (a node that lost the other nodes' notifications for a while) and ``purge`` (jobs
removed) drop everything.
"""
from __future__ import annotations

import json
import threading

from .events import EventBus, JobChange
from .queue import JobQueue

#: Changes that concern every job (or remove some): the cache starts over.
DROP_ALL = frozenset({"resync", "purge"})


class JobListCache:
    def __init__(self, queue: JobQueue, bus: EventBus):
        self.queue, self.bus = queue, bus
        self._lock = threading.Lock()
        self._generation = 0                              # bumped when everything is dropped
        self._changes: dict[int, int] = {}                # job id -> changes seen
        self._texts: dict[int, tuple[int, int, bytes]] = {}   # job id -> (generation, changes, JSON)
        self._lists: dict[tuple, tuple[int, bytes]] = {}  # (all, printer) -> (bus seq, JSON)
        bus.subscribe(self.changed)

    def changed(self, change: JobChange) -> None:
        """Event bus listener."""
        with self._lock:
            if change.job_id:
                self._changes[change.job_id] = self._changes.get(change.job_id, 0) + 1
            elif change.kind in DROP_ALL:
                self._generation += 1
                self._changes.clear()
                self._texts.clear()

    def json(self, *, include_history: bool = False, printer: str | None = None) -> bytes:
        """The list, as :meth:`JobQueue.list` would give it, encoded as JSON."""
        key, seq = (include_history, printer), self.bus.seq
        with self._lock:
            kept = self._lists.get(key)
        if kept is not None and kept[0] == seq:
            return kept[1]
        ids = self.queue.list_ids(include_history=include_history, printer=printer)
        with self._lock:
            generation = self._generation
            stale = {job_id: self._changes.get(job_id, 0) for job_id in ids
                     if self._stale(job_id, generation)}
        if stale:
            fresh = {job_id: (generation, stale[job_id], json.dumps(view, separators=(",", ":")).encode())
                     for job_id, view in self.queue.views(list(stale)).items()}
            with self._lock:
                self._texts.update(fresh)
        with self._lock:
            texts = self._texts
            body = b"[" + b",".join(texts[job_id][2] for job_id in ids if job_id in texts) + b"]"
            self._lists[key] = (seq, body)
        return body

    def _stale(self, job_id: int, generation: int) -> bool:
        kept = self._texts.get(job_id)
        return kept is None or kept[0] != generation or kept[1] != self._changes.get(job_id, 0)
