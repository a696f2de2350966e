"""The database spool (``spool = "database"``): images in the queue's PostgreSQL database, so
nodes without a shared directory print each other's jobs.

An image is a row of ``spool_images`` (its digest, size, when stored) and its bytes in chunks of
:data:`CHUNK_BYTES` (``spool_chunks``), written in one transaction: a digest is returned only
once the transaction committed, and no node ever reads half an image (the durability promise
of the file spool, kept). An upload streams into the database chunk by chunk from the received
attachment, so no image is held in memory twice; an interrupted upload leaves nothing (its
transaction rolls back), so there are no temporary files to collect.

The formatter reads files, so each node keeps a cache of the images it formats or inspects,
laid out as a file spool in its own state directory (``spool-cache/``): written as an image is
uploaded to this node, or copied from the database (chunk by chunk, its digest checked) the
first time this node needs it. The cache is emptied at start; a cached image is dropped when
the image is removed, and when this node has not used it for ``upload_grace_s``.
"""
from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError

from hcserver.models import FilmOutput, SpoolChunk, SpoolImage
from hcserver.spool import _PREFIX, TEMP_PREFIX, Spool, SpoolEntry, SpoolError
from hcserver.statefiles import private_directory

CHUNK_BYTES = 1 << 20
FILM_PREFIX = "database:"   # a film output (a preview printer's PNG) kept in the database


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _epoch(value: datetime) -> float:
    return value.replace(tzinfo=UTC).timestamp()


def _spool_error(exc: DBAPIError) -> SpoolError:
    detail = str(exc.orig or exc).strip().splitlines()[0]
    code = errno.ENOSPC if "No space left" in detail or "could not extend" in detail else errno.EIO
    return SpoolError(code, f"cannot store image in the database spool: {detail}")


class DatabaseSpool(Spool):
    """The images in the database; ``cache`` is this node's directory of copies (a file spool's
    layout, so the formatter reads them as it reads a file spool)."""

    def __init__(self, cache: Path, engine: Engine):
        super().__init__(cache)
        self.engine = engine
        self._empty_cache()

    def _empty_cache(self) -> None:
        for entry in os.scandir(self.directory):
            if _PREFIX.match(entry.name) and entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)

    # ---- what callers ask -------------------------------------------------------------

    def exists(self, digest: str) -> bool:
        try:
            super().path(digest)   # checks the digest's form
        except ValueError:
            return False
        with self.engine.connect() as connection:
            return connection.scalar(select(SpoolImage.size).where(SpoolImage.digest == digest)) is not None

    def size(self, digest: str) -> int | None:
        with self.engine.connect() as connection:
            return connection.scalar(select(SpoolImage.size).where(SpoolImage.digest == digest))

    def path(self, digest: str) -> Path:
        """The cached copy of the image (copied from the database if this node has none yet);
        a path that does not exist if the database has no such image."""
        target = super().path(digest)
        try:
            os.utime(target)   # used now: kept in the cache (tidy_cache)
            return target
        except FileNotFoundError:
            pass
        self._copy_from_database(digest, target)
        return target

    def put(self, data: bytes | bytearray) -> str:
        """Store ``data`` in the database (committed when this returns); its digest."""
        view = memoryview(data)
        digest = hashlib.sha256(view).hexdigest()
        chunks = (len(view) + CHUNK_BYTES - 1) // CHUNK_BYTES
        try:
            with self.engine.begin() as connection:
                # Another node storing the same image at once waits here until it committed.
                new = connection.scalar(insert(SpoolImage).values(digest=digest, size=len(view), chunks=chunks,
                                                                  stored_at=_now())
                                        .on_conflict_do_nothing().returning(SpoolImage.digest))
                if new is None:
                    # Known already: fresh again, so an orphan collection or a history purge
                    # running now (on any node) keeps it for the job about to be submitted.
                    connection.execute(update(SpoolImage).where(SpoolImage.digest == digest).values(stored_at=_now()))
                else:
                    for seq in range(chunks):   # one chunk's copy at a time, never the whole image
                        part = bytes(view[seq * CHUNK_BYTES:(seq + 1) * CHUNK_BYTES])
                        connection.execute(insert(SpoolChunk).values(digest=digest, seq=seq, data=part))
        except DBAPIError as exc:
            raise _spool_error(exc) from None
        cached = super().path(digest)
        try:
            if cached.is_file():
                os.utime(cached)
            else:
                self._write_cache(cached, [view])
        except OSError:
            pass   # a cache only: copied from the database when needed
        return digest

    def remove(self, digest: str, min_age_s: float = 3600.0) -> bool:
        """Delete an image no job uses, unless stored (or uploaded again) within ``min_age_s``.
        One statement: an upload of the same image at once either makes it fresh first or
        stores it again after."""
        cutoff = _now() - timedelta(seconds=min_age_s)
        with self.engine.begin() as connection:
            gone = connection.scalar(delete(SpoolImage).where(SpoolImage.digest == digest,
                                                              SpoolImage.stored_at <= cutoff)
                                     .returning(SpoolImage.digest))
        if gone is not None:
            super().path(digest).unlink(missing_ok=True)
        return gone is not None

    def remove_temporary(self, path: Path, min_age_s: float) -> bool:
        return False   # an interrupted upload leaves nothing in the database

    def scan(self) -> Iterator[SpoolEntry]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(SpoolImage.digest, SpoolImage.stored_at, SpoolImage.size)).all()
        for digest, stored_at, size in rows:
            yield SpoolEntry(super().path(digest), digest, _epoch(stored_at), size)

    def tidy_cache(self, min_age_s: float) -> int:
        """Drop cached copies this node has not used for ``min_age_s``; how many."""
        dropped = 0
        cutoff = time.time() - min_age_s
        for prefix in os.scandir(self.directory):
            if not (_PREFIX.match(prefix.name) and prefix.is_dir(follow_symlinks=False)):
                continue
            for entry in os.scandir(prefix.path):
                try:
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(entry.path)
                        dropped += 1
                except FileNotFoundError:
                    pass
        return dropped

    # ---- preview films ---------------------------------------------------------------

    def put_film(self, name: str, png: bytes) -> str:
        """Keep a preview printer's film (committed when this returns); its output."""
        values = {"data": png, "created_at": _now()}
        with self.engine.begin() as connection:   # a film printed again (a reprint) replaces its PNG
            connection.execute(insert(FilmOutput).values(name=name, **values)
                               .on_conflict_do_update(index_elements=["name"], set_=values))
        return FILM_PREFIX + name

    def film(self, output: str) -> bytes | None:
        """The PNG of a film output kept by :meth:`put_film`, if it is still there."""
        with self.engine.connect() as connection:
            return connection.scalar(select(FilmOutput.data).where(FilmOutput.name == output.removeprefix(FILM_PREFIX)))

    def remove_films(self, outputs) -> None:
        names = [output.removeprefix(FILM_PREFIX) for output in outputs if output.startswith(FILM_PREFIX)]
        if names:
            with self.engine.begin() as connection:
                connection.execute(delete(FilmOutput).where(FilmOutput.name.in_(names)))

    # ---- the cache -----------------------------------------------------------------------

    def _copy_from_database(self, digest: str, target: Path) -> None:
        with self.engine.connect() as connection:
            chunks = connection.scalar(select(SpoolImage.chunks).where(SpoolImage.digest == digest))
            if chunks is None:
                return   # no such image: the caller finds no file, as with a file spool

            def parts() -> Iterator[bytes]:
                for seq in range(chunks):   # one chunk in memory at a time
                    yield connection.scalar(select(SpoolChunk.data).where(SpoolChunk.digest == digest,
                                                                          SpoolChunk.seq == seq)) or b""

            found = self._write_cache(target, parts())
        if found != digest:
            target.unlink(missing_ok=True)
            raise SpoolError(errno.EIO, f"image {digest} in the database spool is damaged (its bytes hash to {found})")

    def _write_cache(self, target: Path, parts) -> str:
        """Write ``parts`` to ``target`` (whole or not at all); their digest."""
        private_directory(target.parent)   # 0700 and durable, as every directory of the state
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=TEMP_PREFIX)   # 0600 whatever the umask
        hashed = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out:
                for part in parts:
                    hashed.update(part)
                    out.write(part)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return hashed.hexdigest()
