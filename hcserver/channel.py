"""Job changes between nodes that share one PostgreSQL queue: LISTEN/NOTIFY.

Every change a node commits is announced with ``pg_notify`` on one channel; every node listens
on a connection of its own and hands what other nodes announced to its local event bus. So a
job submitted on node A wakes the worker of its printer on node B at once (no polling), and
``hcq watch`` on any node sees every node's events. Only "something changed" travels here: the
database stays the truth, and a notification lost while a listener reconnects costs nothing
but a delay (after reconnecting, every printer is woken once to look again).

SQLite has one node only; there the event bus alone is enough and this module is not used.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable

from sqlalchemy import Engine, func, select, text

from hcserver.events import JobChange, Notice

log = logging.getLogger(__name__)

CHANNEL = "hcserver_jobs"
RECONNECT_S = 1.0
_LISTENER = "hcserver listen "


def listed_as(owner: str) -> str:
    """How a node process (its lease owner, "node#incarnation") appears among the connected
    listeners: PostgreSQL cuts application names at 63 characters."""
    return f"{_LISTENER}{owner}"[:63].removeprefix(_LISTENER)


class NodeChannel:
    """Announce this node's job changes and receive the other nodes' ones."""

    def __init__(self, engine: Engine, node: str, deliver: Callable[[JobChange], None],
                 printers: Callable[[], Iterable[str]]):
        self.engine, self.node, self._deliver, self._printers = engine, node, deliver, printers
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="pg-listen", daemon=True)

    # ---- sending -----------------------------------------------------------------

    def announce(self, change: JobChange) -> None:
        """Tell the other nodes (after the change was committed; a failure only logs)."""
        payload = json.dumps({"node": self.node, "job": change.job_id, "printer": change.printer,
                              "kind": change.kind, "state": change.state})
        try:
            with self.engine.connect() as connection:
                connection.execute(select(func.pg_notify(CHANNEL, payload)))
                connection.commit()
        except Exception as exc:   # the other nodes still find the job by their lease timer
            log.warning("could not announce job %s to the other nodes: %s", change.job_id, exc)

    # ---- at start-up ----------------------------------------------------------------

    def node_connected(self, wait_s: float = 5.0) -> bool:
        """Whether another process of this node (same node name) is connected to the database.
        Waits up to ``wait_s`` for one that was just killed to be noticed gone by the server."""
        name = self.node.rpartition("#")[0]
        pattern = f"hcserver listen {name}#".replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        deadline = time.monotonic() + wait_s
        while True:
            with self.engine.connect() as connection:
                found = connection.execute(text("SELECT count(*) FROM pg_stat_activity WHERE application_name "
                                                "LIKE :pattern"), {"pattern": pattern}).scalar()
            if not found or time.monotonic() > deadline:
                return bool(found)
            time.sleep(0.2)

    def connected_owners(self) -> set[str]:
        """The node processes listening now (this one too), as :func:`listed_as` gives them."""
        with self.engine.connect() as connection:
            names = connection.execute(text("SELECT application_name FROM pg_stat_activity WHERE application_name "
                                            "LIKE :pattern"), {"pattern": _LISTENER + "%"}).scalars().all()
        return {name.removeprefix(_LISTENER) for name in names}

    # ---- receiving ---------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Start listening; returns once the LISTEN is in place (or after ``timeout``)."""
        self._thread.start()
        self._connected.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _conninfo(self) -> str:
        return self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def _listen(self) -> None:
        import psycopg

        first = True
        while not self._stop.is_set():
            try:
                # Named, so that pg_stat_activity shows which node listens on which connection.
                with psycopg.connect(self._conninfo(), autocommit=True,
                                     application_name=_LISTENER + listed_as(self.node)) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self._connected.set()
                    if not first:   # what was announced while we were away: look again
                        log.info("listening for the other nodes' job changes again")
                        for printer in self._printers():
                            self._deliver(JobChange(0, printer, Notice.RESYNC, ""))
                    first = False
                    while not self._stop.is_set():
                        for note in connection.notifies(timeout=1.0):
                            self._received(note.payload)
            except Exception as exc:
                if self._stop.is_set():
                    return
                log.warning("listening for the other nodes' job changes failed (%s); reconnecting", exc)
                self._stop.wait(RECONNECT_S)

    def _received(self, payload: str) -> None:
        try:
            data = json.loads(payload)
            if data["node"] == self.node:
                return   # our own change: the local bus already had it
            change = JobChange(int(data["job"]), str(data["printer"]), str(data["kind"]), str(data["state"]))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignored a malformed job notification %r: %s", payload[:200], exc)
            return
        self._deliver(change)
