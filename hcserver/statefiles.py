"""The daemon's files on disk: private whatever the umask, and durably created.

The state holds patient data (spooled images, preview PNGs with patient names burned in, the
queue database, the audit log), so every directory the daemon creates is 0700 and every file
0600, set explicitly: a umask of 000 (or a process that changes it for a moment, as the socket
server does) must not leave them readable. Only the socket is for its group: the directories on
the way to it inside the state directory are 0710 to that group (enter, but not list), its own
directory 0750 and the socket 0660 (hcserver.server).

A new directory entry survives a power cut only once its parent directory is fsynced, so every
directory created here is fsynced in its parent.
"""
from __future__ import annotations

import grp
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from hcserver.config import ServerConfig

DIR_MODE = 0o700
FILE_MODE = 0o600
PASSAGE_MODE = 0o710          # a directory the socket's group passes through to reach the socket
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def private_directory(path: Path, mode: int = DIR_MODE) -> bool:
    """Create ``path`` (and missing parents) with ``mode``, or set ``mode`` on it if it exists.
    Parents that exist already are left as they are (e.g. /var/lib). Returns whether ``path``
    was created."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)
        except FileExistsError:
            continue   # created by another thread or node meanwhile: its creator makes it durable
        os.chmod(directory, DIR_MODE)   # mkdir's mode went through the umask
        fsync_directory(directory.parent)
    if stat.S_IMODE(os.stat(path).st_mode) != mode:
        os.chmod(path, mode)
    return bool(missing)


def open_private(path: Path, flags: int) -> tuple[int, bool]:
    """``os.open`` of a file that is 0600 whatever the umask, also if it existed with another
    mode (an older version's). Returns the descriptor and whether the file was created."""
    try:
        return os.open(path, flags | os.O_CREAT | os.O_EXCL, FILE_MODE), True
    except FileExistsError:
        fd = os.open(path, flags)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd, False


def private_file(path: Path) -> None:
    """Set 0600 on ``path`` if it is there (a symbolic link is left alone)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) != FILE_MODE:
        os.chmod(path, FILE_MODE)


def sqlite_file(database: str) -> Path | None:
    """The file of an SQLite database URL, None for another database or an in-memory one."""
    url = make_url(database)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def prepare_state(config: ServerConfig) -> None:
    """At start, before anything is opened: the state directory and the files the daemon keeps
    in it private (also those an older version left readable). The spool sets its own modes
    (hcserver.spool), the socket server those of the socket and its directory."""
    state_dir = Path(config.state_dir).absolute()
    passage = _socket_passage(state_dir, Path(config.socket).absolute())
    gid = grp.getgrnam(config.socket_group).gr_gid if config.socket_group else -1
    for directory in [state_dir, *passage[1:]]:
        private_directory(directory, PASSAGE_MODE if directory in passage else DIR_MODE)
        if directory in passage and gid != -1:
            os.chown(directory, -1, gid)
    database_file = sqlite_file(config.database)
    if database_file is not None:
        # SQLite creates its file 0644 less the umask, and the -wal and -shm files with the
        # database file's mode: so the database file is created here, empty (a valid database).
        if not database_file.parent.exists():
            private_directory(database_file.parent)
        fd, created = open_private(database_file, os.O_RDWR)
        os.close(fd)
        if created:
            fsync_directory(database_file.parent)
        for suffix in SQLITE_COMPANIONS:
            private_file(database_file.with_name(database_file.name + suffix))
    private_file(config.audit_log)
    if config.preview_dir.is_dir():
        private_directory(config.preview_dir)
        for entry in os.scandir(config.preview_dir):
            if entry.is_file(follow_symlinks=False):
                private_file(Path(entry.path))


def _socket_passage(state_dir: Path, socket: Path) -> list[Path]:
    """The directories the socket's group must pass through to reach the socket inside the
    state directory, from the state directory down, above the socket's own directory (which the
    socket server makes 0750 to the group). They are made 0710 to the group: it can enter them but
    not list them, and reaches nothing else in them (every file is 0600). Empty when the socket
    is elsewhere (the systemd unit puts it in /run/hcserver)."""
    run_dir = socket.parent
    if state_dir not in run_dir.parents:
        return []
    return [state_dir, *sorted((p for p in run_dir.parents if state_dir in p.parents), key=lambda p: len(p.parts))]
