"""Dispatcher: the node's printer workers, one per configured printer, and its housekeeping
(leases, history); a configuration reload starts, stops and restarts workers. It wakes the
workers a change concerns: a pool's job wakes every member, and a member that starts printing
or changes state wakes the other members of its pools (they may take what it leaves)."""
from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from hcserver.config import PrinterConfig, ServerConfig
from hcserver.dbspool import FILM_PREFIX, DatabaseSpool
from hcserver.dispatch.timers import keep_house, new_scheduler
from hcserver.dispatch.worker import PrinterWorker
from hcserver.events import JobChange, Notice, PrintingObserver
from hcserver.formatting import FormatPool
from hcserver.queue import JobQueue, unwritable, utcnow
from hcserver.spool import Spool
from hcserver.states import Transition

log = logging.getLogger(__name__)

#: Changes after which a pool's job may go to another member than before (see Dispatcher.changed).
_FREES_POOL_JOBS = frozenset({Transition.START, Transition.RETRY, Notice.PRINTER, Notice.PRINTER_RELEASED})


class Dispatcher:
    def __init__(self, server: ServerConfig, queue: JobQueue, spool: Spool, formatting: FormatPool,
                 observer: PrintingObserver | None = None):
        self.server, self.queue, self.spool, self.formatting = server, queue, spool, formatting
        self.observer = observer   # of every worker's DIMSE responses and failures (the metrics)
        self.scheduler = new_scheduler()
        self.workers: dict[str, PrinterWorker] = {}

    def start(self) -> None:
        self.scheduler.start()
        self.queue.printers.sync(self.server.printers)
        self.queue.pools.sync(self.server.pools)
        for printer in self.server.printers.values():
            self._start_worker(printer)
        keep_house(self.scheduler, purge_history=self.purge_history, keep_leases=self.keep_leases,
                   lease_s=self.server.lease_s)

    def keep_leases(self) -> None:
        """Timer (every lease_s/3): renew this node's leases, take over the jobs of nodes that
        stopped renewing theirs, and let standing-by workers try to drive their printer."""
        try:
            driven = self.queue.leases.renew([w.printing for w in list(self.workers.values()) if w.printing])
            taken = self.queue.leases.take_over_expired()
        except Exception as exc:   # a scheduled task must never die for good
            why = unwritable(exc)
            if why:
                log.error("lease renewal failed: %s", why)
            else:
                log.exception("lease renewal failed")
            return
        if taken:
            log.warning("took over jobs %s from nodes that stopped renewing their leases", taken)
        for name, worker in list(self.workers.items()):
            if worker.driving and name not in driven:
                log.warning("printer %s: another node drives it now (this node's lease ran out)", name)
                worker.driving = False
            if not worker.driving:
                worker.wake()

    def purge_history(self) -> int:
        """Forget finished jobs past the configured history, with their spooled images and previews."""
        try:
            cutoff = utcnow() - timedelta(days=self.server.history_days)
            count, images, outputs = self.queue.history.purge(cutoff, self.server.history_max_jobs)
            removed = sum(self.spool.remove(digest) for digest in images)
            if isinstance(self.spool, DatabaseSpool):
                self.spool.remove_films(outputs)
            previews = self.server.preview_dir.resolve()
            for output in outputs:
                if output.startswith(FILM_PREFIX):
                    continue
                path = Path(output).resolve()
                if path.parent == previews and path.is_file():
                    path.unlink()
            if count:
                log.info("history: purged %d finished jobs, %d spooled images", count, removed)
            return count
        except Exception:  # a scheduled task must never die for good
            log.exception("history purge failed")
            return 0

    def _start_worker(self, printer: PrinterConfig) -> None:
        worker = PrinterWorker(printer, self.server, self.queue, self.spool, self.scheduler, self.formatting,
                               observer=self.observer)
        self.workers[printer.name] = worker
        worker.start()

    def reload(self, server: ServerConfig) -> dict[str, list[str]]:
        """Apply a new configuration's printers and pools to the running server. A changed printer's
        worker restarts (after its current film); a removed printer's or pool's queued jobs are
        held, never dropped."""
        old, new = self.server.printers, server.printers
        removed = [name for name in old if name not in new]
        added = [name for name in new if name not in old]
        changed = [name for name in new if name in old and new[name] != old[name]]
        pools_removed = [name for name in self.server.pools if name not in server.pools]
        pools_added = [name for name in server.pools if name not in self.server.pools]
        pools_changed = [name for name, pool in server.pools.items()
                         if name in self.server.pools and pool != self.server.pools[name]]
        for name in removed + changed:
            self.workers.pop(name).stop(reason="the printer's configuration was reloaded")
        for name in removed:
            self.queue.jobs.hold_printer_jobs(name, f"printer {name} was removed from the configuration")
        for name in pools_removed:
            self.queue.jobs.hold_printer_jobs(name, f"pool {name} was removed from the configuration")
        self.queue.leases.release_printers(removed)
        self.server = server
        self.queue.printers.sync(new)
        self.queue.pools.sync(server.pools)
        for name in added + changed:
            self._start_worker(new[name])
        for name in self.workers:
            self.workers[name].server = server
        for name in pools_added + pools_changed:   # their members may take the pool's jobs now
            self.wake(name)
        return {"added": added, "removed": removed, "changed": changed, "pools_added": pools_added,
                "pools_removed": pools_removed, "pools_changed": pools_changed}

    def wake(self, name: str) -> None:
        """Wake the worker of printer ``name``, or of every member of pool ``name``."""
        for member in self.server.members(name):
            worker = self.workers.get(member)
            if worker:
                worker.wake()

    def changed(self, change: JobChange) -> None:
        """Event bus listener: wake the workers ``change`` concerns. A printer that starts a job,
        retries one (it goes after the other members) or changes state (stopped, disabled,
        rejecting, let go by its node) may leave a pool's job to the next member, so the other
        members of its pools look again."""
        self.wake(change.printer)
        if change.kind in _FREES_POOL_JOBS:
            for pool in self.server.pools_of(change.printer):
                self.wake(pool.name)

    def stop(self) -> None:
        for worker in self.workers.values():
            worker._stopping = True
            worker.wake()
        for worker in self.workers.values():
            worker.stop()
        self.scheduler.shutdown(wait=False)
        try:
            self.queue.leases.release_printers()   # another node may drive them at once
        except Exception:
            log.exception("could not release this node's printers")
