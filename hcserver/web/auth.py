"""Who uses the status page: sessions begun with a one-time link from ``hcq web-login``
(hcserver.access.LoginLinks), and the CSRF token every form that changes something carries.

A session is the peer the link was minted for (its name and whether it administers): every
action and every view is then asked of the operation table as that peer, under the socket's
rules. Sessions live in memory: a restart of the daemon signs everybody out.

Browsers keep cookies by host, not by port: a page any local user serves on another port of
127.0.0.1 may be sent the session cookie. So on a loopback connection the kernel's table of TCP
sockets (/proc/net/tcp and tcp6) says which Unix user holds the connecting socket, and a session
is used only by the user it was begun for (or root, who may read any user's cookies anyway).
"""
from __future__ import annotations

import dataclasses
import hmac
import ipaddress
import secrets
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hcserver.access import Peer

COOKIE = "hcserver_session"
#: A session ends after this long without a request ...
IDLE_S = 8 * 3600.0
#: ... and this long after it began, however busy.
MAX_AGE_S = 12 * 3600.0
#: How often an administrator's session asks again whether its user still is one.
ADMIN_CHECK_S = 60.0
#: The kernel's tables of TCP sockets: who holds each (IPv4, IPv6).
TCP_TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))


@dataclass
class Session:
    peer: Peer
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    last_used: float = 0.0
    started: float = 0.0
    admin_checked: float = 0.0
    notice: str | None = None      # said once, on the next page (what an action did)

    def csrf_ok(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


class Sessions:
    """``still_admin``: whether an administrator's peer still is one (asked every
    :data:`ADMIN_CHECK_S`; one that is not any more goes on as a user)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 still_admin: Callable[[Peer], bool] = lambda peer: peer.admin):
        self._clock = clock
        self._still_admin = still_admin
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def _live(self, session: Session, now: float) -> bool:
        return now - session.last_used < IDLE_S and now - session.started < MAX_AGE_S

    def begin(self, peer: Peer) -> tuple[str, Session]:
        key = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(peer, last_used=now, started=now, admin_checked=now)
        with self._lock:
            self._sessions = {k: s for k, s in self._sessions.items() if self._live(s, now)}
            self._sessions[key] = session
        return key, session

    def get(self, key: str | None) -> Session | None:
        if not key:
            return None
        with self._lock:
            session = self._sessions.get(key)
            now = self._clock()
            if session is None or not self._live(session, now):
                self._sessions.pop(key, None)
                return None
            session.last_used = now
            check = session.peer.admin and now - session.admin_checked >= ADMIN_CHECK_S
            if check:
                session.admin_checked = now
        if check and not self._still_admin(session.peer):
            session.peer = dataclasses.replace(session.peer, admin=False)
        return session

    def end(self, key: str | None) -> None:
        with self._lock:
            self._sessions.pop(key or "", None)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address of /proc/net/tcp{,6}: 32-bit words in the host's byte order, in hex."""
    raw = b"".join(struct.pack("=I", int(text[i:i + 8], 16)) for i in range(0, len(text), 8))
    return _plain(ipaddress.ip_address(raw))


def _plain(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IPv4 address for an IPv4-mapped IPv6 one (a dual-stack listener's view of an IPv4 client)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_uid(client_host: str, client_port: int, server_port: int,
               tables: tuple[Path, ...] = TCP_TABLES) -> int | None:
    """The Unix user holding the client's end of a TCP connection made on this host (from
    ``client_host:client_port`` to our ``server_port``), or None if no socket of this host is it."""
    try:
        wanted = _plain(ipaddress.ip_address(client_host.split("%", 1)[0]))
    except ValueError:
        return None
    for table in tables:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 8:
                continue
            (local, local_port), (_remote, remote_port) = (part.split(":") for part in fields[1:3])
            if int(local_port, 16) == client_port and int(remote_port, 16) == server_port \
                    and _address(local) == wanted:
                return int(fields[7])
    return None


def is_loopback(host: str) -> bool:
    try:
        return _plain(ipaddress.ip_address(host.split("%", 1)[0])).is_loopback
    except ValueError:
        return False
