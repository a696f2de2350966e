"""Prometheus metrics (``/metrics``), with the official client library and its naming rules.

Two sources, and no label that names a job or a patient (their number is unbounded, and a
patient's data never leaves the owner's and administrators' views):

- read from the queue at each scrape (a collector): jobs by printer and state, each printer's
  up, stopped, accepting and enabled, and the spool's bytes;
- counted as things happen on this node: films printed, jobs finished by outcome, retries, the
  queue wait (submitted until first printing) and each film's print time (from the queue's
  changes, which :meth:`Metrics.change` is handed by the daemon as it announces them), each under
  the printer that printed (for a pool's job, the member that took it); DIMSE
  responses by operation and status, and failed associations by reason (from the printers'
  workers: :class:`Metrics` is their :class:`~hcserver.events.PrintingObserver`).

The queue's changes are handled on a thread of their own: the printing path only puts them on
a queue.
"""
from __future__ import annotations

import logging
import queue as queues
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hcserver.events import JobChange, PrintingObserver
from hcserver.queue import JobQueue
from hcserver.server.printers import state_of
from hcserver.spool import Spool
from hcserver.states import EventKind, Transition

log = logging.getLogger(__name__)

#: The outcomes of a finished job, by the transition that finished it.
OUTCOMES = {Transition.COMPLETE.value: "completed", Transition.FAIL.value: "failed",
            Transition.CANCEL.value: "canceled"}
#: Seconds: a job waits from seconds (an idle printer) to hours (a film jam overnight).
WAIT_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 43200)
#: Seconds per film: formatting and sending, from a fraction of a second to minutes (a slow link).
FILM_BUCKETS = (0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)
#: Changes waiting for the metrics thread; past this they are dropped (and logged): never blocking.
BACKLOG = 10000


def association_failure_reason(text: str) -> str:
    """A bounded label for why an association could not be set up (the driver's words vary)."""
    words = text.lower()
    for reason, said in (("tls", ("tls",)), ("refused", ("connection refused", "unreachable")),
                         ("timeout", ("no answer within", "did not answer", "timed out", "timeout")),
                         ("rejected", ("rejected",)), ("no-context", ("presentation contexts",)),
                         ("aborted", ("aborted", "closed during negotiation", "failed during negotiation"))):
        if any(word in words for word in said):
            return reason
    return "other"


class _QueueCollector(Collector):
    """What the queue holds now, read at each scrape."""

    def __init__(self, queue: JobQueue, spool: Spool, configured: Callable[[], set[str]]):
        self.queue, self.spool, self.configured = queue, spool, configured

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("hcserver_jobs", "Jobs in the queue and its history, by printer and state",
                                 labels=["printer", "state"])
        for (printer, state), count in sorted(self.queue.views.counts().items()):
            jobs.add_metric([printer, state], count)
        yield jobs
        families = {name: GaugeMetricFamily(f"hcserver_printer_{name}", what, labels=["printer"]) for name, what in (
            ("up", "1 while the printer prints its queue (idle or printing), else 0 (stopped, disabled, retrying "
                   "after a failure)"),
            ("stopped", "1 while the printer is stopped by a failure (e.g. a film jam)"),
            ("accepting", "1 while the printer accepts new jobs"),
            ("enabled", "1 while the printer is enabled by its administrators"))}
        configured = self.configured()
        for view in self.queue.printers.views():
            if view["name"] not in configured:
                continue
            view["configured"] = True
            state = state_of(view)
            for name, value in (("up", state in ("idle", "printing")), ("stopped", view["stopped"]),
                                ("accepting", view["accepting"]), ("enabled", view["enabled"])):
                families[name].add_metric([view["name"]], int(bool(value)))
        yield from families.values()
        spool = GaugeMetricFamily("hcserver_spool_bytes", "Bytes of the images in the spool (uploads included)")
        spool.add_metric([], sum(entry.size for entry in self.spool.scan()))
        yield spool


class Metrics(PrintingObserver):
    """This node's metrics: :meth:`change` for each queue change it announces, the workers'
    observer for DIMSE responses and failures, :meth:`exposition` for ``/metrics``."""

    def __init__(self, queue: JobQueue, spool: Spool, configured: Callable[[], set[str]],
                 clock: Callable[[], float] = time.monotonic):
        self.queue, self.clock = queue, clock
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_QueueCollector(queue, spool, configured))
        r = self.registry
        self.films = Counter("hcserver_films_printed", "Films the printers accepted", ["printer"], registry=r)
        self.finished = Counter("hcserver_jobs_finished", "Jobs that finished, by outcome (completed, failed, "
                                                          "canceled)", ["printer", "outcome"], registry=r)
        self.retries = Counter("hcserver_job_retries", "Attempts that failed and are retried after a back-off",
                               ["printer"], registry=r)
        self.dimse_responses = Counter("hcserver_dimse_responses", "DIMSE responses by operation and status "
                                                                   "(\"none\": no response came)",
                                       ["printer", "operation", "status"], registry=r)
        self.association_failures = Counter("hcserver_association_failures", "Associations that could not be set "
                                                                             "up, by reason",
                                            ["printer", "reason"], registry=r)
        self.queue_wait = Histogram("hcserver_queue_wait_seconds", "Time from a job's submission to its first "
                                                                   "printing", ["printer"], buckets=WAIT_BUCKETS,
                                    registry=r)
        self.film_time = Histogram("hcserver_film_print_seconds", "Time to format and print one film",
                                   ["printer"], buckets=FILM_BUCKETS, registry=r)
        self._film_started: dict[int, float] = {}    # job -> when its current film began
        self._changes: queues.Queue = queues.Queue(BACKLOG)
        self._thread = threading.Thread(target=self._run, name="metrics", daemon=True)
        self._thread.start()

    # ---- what happens (any thread) ----------------------------------------------------

    def change(self, change: JobChange) -> None:
        """A queue change this node made, as it is announced: handled on the metrics thread."""
        try:
            self._changes.put_nowait((self.clock(), change))
        except queues.Full:
            log.warning("metrics: %d changes wait to be counted; this one is dropped", BACKLOG)

    def dimse(self, printer: str, operation: str, status: str | None) -> None:
        self.dimse_responses.labels(printer, operation, status or "none").inc()

    def failure(self, printer: str, operation: str | None, reason: str) -> None:
        if operation == "A-ASSOCIATE":
            self.association_failures.labels(printer, association_failure_reason(reason)).inc()

    def exposition(self) -> bytes:
        """The Prometheus text format."""
        return generate_latest(self.registry)

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until every change handed so far is counted (for a scrape that must see them)."""
        done = threading.Event()
        self._changes.put((None, done))
        done.wait(timeout)

    def stop(self) -> None:
        self._changes.put((None, None))

    # ---- the metrics thread ------------------------------------------------------------

    def _run(self) -> None:
        while True:
            at, change = self._changes.get()
            if at is None:
                if change is None:
                    return
                change.set()   # settle()
                continue
            try:
                self._count(at, change)
            except Exception:   # a metric must never stop the counting of the next change
                log.exception("metrics: change %s not counted", change)

    def _count(self, at: float, change: JobChange) -> None:
        # Counted under the printer that printed: a pool's job under the member that ran it, or
        # the pool while no member took it (a waiting job canceled). The queue gauge stays by
        # where jobs were sent (README, "Status page and metrics").
        kind, printer = str(getattr(change.kind, "value", change.kind)), change.printed_on or change.printer
        if kind == Transition.START.value:
            self._film_started[change.job_id] = at
            entry = self.queue.views.list_entries([change.job_id]).get(change.job_id)
            if entry and entry["attempts"] == 1:   # its first printing: how long it waited
                submitted = datetime.fromisoformat(entry["created_at"]).timestamp()
                self.queue_wait.labels(printer).observe(max(0.0, time.time() - submitted - (self.clock() - at)))
        elif kind == EventKind.FILM_PRINTED.value:
            self.films.labels(printer).inc()
            began = self._film_started.get(change.job_id)
            if began is not None:
                self.film_time.labels(printer).observe(at - began)
            self._film_started[change.job_id] = at
        elif kind in (Transition.RETRY.value, Transition.PREEMPT.value, Transition.REQUEUE.value) or kind in OUTCOMES:
            self._film_started.pop(change.job_id, None)
            if kind == Transition.RETRY.value:
                self.retries.labels(printer).inc()
            if kind in OUTCOMES:
                self.finished.labels(printer, OUTCOMES[kind]).inc()
