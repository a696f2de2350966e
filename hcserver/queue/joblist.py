"""The job list as JSON text (``hcq list --json``), kept up to date job by job.

Building the list from the database costs about 15 µs a job (reading the rows, times back to
text, encoding): 150 ms at 10,000 jobs. A queue that prints changes a job with every film, so
a cache of the whole text would be rebuilt at nearly every call. Instead the text of each job is
kept, and a change (the event bus names the job; other nodes' changes come the same way) makes
only that job's text stale. A list is then one query for the ids in print order, the rows of the
jobs that changed, and a join; the joined text is kept until the next change.

Each text is stamped with the count of changes this cache had seen of its job when the row was
read: a change that lands while the row is being read leaves the text stale (read again next
time), and an older text never replaces a newer one. The cache counts changes itself, in its
bus listener, so a list is never kept under a change it has not yet seen. ``resync`` (a node
that lost the other nodes' notifications for a while) and ``purge`` (jobs removed) drop
everything, and so does the passing of :data:`MAX_AGE_S`: a notification lost between nodes
must not leave a job's text stale for good.

Each job has two texts: whole, for its owner and administrators, and redacted
(hcserver.queue.privacy) for everybody else; a list is joined for the one who asks, so a list
kept for one user never reaches another.
"""
from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from typing import NamedTuple

from hcserver.events import EventBus, JobChange, Notice
from hcserver.queue.privacy import redact_job
from hcserver.queue.views import Views

#: Changes that concern every job (or remove some): the cache starts over.
DROP_ALL = frozenset({Notice.RESYNC, Notice.PURGE})

#: The longest a job's text is kept without reading its row again (seconds).
MAX_AGE_S = 60.0

#: Joined lists kept at once (each asker's own list differs from everybody else's).
MAX_LISTS = 32


class _Text(NamedTuple):
    generation: int
    changes: int
    whole: bytes        # for the owner and administrators
    redacted: bytes     # for everybody else
    owner: str

    def for_viewer(self, viewer: str | None) -> bytes:
        return self.whole if viewer is None or viewer == self.owner else self.redacted


def _encode(view: dict) -> bytes:
    return json.dumps(view, separators=(",", ":")).encode()


class JobListCache:
    def __init__(self, views: Views, bus: EventBus):
        self.views = views
        self._lock = threading.Lock()
        self._seen = 0                                         # changes seen, of any job
        self._generation = 0                                   # bumped when everything is dropped
        self._dropped_at = time.monotonic()
        self._changes: dict[int, int] = {}                     # job id -> its changes seen
        self._texts: dict[int, _Text] = {}                     # job id -> its texts
        # (all, printer, viewer) -> (changes seen, JSON), the least recently used first
        self._lists: OrderedDict[tuple, tuple[int, bytes]] = OrderedDict()
        bus.subscribe(self.changed)

    def changed(self, change: JobChange) -> None:
        """Event bus listener."""
        with self._lock:
            self._seen += 1
            if change.job_id:
                self._changes[change.job_id] = self._changes.get(change.job_id, 0) + 1
            elif change.kind in DROP_ALL:
                self._drop_all()

    def _drop_all(self) -> None:
        self._generation += 1
        self._dropped_at = time.monotonic()
        self._changes.clear()
        self._texts.clear()
        self._lists.clear()

    def json(self, *, include_history: bool = False, printer: str | None = None,
             viewer: str | None = None) -> bytes:
        """The list, as :meth:`Views.list_jobs` would give it, encoded as JSON, as ``viewer``
        sees it (hcserver.queue.privacy: None for an administrator, who sees every job whole)."""
        key = (include_history, printer, viewer)
        with self._lock:
            if time.monotonic() - self._dropped_at > MAX_AGE_S:
                self._drop_all()
            seen = self._seen
            kept = self._lists.get(key)
            if kept is not None and kept[0] == seen:
                self._lists.move_to_end(key)
                return kept[1]
        ids = self.views.list_ids(include_history=include_history, printer=printer)
        with self._lock:
            generation = self._generation
            stale = {job_id: self._changes.get(job_id, 0) for job_id in ids if not self._fresh(job_id)}
        views = self.views.list_entries(list(stale)) if stale else {}
        fresh = {job_id: _Text(generation, stale[job_id], _encode(view), _encode(redact_job(view)), view["owner"])
                 for job_id, view in views.items()}
        with self._lock:
            for job_id, text in fresh.items():
                kept_text = self._texts.get(job_id)
                if kept_text is None or kept_text[:2] < text[:2]:
                    self._texts[job_id] = text
            texts = [self._texts.get(job_id) or fresh.get(job_id) for job_id in ids]
            body = b"[" + b",".join(text.for_viewer(viewer) for text in texts if text is not None) + b"]"
            # Kept only if nothing changed meanwhile: else the next call looks again.
            if self._seen == seen and all(text is not None and self._fresh(job_id)
                                          for job_id, text in zip(ids, texts)):
                self._lists[key] = (seen, body)
                self._lists.move_to_end(key)
                while len(self._lists) > MAX_LISTS:
                    self._lists.popitem(last=False)
        return body

    def _fresh(self, job_id: int) -> bool:
        kept = self._texts.get(job_id)
        return kept is not None and kept[0] == self._generation and kept[1] == self._changes.get(job_id, 0)
