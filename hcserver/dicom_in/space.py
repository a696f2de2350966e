"""The spool space the front door's images take, and the quotas on it.

The routes' images do not go through a local client's upload, so the upload quota
(hcserver.uploads) and its ``spool-full`` would not see them: a peer looping associations under
ever new calling AE titles could fill the spool until every local upload fails. So each image a
route accepts is charged before it is journalled or spooled:

- to its origin (``dicom:CALLING@ROUTE``) in the daemon's upload quota, as an upload of that
  owner, up to ``max_upload_bytes_per_owner``, until a job uses it (or its film session ends
  unprinted);
- to the front door's total, ``[dicom_in] max_spool_bytes``: every image the routes have received
  and not yet queued, and the images of their jobs until those jobs end.

An image that would pass either is refused (the store route: 0xA700 out of resources; the print
route: 0x0213 resource limitation, and a new film session too while the total is used up). The
count is kept in memory and seeded at start from the queue (:meth:`DoorSpace.seed`): the images
of the front door's unfinished jobs (owners ``dicom:...``) still count after a restart.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from hcserver.uploads import QuotaExceeded, UploadQuota, size_text

log = logging.getLogger(__name__)

PRUNE_S = 1.0           # how often the jobs charged are looked up, at most


class NoRoom(Exception):
    """An image the front door has no room for; the message says which quota."""


class DoorSpace:
    """What the front door holds (see the module docstring)."""

    def __init__(self, quota: UploadQuota, unfinished: Callable[[list[int]], set[int]],
                 clock: Callable[[], float] = time.monotonic):
        self.quota, self._unfinished, self._clock = quota, unfinished, clock
        self._lock = threading.Lock()
        self._held: dict[str, tuple[str, int]] = {}          # charge key: (owner, bytes), not yet in a job
        self._jobs: list[tuple[frozenset[int], int]] = []    # (jobs, bytes of their images)
        self._bytes = 0          # of _held and _jobs together
        self._pruned = 0.0
        self._full = False       # an image was refused for the total, and nothing was freed since

    def used(self) -> int:
        with self._lock:
            return self._bytes

    def _prune(self) -> None:
        now = self._clock()
        if not self._jobs or now - self._pruned < PRUNE_S:
            return
        self._pruned = now
        with self._lock:
            entries = list(self._jobs)
        try:
            alive = self._unfinished(sorted({job for jobs, _ in entries for job in jobs}))
        except Exception:   # noqa: BLE001 - the queue cannot be asked now: count them still
            log.exception("front door: the jobs of its images cannot be looked up")
            return
        ended = {id(entry) for entry in entries if not entry[0] & alive}
        with self._lock:
            kept = [entry for entry in self._jobs if id(entry) not in ended]
            if len(kept) < len(self._jobs):     # another thread may have removed them first
                self._bytes -= sum(entry[1] for entry in self._jobs if id(entry) in ended)
                self._jobs = kept
                self._full = False

    def seed(self, images: dict[str, set[int]], size: Callable[[str], int | None]) -> int:
        """Charge the images of the front door's unfinished jobs, as the queue has them at start
        (``images``: digest to the jobs printing it; ``size``: an image's bytes in the spool, None
        if gone): each image once, to its jobs until they have all ended. The bytes charged."""
        by_jobs: dict[frozenset[int], int] = {}
        for digest, users in images.items():
            found = size(digest)
            if found:
                key = frozenset(users)
                by_jobs[key] = by_jobs.get(key, 0) + found
        with self._lock:
            for jobs, found in by_jobs.items():
                self._jobs.append((jobs, found))
                self._bytes += found
        return sum(by_jobs.values())

    def check(self, limit: int) -> None:
        """NoRoom while the front door is full: it holds ``limit`` bytes or more, or an image was
        refused for want of room in it and nothing was freed since."""
        self._prune()
        if self._full or self.used() >= limit:
            raise NoRoom(f"front door spool quota used up ({size_text(limit)})")

    def charge(self, owner: str, key: str, size: int, limit: int, per_owner: int) -> None:
        """Charge an image of ``size`` bytes to ``owner`` (up to ``per_owner``) and the total (up
        to ``limit``), under ``key``; NoRoom when either has no room."""
        self._prune()
        with self._lock:
            if self._bytes + size > limit:
                self._full = True
                raise NoRoom(f"front door spool quota used up ({size_text(limit)})")
            try:
                with self.quota.reserve(owner, size, per_owner) as reservation:
                    reservation.keep(key)
            except QuotaExceeded:
                raise NoRoom(f"spool quota of {owner} used up") from None
            self._held[key] = (owner, size)
            self._bytes += size

    def queued(self, keys: Iterable[str], jobs: Iterable[int]) -> None:
        """The images charged under ``keys`` are used by ``jobs``: charged to them until they end."""
        size = self._release(keys, freed=False)
        jobs = frozenset(jobs)
        if jobs and size:
            with self._lock:
                self._jobs.append((jobs, size))
                self._bytes += size

    def release(self, keys: Iterable[str]) -> None:
        """The images charged under ``keys`` were not kept (refused, or their session ended unprinted)."""
        self._release(keys)

    def _release(self, keys: Iterable[str], freed: bool = True) -> int:
        by_owner: dict[str, list[str]] = {}
        size = 0
        with self._lock:
            for key in keys:
                held = self._held.pop(key, None)
                if held is not None:
                    by_owner.setdefault(held[0], []).append(key)
                    size += held[1]
            self._bytes -= size
            if size and freed:
                self._full = False
        for owner, owned in by_owner.items():
            self.quota.submitted(owner, owned)
        return size
