"""Server-sent events: an open page hears of every change the event bus carries, as it happens,
and fetches itself again (nothing polls).

Each open page has one subscriber to the bus and one of the web server's threads for as long
as it is open, so their number is bounded (``[web] max_streams``); past it a page works as it
does without JavaScript, by reloading. What is sent is only what anybody may see of a change:
which job (its id), which printer, what kind of change and the state: no private detail.
"""
from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator

from hcserver.events import EventBus, JobChange

#: Seconds between comments on an idle stream: a page that went away is noticed by the write.
KEEPALIVE_S = 15.0
#: Changes one page may have waiting; past that it is told to fetch itself once.
PENDING = 256


class Streams:
    def __init__(self, bus: EventBus, limit: int):
        self.bus = bus
        self._slots = threading.BoundedSemaphore(limit)
        self._stopping = threading.Event()

    def open(self) -> Iterator[bytes] | None:
        """A page's event stream, or None when ``limit`` pages are open already."""
        if not self._slots.acquire(blocking=False):
            return None
        return self._stream()

    def stop(self) -> None:
        """End every stream within a second (the daemon stops)."""
        self._stopping.set()

    def _stream(self) -> Iterator[bytes]:
        waiting: queue.Queue = queue.Queue(PENDING)

        def heard(change: JobChange) -> None:   # the publisher's thread: never block it
            try:
                waiting.put_nowait(change)
            except queue.Full:
                pass   # the page fetches itself at the next change it hears anyway

        unsubscribe = self.bus.subscribe(heard)
        try:
            yield b"retry: 2000\n\n"   # how soon a browser reconnects after a restart
            idle = 0.0
            while not self._stopping.is_set():
                try:
                    change = waiting.get(timeout=1.0)
                except queue.Empty:
                    idle += 1.0
                    if idle >= KEEPALIVE_S:
                        idle = 0.0
                        yield b": keepalive\n\n"
                    continue
                idle = 0.0
                data = {"job": change.job_id or None, "printer": change.printer,
                        "kind": str(getattr(change.kind, "value", change.kind)), "state": change.state or None}
                yield f"event: change\ndata: {json.dumps(data)}\n\n".encode()
        finally:
            unsubscribe()
            self._slots.release()
