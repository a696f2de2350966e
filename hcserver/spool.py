"""Content-addressed image spool: a job keeps its images even if the sources go away."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class SpoolError(OSError):
    pass


class Spool:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        if not _DIGEST.match(digest):
            raise ValueError(f"not an image digest: {digest!r}")
        return self.directory / digest[:2] / digest

    def exists(self, digest: str) -> bool:
        try:
            return self.path(digest).is_file()
        except ValueError:
            return False

    def remove(self, digest: str, min_age_s: float = 3600.0) -> bool:
        """Delete an image no job uses; a fresh one is kept (it may be an upload whose job is
        about to be submitted)."""
        path = self.path(digest)
        try:
            if time.time() - path.stat().st_mtime < min_age_s:
                return False
            path.unlink()
            return True
        except FileNotFoundError:
            return False

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.directory).free

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its sha256 hex digest. Written atomically and fsynced."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.is_file():
            # Known already: make it fresh again, so a history purge running now (on any node)
            # keeps it for the job about to be submitted with it.
            os.utime(target)
            return digest
        target.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
            _fsync_directory(target.parent)   # the rename itself must survive a power cut
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise SpoolError(exc.errno, f"cannot store image in the spool: {exc.strerror}") from None
        return digest


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
