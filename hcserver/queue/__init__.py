"""The persistent print queue, by noun (each module says what it decides):

- :mod:`~hcserver.queue.store`: transactions, notification, and ``Store.move``, the one place a
  job changes state (the allowed transitions are hcserver.states');
- :mod:`~hcserver.queue.jobs`: submitting, and users' commands (hold, release, cancel, priority, move);
- :mod:`~hcserver.queue.attempts`: a worker's claim, its films and warnings, the end of an attempt;
- :mod:`~hcserver.queue.leases`: which node prints a job and drives a printer, take-over, recovery;
- :mod:`~hcserver.queue.printers`: printer rows;
- :mod:`~hcserver.queue.pools`: which member of a pool takes the pool's next job;
- :mod:`~hcserver.queue.views`: what clients read (list, show, events); ``joblist`` keeps the list as JSON;
- :mod:`~hcserver.queue.history`: purging finished jobs.

A job id is returned only after its row is committed; every change is committed before anyone
is told of it.
"""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine

from hcserver.events import JobChange
from hcserver.queue.attempts import AttemptEnd, Attempts, ClaimedJob, FilmCheck, FilmInDoubt
from hcserver.queue.history import History
from hcserver.queue.jobs import Jobs
from hcserver.queue.leases import Leases
from hcserver.queue.pools import Pools
from hcserver.queue.printers import Printers
from hcserver.queue.store import Clock, LeaseLost, QueueError, Store, unwritable, utcnow
from hcserver.queue.views import Views

__all__ = ["JobQueue", "AttemptEnd", "ClaimedJob", "FilmCheck", "FilmInDoubt", "LeaseLost", "QueueError", "unwritable",
           "utcnow"]


class JobQueue:
    """One node's queue: its parts share one :class:`Store` (engine, node, notification)."""

    def __init__(self, engine: Engine, notify: Callable[[JobChange], None] | None = None, *,
                 owner: str = "local#0", lease_s: float = 30.0, clock: Clock = utcnow):
        self.store = Store(engine, notify, owner=owner, lease_s=lease_s, clock=clock)
        self.jobs = Jobs(self.store)
        self.attempts = Attempts(self.store)
        self.leases = Leases(self.store)
        self.printers = Printers(self.store)
        self.pools = Pools(self.store)
        self.views = Views(self.store)
        self.history = History(self.store)

    @property
    def owner(self) -> str:
        """This node, as its leases name it ("node#incarnation")."""
        return self.store.owner
