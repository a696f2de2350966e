"""A budget of bytes that many threads hold at once: the socket's uploads being received
(hcserver.server.admission) and the DICOM front door's messages in flight
(hcserver.dicom_in.limits)."""
from __future__ import annotations

import threading


class ByteBudget:
    """Bytes held against ``limit`` (which a reload may change); what is taken is given back."""

    def __init__(self, limit: int):
        self.limit = limit
        self._used = 0
        self._room = threading.Condition()

    def take(self, size: int, timeout: float = 0.0) -> bool:
        """Hold ``size`` more bytes, waiting up to ``timeout`` for room; False (nothing held)
        if there was none."""
        with self._room:
            if not self._room.wait_for(lambda: self._used + size <= self.limit, timeout):
                return False
            self._used += size
            return True

    def give_back(self, size: int) -> None:
        with self._room:
            self._used -= size
            self._room.notify_all()
