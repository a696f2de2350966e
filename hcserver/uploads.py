"""Uploads waiting for their job: each owner's upload quota, and the collection of orphans.

A client uploads its images, then submits the job that uses them. Until then an image belongs
to no job, so two things bound what uploads can take from the spool:

- **The quota** (``max_upload_bytes_per_owner``): the bytes an owner (a Unix user, or a remote
  client's token name) has uploaded and not yet used in a job they submitted. It is kept in
  this daemon's memory, per node: what it counts is at most ``upload_grace_s`` old (older
  uploads are orphans, collected below), so a restart, which forgets it, can let an owner
  exceed it only by what they uploaded in the grace period before, and an owner uploading
  through several nodes has a quota on each.
- **Orphans**: an image no job references and older than ``upload_grace_s`` (the time a
  client has between uploading and submitting), and a temporary file an upload left when the
  daemon was killed. They are collected at start and every ``upload_grace_s / 2``. Whether a job
  references an image is asked of the database, which every node sharing the spool shares, and
  the grace period protects what other nodes are uploading now. Temporary files are removed
  at start whatever their age when the queue is in SQLite (one node: nothing is being uploaded
  then), else once older than the grace period.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine, select

from hcserver.models import Frame
from hcserver.spool import Spool

log = logging.getLogger(__name__)

_QUERY_BATCH = 500   # digests per "which of these does a job use?" query


def size_text(size: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift:
            return f"{size / (1 << shift):.1f} {unit}"
    return f"{size} bytes"


class QuotaExceeded(Exception):
    pass


@dataclass
class _Owner:
    reserved: int = 0                                   # uploads being stored now
    pending: dict[str, tuple[int, float]] = field(default_factory=dict)   # digest: (bytes, when)

    def total(self) -> int:
        return self.reserved + sum(size for size, _ in self.pending.values())


class UploadQuota:
    """The bytes each owner has uploaded and not yet submitted (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owners: dict[str, _Owner] = {}

    def reserve(self, owner: str, size: int, limit: int) -> Reservation:
        """Room for an upload of ``size`` bytes, before it is stored (so uploads at once cannot
        all pass the check); QuotaExceeded if the owner has no room left."""
        with self._lock:
            account = self._owners.setdefault(owner, _Owner())
            used = account.total()
            if used + size > limit:
                self._drop_if_empty(owner)
                raise QuotaExceeded(
                    f"upload quota exceeded: {owner} has {size_text(used)} uploaded and not yet used in a "
                    f"submitted job, and this image of {size_text(size)} would pass the quota of "
                    f"{size_text(limit)} per owner (max_upload_bytes_per_owner); submit a job with the "
                    f"images already uploaded, or wait until those no job uses are removed (upload_grace_s)")
            account.reserved += size
        return Reservation(self, owner, size)

    def submitted(self, owner: str, digests) -> None:
        """``owner`` submitted a job with these images: they no longer wait for a job."""
        with self._lock:
            account = self._owners.get(owner)
            if account:
                for digest in digests:
                    account.pending.pop(digest, None)
                self._drop_if_empty(owner)

    def expire(self, before: float) -> None:
        """Forget uploads made before ``before``: an orphan collection has just removed them, or
        a job uses them."""
        with self._lock:
            for owner, account in list(self._owners.items()):
                account.pending = {d: (size, when) for d, (size, when) in account.pending.items() if when >= before}
                self._drop_if_empty(owner)

    def _settle(self, owner: str, size: int, digest: str | None) -> None:
        with self._lock:
            account = self._owners[owner]
            account.reserved -= size
            if digest is not None:
                # The same image again counts once; its time is the newest upload's.
                account.pending[digest] = (size, time.time())
            self._drop_if_empty(owner)

    def _drop_if_empty(self, owner: str) -> None:
        account = self._owners[owner]
        if not account.reserved and not account.pending:
            del self._owners[owner]


class Reservation:
    """``with`` block around storing one upload: :meth:`keep` it once the image is stored and
    accepted, else the room is given back at the end of the block."""

    def __init__(self, quota: UploadQuota, owner: str, size: int):
        self._quota, self._owner, self._size = quota, owner, size
        self._digest: str | None = None

    def keep(self, digest: str) -> None:
        self._digest = digest

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *exc) -> None:
        self._quota._settle(self._owner, self._size, self._digest if exc[0] is None else None)


@dataclass(frozen=True)
class Collected:
    images: int = 0
    temporary: int = 0
    freed: int = 0          # bytes


class OrphanCollector:
    """Removes the spool's orphans (see the module docstring)."""

    def __init__(self, spool: Spool, engine: Engine, quota: UploadQuota, grace_s: float):
        self.spool, self.engine, self.quota, self.grace_s = spool, engine, quota, grace_s
        self._running = threading.Lock()

    def schedule(self, scheduler) -> None:
        """Run :meth:`collect` every grace_s / 2 on ``scheduler`` (APScheduler's, beside the
        history purge)."""
        scheduler.add_job(self.collect_quietly, "interval", seconds=max(1.0, self.grace_s / 2),
                          id="collect-orphans", misfire_grace_time=None, coalesce=True, max_instances=1)

    def collect_quietly(self) -> None:
        try:
            self.collect()
        except Exception:   # a scheduled task must never die for good
            log.exception("spool: collecting orphaned uploads failed")

    def collect(self, starting: bool = False) -> Collected:
        """One pass over the spool. ``starting``: the daemon is not serving yet."""
        with self._running:
            started = time.time()
            alone = starting and self.engine.dialect.name == "sqlite"
            old: dict[str, int] = {}
            temporary = freed = 0
            for entry in self.spool.scan():
                if entry.digest is None:
                    if self.spool.remove_temporary(entry.path, 0 if alone else self.grace_s):
                        temporary += 1
                        freed += entry.size
                elif started - entry.mtime >= self.grace_s:
                    old[entry.digest] = entry.size
            used = self._used_by_jobs(old)
            images = 0
            for digest in old.keys() - used:
                # remove() looks at the time again: an upload of the same image meanwhile keeps it.
                if self.spool.remove(digest, min_age_s=self.grace_s):
                    images += 1
                    freed += old[digest]
            # What was uploaded a grace period before this pass is gone now, or used by a job.
            self.quota.expire(started - self.grace_s)
            self.spool.tidy_cache(self.grace_s)
        if images or temporary:
            log.info("spool: removed %d image(s) no job uses, uploaded over %g s ago, and %d temporary "
                     "file(s) of interrupted uploads (%s)", images, self.grace_s, temporary, size_text(freed))
        return Collected(images, temporary, freed)

    def _used_by_jobs(self, digests) -> set[str]:
        """Which of ``digests`` any job in the (perhaps shared) database uses."""
        pending, used = list(digests), set[str]()
        with self.engine.connect() as connection:
            for start in range(0, len(pending), _QUERY_BATCH):
                batch = pending[start:start + _QUERY_BATCH]
                used.update(connection.scalars(select(Frame.image).where(Frame.image.in_(batch)).distinct()))
        return used
