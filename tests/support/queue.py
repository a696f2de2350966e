"""The queue on its own, without a daemon: a job spec, queues of one or several nodes, and a
clock the test moves."""
from __future__ import annotations

from datetime import datetime, timedelta

from hcserver.db import make_engine, upgrade
from hcserver.queue import JobQueue, utcnow
from hcserver.queue.store import Clock

JOB = {"printer": "p", "priority": "med", "copies": 1, "medium_type": None, "film_destination": None,
       "label": None, "color": False,
       "films": [{"film_size": "14INX17IN", "orientation": "PORTRAIT", "layout": "STANDARD\\1,1",
                  "frames": [{"image": "0" * 64, "frame": 0}]}]}

LEASE_S = 2.0   # on the real clock, long enough that no stall between two statements lets a lease run out


class FakeClock:
    """A queue's clock that stands still until the test moves it on (naive UTC, as utcnow):
    leases run out when the test says, not after a sleep. Nodes handed the same clock keep the
    same time, as NTP keeps real nodes."""

    def __init__(self, start: datetime | None = None):
        self.now = start or utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_queue(url: str) -> JobQueue:
    """A single node's queue with printer "p", whose jobs it may claim."""
    engine = make_engine(url)
    upgrade(engine)
    queue = JobQueue(engine)
    queue.printers.sync(["p"])
    assert queue.leases.acquire_printer("p")   # only the node driving a printer claims its jobs
    return queue


def node_queue(url: str, owner: str, lease_s: float = LEASE_S, clock: Clock = utcnow) -> JobQueue:
    """One node's view of a shared queue (the daemon makes one per process)."""
    engine = make_engine(url)
    upgrade(engine)
    queue = JobQueue(engine, owner=owner, lease_s=lease_s, clock=clock)
    queue.printers.sync(["p"])
    return queue
