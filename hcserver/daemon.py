"""The hcserver daemon: config → database → queue → workers → socket, and back down."""
from __future__ import annotations

import logging
import secrets
import signal
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from hcserver.access import LoginLinks
from hcserver.audit import AuditLog
from hcserver.budget import ByteBudget
from hcserver.channel import NodeChannel
from hcserver.config import EMBEDDED_SOURCE, ConfigError, ServerConfig, load
from hcserver.db import make_engine, upgrade
from hcserver.dbspool import DatabaseSpool
from hcserver.dicom_in import FrontDoor, Intake
from hcserver.dispatch import Dispatcher
from hcserver.events import EventBus
from hcserver.formatting import FORMATTED_DIR, FormatPool
from hcserver.queue import JobQueue
from hcserver.server import Operations, SocketServer, TlsServer
from hcserver.server.admission import Admission, connection_capacity
from hcserver.sharing import NotShared, Sharing
from hcserver.spool import Spool
from hcserver.statefiles import prepare_state
from hcserver.uploads import OrphanCollector, UploadQuota

if TYPE_CHECKING:
    from hcserver.web import Metrics, WebServer

log = logging.getLogger(__name__)


def reload_summary(summary: dict[str, list]) -> str:
    """A reload's changes in words: "printers added: a; changed: b; pools changed: film; held:
    12" or "no printer changed" (the keys of Dispatcher.reload, and "held": jobs of changed pools)."""
    said = []
    for prefix, keys in (("printers ", ("added", "removed", "changed")),
                         ("pools ", ("pools_added", "pools_removed", "pools_changed")), ("", ("held",))):
        words = [f"{key.removeprefix('pools_')}: {', '.join(map(str, summary[key]))}" for key in keys
                 if summary.get(key)]
        if words:
            said.append(prefix + "; ".join(words))
    return "; ".join(said) if said else "no printer changed"


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
        self._reload_lock = threading.Lock()
        self.metrics: Metrics | None = None   # with [web]: counts what this node does (hcserver.web.metrics)
        self.web: WebServer | None = None     # with [web]: the status page and /metrics

    def start(self) -> None:
        config = self.config
        if config.socket.exists() and _socket_in_use(config.socket):
            raise AlreadyRunning(f"another hcserver is already serving {config.socket}")
        prepare_state(config)   # 0700/0600 whatever the umask: the state holds patient data
        self.formatting = FormatPool(config.format_processes, config.max_image_pixels,
                                     hand_over_dir=Path(config.state_dir) / FORMATTED_DIR)
        self.formatting.warm()   # imports the formatter in parallel with the rest of the start
        self.engine = make_engine(config.database)
        upgrade(self.engine)
        self.bus = EventBus()
        # This process's name in leases: the node, and this start of it.
        owner = f"{config.node_name}#{secrets.token_hex(4)}"
        self.channel = None
        self.sharing: Sharing | None = None
        if self.engine.dialect.name == "postgresql":   # other nodes may share the queue
            self.channel = NodeChannel(self.engine, owner, deliver=self.bus.publish,
                                       printers=lambda: list(self.config.printers))
            if self.channel.node_connected():
                raise AlreadyRunning(f"another hcserver node named {config.node_name!r} is connected to "
                                     f"this database: give each node its own node_name")
            self.channel.start()
            self.sharing = Sharing(self.engine, owner, self.channel.connected_owners)
            try:
                self.sharing.check_at_start(config)   # the spool, printers and pools the other nodes have
            except NotShared:
                self.channel.stop()
                raise
        self.queue = JobQueue(self.engine, notify=self._notify, owner=owner, lease_s=config.lease_s)
        self.spool = DatabaseSpool(config.spool, self.engine) if config.spool_in_database else Spool(config.spool)
        self.quota = UploadQuota()
        self.orphans = OrphanCollector(self.spool, self.engine, self.quota, config.upload_grace_s)
        self.front_door: FrontDoor | None = None
        if config.dicom_in:
            self.queue.printers.sync(list(config.printers))   # the routes' printers are in the queue before a job
            self.front_door = FrontDoor(config.dicom_in, Intake(config, self.queue, self.spool, self.quota),
                                        config.state_dir, config.ae_title)
            self.front_door.recover()   # images a modality was told are stored, before orphans are collected
        self.orphans.collect(starting=True)   # before serving: no upload is in flight on this node
        recovered = self.queue.leases.recover_interrupted(only_this_node=self.channel is not None)
        if recovered:
            log.info("requeued %d job(s) interrupted by the last stop: %s", len(recovered), recovered)
        if config.web:
            from hcserver.web import Metrics  # Flask, cheroot and prometheus_client: only for [web]

            self.metrics = Metrics(self.queue, self.spool, lambda: set(self.config.printers))
        self.dispatcher = Dispatcher(config, self.queue, self.spool, self.formatting, observer=self.metrics)
        self.bus.subscribe(self.dispatcher.changed)
        self.dispatcher.start()
        self.orphans.schedule(self.dispatcher.scheduler)
        logins = LoginLinks() if config.web else None
        self.operations = Operations(config, self.queue, self.spool, self.bus, self.dispatcher,
                                     AuditLog(config.audit_log), self.formatting, reload=self.reload,
                                     quota=self.quota, logins=logins)
        self.formatting.wait_ready()
        if config.web and self.metrics and logins:   # before the socket: a client that reaches it finds the page
            from hcserver.web import WebServer

            self.web = WebServer(config.web, self.operations, self.bus, self.spool, self.metrics, logins)
            self.web.start()
            self.operations.web_base = self.web.base_url
        # Both listeners count their connections and pending uploads together.
        admission = Admission(config, connection_capacity(config))
        budget = ByteBudget(config.max_pending_upload_bytes)
        # The remote listener first: once the local socket answers, both take connections.
        self.remote: TlsServer | None = None
        if config.tcp:
            self.remote = TlsServer(config, self.operations, self.operations.audit, admission, budget)
            self.remote.serve_in_thread()
            log.info("remote clients: TLS on %s:%d", config.tcp.host, self.remote.server_address[1])
        if self.front_door is not None:   # listening too once the local socket answers (hcserver is up)
            self.bus.subscribe(self.front_door.progress.changed)
            self.front_door.start()
        self.server = SocketServer(config.socket, config, self.operations, admission, budget)
        self.server.serve_in_thread()
        log.info("hcserver listening on %s with printers: %s (node %s, database %s)", config.socket,
                 ", ".join(config.printers), self.queue.owner,
                 self.engine.url.render_as_string(hide_password=True))

    def _notify(self, change) -> None:
        """A committed job change: wake this node's workers and waiting clients, then the other nodes."""
        if self.metrics:
            self.metrics.change(change)
        self.bus.publish(change)
        if self.channel:
            self.channel.announce(change)

    def reload(self) -> dict:
        """Re-read the configuration file and apply its printers and pools (SIGHUP, hcq reload).

        Server settings (socket, database, listeners, limits) need a restart; a bad file changes
        nothing and its error is returned."""
        with self._reload_lock:
            try:
                new = load(None if self.config.source == EMBEDDED_SOURCE else self.config.source)
            except ConfigError as exc:
                log.error("reload refused: %s", exc)
                raise
            held = self.operations.recheck_pools(new)   # before the members take the pools' jobs
            summary: dict = self.dispatcher.reload(new)
            self.operations.use_config(new)
            if self.front_door is not None and new.dicom_in is not None:
                self.front_door.intake.use_config(new)
                self.front_door.use_settings(new.dicom_in)
            self.config = new
            summary["held"] = held
            if self.sharing:   # applied all the same: the other nodes may be reloaded next
                for node, differ in self.sharing.record_printers(new).items():
                    log.warning("printers and pools differing from node %s's: %s", node, ", ".join(differ))
                    summary.setdefault("differing", []).append(f"from node {node}: {', '.join(differ)}")
        log.info("configuration reloaded: %s", reload_summary(summary))
        return summary

    def stop(self) -> None:
        log.info("hcserver stopping")
        if self.front_door is not None:   # first: its last store batches are queued while the queue is up
            self.front_door.stop()
        if self.web:
            self.web.stop()
        for server in (self.server, self.remote):
            if server:
                server.shutdown()
                server.server_close()
        self.dispatcher.stop()
        if self.channel:
            self.channel.stop()
        self.formatting.shutdown()
        if self.metrics:
            self.metrics.stop()
        self.config.socket.unlink(missing_ok=True)
        self.engine.dispose()
        self._stopped.set()

    def _reload_quietly(self) -> None:
        try:
            self.reload()
        except ConfigError:
            pass  # logged; the running configuration stays

    def run_forever(self) -> None:
        """Serve until SIGTERM or SIGINT."""
        stop_requested = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop_requested.set())
        signal.signal(signal.SIGHUP, lambda *_: threading.Thread(target=self._reload_quietly,
                                                                 name="reload", daemon=True).start())
        self.start()
        stop_requested.wait()
        self.stop()
