"""In-process notifications: job changes wake waiting clients and printer workers.

Only "something changed" travels here; the database stays the truth.
"""
from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


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


class EventBus:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._seq = 0
        self._listeners: list[Callable[[JobChange], None]] = []

    def subscribe(self, listener: Callable[[JobChange], None]) -> None:
        self._listeners.append(listener)

    def publish(self, change: JobChange) -> None:
        with self._cond:
            self._seq += 1
            self._cond.notify_all()
        for listener in self._listeners:
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
