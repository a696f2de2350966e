"""Deadlines for everything that can wait on a printer.

pynetdicom reads a PDU with blocking socket calls and no timeout: a printer
that sends half a PDU and then nothing (or stops reading what we send) holds
its network thread, and pynetdicom's abort waits for that thread without a
limit. So every call that can wait on the printer (associate, a request,
release, abort) runs under a :func:`deadline`, whose expiry cuts the
connection (:meth:`hcserver.drivers.dicom.wire.Wire.cut`).

One thread runs the deadlines of every association: a timer thread started
per request cost a few milliseconds each, several times per film.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

ABORT_GRACE_S = 2.0      # how long an A-ABORT or a release may take before the connection is cut


class _Watchdog:
    """The deadline thread: calls each armed callback when its time has come, unless disarmed."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._cancelled: set[int] = set()
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float, callback: Callable[[], None]) -> int:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="dicom-deadlines", daemon=True)
                self._thread.start()
            token = next(self._tokens)
            entry = (time.monotonic() + seconds, token, callback)
            heapq.heappush(self._heap, entry)
            if self._heap[0] is entry:   # only an earlier deadline needs the thread to wake
                self._cond.notify()
            return token

    def disarm(self, token: int) -> None:
        with self._cond:
            self._cancelled.add(token)

    def _due(self) -> Callable[[], None]:
        with self._cond:
            while True:
                while self._heap and self._heap[0][1] in self._cancelled:
                    self._cancelled.discard(heapq.heappop(self._heap)[1])
                if not self._heap:
                    self._cond.wait()
                    continue
                remaining = self._heap[0][0] - time.monotonic()
                if remaining <= 0:
                    return heapq.heappop(self._heap)[2]
                self._cond.wait(remaining)

    def _run(self) -> None:
        while True:
            callback = self._due()
            try:
                callback()
            except Exception:  # a deadline must never stop the others
                log.exception("deadline callback failed")


_WATCHDOG = _Watchdog()


@contextmanager
def deadline(seconds: float, expired: Callable[[], None]) -> Iterator[None]:
    """Call ``expired`` (in the deadline thread) if the block has not ended within ``seconds``."""
    token = _WATCHDOG.arm(seconds, expired)
    try:
        yield
    finally:
        _WATCHDOG.disarm(token)
