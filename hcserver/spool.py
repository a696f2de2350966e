"""Content-addressed image spool: a job keeps its images even if the sources go away."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hcserver.statefiles import DIR_MODE, FILE_MODE, fsync_directory, private_directory

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_PREFIX = re.compile(r"^[0-9a-f]{2}$")
TEMP_PREFIX = ".upload-"     # an image being written; left behind only by a kill or a crash


@dataclass(frozen=True)
class SpoolEntry:
    path: Path
    digest: str | None      # None: a temporary file (TEMP_PREFIX)
    mtime: float
    size: int


class SpoolError(OSError):
    pass


class Spool:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        private_directory(self.directory)   # 0700: the images are patient data
        self._private_contents()
        # Makes "still old? then delete" (remove) and "known? then make it fresh" (put) atomic
        # with each other on this node: an image re-uploaded for a job is not deleted under it.
        self._freshness = threading.Lock()

    def _private_contents(self) -> None:
        """Prefix directories 0700 and images 0600: an older version left the directories 0755
        (and a restored backup may have any mode)."""
        for prefix in os.scandir(self.directory):
            if not (_PREFIX.match(prefix.name) and prefix.is_dir(follow_symlinks=False)):
                continue
            if stat.S_IMODE(prefix.stat(follow_symlinks=False).st_mode) != DIR_MODE:
                os.chmod(prefix.path, DIR_MODE)
            for entry in os.scandir(prefix.path):
                try:
                    if entry.is_file(follow_symlinks=False) and \
                            stat.S_IMODE(entry.stat(follow_symlinks=False).st_mode) != FILE_MODE:
                        os.chmod(entry.path, FILE_MODE)
                except FileNotFoundError:
                    pass   # removed meanwhile (another node sharing the spool)

    def path(self, digest: str) -> Path:
        if not _DIGEST.match(digest):
            raise ValueError(f"not an image digest: {digest!r}")
        return self.directory / digest[:2] / digest

    def exists(self, digest: str) -> bool:
        try:
            return self.path(digest).is_file()
        except ValueError:
            return False

    def size(self, digest: str) -> int | None:
        """The bytes of the image ``digest``; None when the spool has no such image."""
        try:
            return self.path(digest).stat().st_size
        except (ValueError, OSError):
            return None

    def remove(self, digest: str, min_age_s: float = 3600.0) -> bool:
        """Delete an image no job uses; a fresh one is kept (it may be an upload whose job is
        about to be submitted)."""
        path = self.path(digest)
        with self._freshness:
            try:
                if time.time() - path.stat().st_mtime < min_age_s:
                    return False
                path.unlink()
                return True
            except FileNotFoundError:
                return False

    def remove_temporary(self, path: Path, min_age_s: float) -> bool:
        """Delete a temporary file an interrupted upload left, unless it changed within ``min_age_s``."""
        if path.parent.parent != self.directory or not path.name.startswith(TEMP_PREFIX):
            raise ValueError(f"not a temporary file of the spool: {path}")
        try:
            if time.time() - path.stat().st_mtime < min_age_s:
                return False
            path.unlink()
            return True
        except FileNotFoundError:
            return False

    def scan(self) -> Iterator[SpoolEntry]:
        """Every image and temporary file in the spool (other files are not ours: left alone)."""
        for prefix in os.scandir(self.directory):
            if not (_PREFIX.match(prefix.name) and prefix.is_dir(follow_symlinks=False)):
                continue
            for entry in os.scandir(prefix.path):
                is_temporary = entry.name.startswith(TEMP_PREFIX)
                if not (is_temporary or _DIGEST.match(entry.name)):
                    continue
                try:
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue   # removed meanwhile
                yield SpoolEntry(Path(entry.path), None if is_temporary else entry.name, st.st_mtime, st.st_size)

    def tidy_cache(self, min_age_s: float) -> int:
        """Nothing: a file spool is the images themselves (the database spool keeps a cache of
        copies, hcserver.dbspool)."""
        return 0

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.directory).free

    def put(self, data: bytes | bytearray) -> str:
        """Store ``data``; returns its sha256 hex digest. Written atomically and fsynced."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        with self._freshness:
            if target.is_file():
                # Known already: make it fresh again, so a history purge or an orphan collection
                # running now (on any node) keeps it for the job about to be submitted with it.
                os.utime(target)
                return digest
        try:
            private_directory(target.parent)   # a new prefix directory is fsynced in the spool
        except OSError as exc:
            raise SpoolError(exc.errno, f"cannot store image in the spool: {exc.strerror}") from None
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=TEMP_PREFIX)   # 0600 whatever the umask
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
            fsync_directory(target.parent)   # the rename itself must survive a power cut
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise SpoolError(exc.errno, f"cannot store image in the spool: {exc.strerror}") from None
        return digest

