"""In-process notifications: job changes wake waiting clients and printer workers.

Only "something changed" travels here; the database stays the truth.
"""
from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class Notice(str, enum.Enum):
    """Changes that concern no one job (announced with job id 0)."""

    PRINTER = "printer"                     # a printer's row changed
    PRINTER_RELEASED = "printer-released"   # its node let it go: the nodes standing by try at once
    PURGE = "purge"                         # finished jobs were deleted
    RESYNC = "resync"                       # this node may have missed other nodes' changes


@dataclass(frozen=True)
class JobChange:
    job_id: int        # 0: a Notice
    printer: str
    kind: str          # a Transition, an EventKind (hcserver.states) or a Notice
    state: str
    # The printer of the job's latest attempt (a pool's job: the member; None before any), as the
    # node that made the change knew it; ``printer`` stays where the job was sent, which is what
    # wakes workers. Not announced to other nodes (this node's metrics count it).
    printed_on: str | None = field(default=None, compare=False)


class PrintingObserver:
    """What a printer's worker tells besides the queue's changes: each DIMSE response and each
    failed attempt (the metrics count them, hcserver.web.metrics). This one ignores them."""

    def dimse(self, printer: str, operation: str, status: str | None) -> None:
        """A DIMSE exchange ended: ``status`` as "0x0000", None when no response came."""

    def failure(self, printer: str, operation: str | None, reason: str) -> None:
        """An attempt failed (``operation`` "A-ASSOCIATE": the association could not be set up)."""


class EventBus:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._seq = 0
        self._listeners: list[Callable[[JobChange], None]] = []

    def subscribe(self, listener: Callable[[JobChange], None]) -> Callable[[], None]:
        """Call ``listener`` with every change (in the publisher's thread: it must not block);
        returns what ends the subscription."""
        with self._cond:
            self._listeners = [*self._listeners, listener]

        def unsubscribe() -> None:
            with self._cond:
                self._listeners = [known for known in self._listeners if known is not listener]
        return unsubscribe

    def publish(self, change: JobChange) -> None:
        with self._cond:
            self._seq += 1
            self._cond.notify_all()
            listeners = self._listeners   # replaced, never changed in place: safe to walk outside the lock
        for listener in listeners:
            listener(change)

    def _changed_since(self, seen: int) -> Callable[[], bool]:
        return lambda: self._seq != seen

    @property
    def seq(self) -> int:
        """Counts every change; a client that saw ``seq`` can wait for the next one."""
        with self._cond:
            return self._seq

    def wait_change(self, seen: int, timeout: float) -> bool:
        """Block until something changes after ``seen`` (or timeout); True if it did."""
        with self._cond:
            return self._cond.wait_for(self._changed_since(seen), timeout)

    def wait_until(self, predicate: Callable[[], bool], timeout: float | None) -> bool:
        """Block until ``predicate()`` is true (re-checked after every change) or timeout.

        The predicate runs outside the lock, so a slow check never blocks publishers.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._cond:
                seen = self._seq
            if predicate():
                return True
            with self._cond:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait_for(self._changed_since(seen), remaining)
