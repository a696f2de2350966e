"""Who uses the status page: sessions begun with a one-time link from ``hcq web-login``
(hcserver.access.LoginLinks), and the CSRF token every form that changes something carries.

A session is the peer the link was minted for (its name and whether it administers): every
action and every view is then asked of the operation table as that peer, under the socket's
rules. Sessions live in memory: a restart of the daemon signs everybody out.
"""
from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hcserver.access import Peer

COOKIE = "hcserver_session"
#: A session ends after this long without a request.
IDLE_S = 8 * 3600.0


@dataclass
class Session:
    peer: Peer
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    last_used: float = 0.0
    notice: str | None = None      # said once, on the next page (what an action did)

    def csrf_ok(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


class Sessions:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def begin(self, peer: Peer) -> tuple[str, Session]:
        key = secrets.token_urlsafe(32)
        session = Session(peer, last_used=self._clock())
        with self._lock:
            now = self._clock()
            self._sessions = {k: s for k, s in self._sessions.items() if now - s.last_used < IDLE_S}
            self._sessions[key] = session
        return key, session

    def get(self, key: str | None) -> Session | None:
        if not key:
            return None
        with self._lock:
            session = self._sessions.get(key)
            now = self._clock()
            if session is None or now - session.last_used >= IDLE_S:
                self._sessions.pop(key, None)
                return None
            session.last_used = now
            return session

    def end(self, key: str | None) -> None:
        with self._lock:
            self._sessions.pop(key or "", None)
