"""Who is asking: the peer of a connection, and what it may do (CUPS-style).

A local client is identified by the kernel (SO_PEERCRED): its user name is the owner of the
jobs it submits. Root, the server's own user and members of ``admin_group`` are
administrators: they may act on anybody's jobs and administer printers. Everybody else may
cancel, hold, release, move or reprioritise only their own jobs, and sees the private details
of only their own jobs (hcserver.queue.privacy says which details are private).
"""
from __future__ import annotations

import grp
import os
import pwd
import secrets
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from hcserver.errors import ErrorCode


class Forbidden(PermissionError):
    code = ErrorCode.FORBIDDEN


@dataclass(frozen=True)
class Peer:
    name: str        # the owner recorded on jobs
    admin: bool
    uid: int | None = None


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def in_group(uid: int, gid: int, group: str) -> bool:
    try:
        entry = grp.getgrnam(group)
    except KeyError:
        return False
    return gid == entry.gr_gid or _user_name(uid) in entry.gr_mem


def is_admin(uid: int, gid: int, admin_group: str) -> bool:
    """Root, the server's own user, and members of ``admin_group`` (``gid``: the user's group)."""
    return uid in (0, os.getuid()) or in_group(uid, gid, admin_group)


def still_admin(peer: Peer, admin_group: str) -> bool:
    """Whether a local peer found an administrator earlier still is one, as the user and group
    databases say now (a user taken out of ``admin_group`` is not)."""
    if peer.uid is None:
        return peer.admin   # a token's rights are the configuration's
    try:
        gid = pwd.getpwuid(peer.uid).pw_gid
    except KeyError:
        gid = -1
    return is_admin(peer.uid, gid, admin_group)


def unix_peer(sock: socket.socket, admin_group: str) -> Peer:
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, gid = struct.unpack("3i", creds)
    except OSError:
        return Peer("unknown", admin=False)
    return Peer(_user_name(uid), admin=is_admin(uid, gid, admin_group), uid=uid)


def viewer(peer: Peer) -> str | None:
    """Whose jobs ``peer`` sees whole: None for every job (an administrator), else its own."""
    return None if peer.admin else peer.name


def require_owner_or_admin(peer: Peer, owner: str, action: str, job_id: int) -> None:
    if not peer.admin and peer.name != owner:
        raise Forbidden(f"{peer.name} may not {action} job {job_id} of {owner} "
                        f"(only its owner or an administrator may)")


class LoginLinks:
    """One-time links that sign a user in to the status page (``hcq web-login``). A link is
    asked for over the socket, where the kernel (or the TLS token) says who asks, so the page
    needs no passwords: whoever may use the socket may have a link, for themselves only. A link
    works once, within :attr:`ttl_s`, and is kept in memory only."""

    ttl_s = 120.0

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._links: dict[str, tuple[Peer, float]] = {}

    def mint(self, peer: Peer) -> str:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._links = {key: (who, until) for key, (who, until) in self._links.items() if until > now}
            self._links[token] = (peer, now + self.ttl_s)
        return token

    def peek(self, token: str) -> Peer | None:
        """Who the link is for, if it is one and still valid, without using it up (the page
        that asks whether to sign in: only its form's POST redeems the link)."""
        with self._lock:
            found = self._links.get(token)
        if found is None or found[1] <= self._clock():
            return None
        return found[0]

    def redeem(self, token: str) -> Peer | None:
        """Who the link was for, if it is one and still valid; it never works again."""
        with self._lock:
            found = self._links.pop(token, None)
        if found is None or found[1] <= self._clock():
            return None
        return found[0]


def require_admin(peer: Peer, action: str) -> None:
    if not peer.admin:
        raise Forbidden(f"{peer.name} may not {action}: printer administration is for administrators")
