"""The hcserver daemon: config → database → queue → workers → socket, and back down."""
from __future__ import annotations

import logging
import signal
import socket
import threading
from pathlib import Path

from .audit import AuditLog
from .config import ServerConfig
from .db import make_engine, upgrade
from .dispatcher import Dispatcher
from .events import EventBus
from .queue import JobQueue
from .server import Operations, SocketServer, TlsServer
from .spool import Spool

log = logging.getLogger(__name__)


class AlreadyRunning(RuntimeError):
    pass


def _socket_in_use(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


class Daemon:
    def __init__(self, config: ServerConfig):
        self.config = config
        self._stopped = threading.Event()

    def start(self) -> None:
        config = self.config
        if config.socket.exists() and _socket_in_use(config.socket):
            raise AlreadyRunning(f"another hcserver is already serving {config.socket}")
        config.state_dir.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(config.database)
        upgrade(self.engine)
        self.bus = EventBus()
        self.queue = JobQueue(self.engine, notify=self.bus.publish)
        self.spool = Spool(config.spool)
        recovered = self.queue.recover_interrupted()
        if recovered:
            log.info("requeued %d job(s) interrupted by the last stop: %s", len(recovered), recovered)
        self.dispatcher = Dispatcher(config, self.queue, self.spool)
        self.bus.subscribe(lambda change: self.dispatcher.wake(change.printer))
        self.dispatcher.start()
        self.operations = Operations(config, self.queue, self.spool, self.bus, self.dispatcher,
                                     AuditLog(config.audit_log))
        self.server = SocketServer(config.socket, config, self.operations)
        self.server.serve_in_thread()
        self.remote = TlsServer(config, self.operations) if config.tcp else None
        if self.remote:
            self.remote.serve_in_thread()
            log.info("remote clients: TLS on %s:%d", config.tcp.host, self.remote.server_address[1])
        log.info("hcserver listening on %s with printers: %s", config.socket, ", ".join(config.printers))

    def stop(self) -> None:
        log.info("hcserver stopping")
        for server in (self.server, self.remote):
            if server:
                server.shutdown()
                server.server_close()
        self.dispatcher.stop()
        self.config.socket.unlink(missing_ok=True)
        self.engine.dispose()
        self._stopped.set()

    def run_forever(self) -> None:
        """Serve until SIGTERM or SIGINT."""
        stop_requested = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop_requested.set())
        # Reloading printers on SIGHUP is not implemented yet; never let it kill the server.
        signal.signal(signal.SIGHUP, lambda *_: log.warning("SIGHUP ignored: configuration reload "
                                                          "is not supported yet; restart to apply changes"))
        self.start()
        stop_requested.wait()
        self.stop()
