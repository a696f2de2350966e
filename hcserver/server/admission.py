"""What a client of the request server may hold, counted for both listeners together
(hcserver.server.transport enforces it; the keys are in hcserver.config): connections in all and
per peer with the administrators' reserve (:class:`Admission`), within what the open-file limit
allows (:func:`connection_capacity`); the attachments being received at once
(a :class:`~hcserver.budget.ByteBudget`, one message's share: :class:`PendingUpload`); and failed token attempts
per remote address (:class:`FailedAuth`)."""
from __future__ import annotations

import logging
import resource
import threading
import time
from collections import Counter, deque

from hcserver.budget import ByteBudget
from hcserver.config import ServerConfig
from hcserver.errors import ErrorCode
from hcserver.protocol import ProtocolError
from hcserver.uploads import size_text

log = logging.getLogger("hcserver.server.transport")   # the sockets' log: its lines are theirs

FD_MARGIN = 128               # file descriptors kept for the rest of the daemon (database, spool, printers)
_FAILED_AUTH_WINDOW_S = 60.0


def connection_capacity(config: ServerConfig) -> int:
    """Raise this process's soft limit of open files to its hard limit (the unit file's
    LimitNOFILE), and return how many connections can be served: ``max_connections``, or fewer
    if that many would not leave the daemon the descriptors it needs for everything else."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open file limit from %d to %d: %s", soft, target, exc)
    # The DICOM front door's associations need descriptors of their own, beside the margin.
    reserved = FD_MARGIN + (config.dicom_in.max_associations if config.dicom_in else 0)
    if soft == resource.RLIM_INFINITY or config.max_connections + reserved <= soft:
        return config.max_connections
    capacity = max(soft - reserved, soft // 2, 1)
    log.warning("max_connections = %d needs about %d open files, but this process may open %d "
                "(RLIMIT_NOFILE; LimitNOFILE= in the unit file): serving at most %d connections",
                config.max_connections, config.max_connections + reserved, soft, capacity)
    return capacity


class Admission:
    """The connections open now, in all and per peer, for both listeners together."""

    def __init__(self, config: ServerConfig, total: int | None = None):
        self.total = config.max_connections if total is None else total
        self.per_user = config.max_connections_per_user
        self.reserved = min(config.reserved_admin_connections, self.total - 1)
        self._lock = threading.Lock()
        self._open = 0
        self._by_peer: Counter[str] = Counter()

    @property
    def open(self) -> int:
        return self._open

    def enter(self, who: str, admin: bool) -> str | None:
        """Count a new connection of ``who``; or, if it must be refused, say why."""
        with self._lock:
            refusal = self._refusal(who, admin)
            if refusal is None:
                self._add(who)
            return refusal

    def leave(self, who: str) -> None:
        with self._lock:
            self._remove(who)

    def rename(self, old: str, new: str, admin: bool) -> str | None:
        """The same connection, now known as ``new`` (a remote client once authenticated); on a
        refusal it stays counted as ``old``."""
        with self._lock:
            self._remove(old)
            refusal = self._refusal(new, admin)
            self._add(new if refusal is None else old)
            return refusal

    def _add(self, who: str) -> None:
        self._open += 1
        self._by_peer[who] += 1

    def _remove(self, who: str) -> None:
        self._open -= 1
        self._by_peer[who] -= 1
        if self._by_peer[who] <= 0:
            del self._by_peer[who]

    def _refusal(self, who: str, admin: bool) -> str | None:
        if self._open >= self.total:
            return f"too many connections: the server has its limit of {self.total} open (max_connections)"
        if admin:
            return None
        if self._open >= self.total - self.reserved:
            return (f"too many connections: the server has {self._open} open, and the last {self.reserved} of its "
                    f"{self.total} (max_connections) are kept for administrators (reserved_admin_connections)")
        if self._by_peer[who] >= self.per_user:
            return (f"too many connections: {who} already has {self._by_peer[who]} open "
                    f"(max_connections_per_user = {self.per_user})")
        return None


class PendingUpload:
    """One message's share of the upload budget, from the moment its length is known."""

    def __init__(self, budget: ByteBudget, timeout: float):
        self.budget, self.timeout, self.size = budget, timeout, 0

    def take(self, size: int) -> None:
        if not self.budget.take(size, self.timeout):
            raise ProtocolError(ErrorCode.BUSY, f"the server is receiving {size_text(self.budget.limit)} of uploads "
                                                f"already (max_pending_upload_bytes): try again in a moment")
        self.size = size

    def release(self) -> None:
        if self.size:
            self.budget.give_back(self.size)
            self.size = 0


class FailedAuth:
    """Failed token attempts per remote address over the last minute."""

    def __init__(self, limit: int):
        self.limit = limit
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, host: str, now: float) -> deque[float]:
        times = self._failures.setdefault(host, deque())
        while times and times[0] <= now - _FAILED_AUTH_WINDOW_S:
            times.popleft()
        return times

    def wait_s(self, host: str) -> float:
        """How long ``host`` must wait before its tokens are checked again (0: not throttled)."""
        now = time.monotonic()
        with self._lock:
            times = self._recent(host, now)
            if len(times) < self.limit:
                if not times:
                    del self._failures[host]
                return 0.0
            return times[-self.limit] + _FAILED_AUTH_WINDOW_S - now

    def failed(self, host: str) -> int:
        """Record a failed attempt; the failures of ``host`` in the last minute."""
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > 10000:   # many addresses: forget those with nothing recent
                for stale in [h for h, t in self._failures.items() if not t or t[-1] <= now - _FAILED_AUTH_WINDOW_S]:
                    del self._failures[stale]
            times = self._recent(host, now)
            times.append(now)
            return len(times)
