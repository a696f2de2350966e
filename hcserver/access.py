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
import socket
import struct
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


def unix_peer(sock: socket.socket, admin_group: str) -> Peer:
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, gid = struct.unpack("3i", creds)
    except OSError:
        return Peer("unknown", admin=False)
    admin = uid in (0, os.getuid()) or in_group(uid, gid, admin_group)
    return Peer(_user_name(uid), admin=admin, uid=uid)


def viewer(peer: Peer) -> str | None:
    """Whose jobs ``peer`` sees whole: None for every job (an administrator), else its own."""
    return None if peer.admin else peer.name


def require_owner_or_admin(peer: Peer, owner: str, action: str, job_id: int) -> None:
    if not peer.admin and peer.name != owner:
        raise Forbidden(f"{peer.name} may not {action} job {job_id} of {owner} "
                        f"(only its owner or an administrator may)")


def require_admin(peer: Peer, action: str) -> None:
    if not peer.admin:
        raise Forbidden(f"{peer.name} may not {action}: printer administration is for administrators")
