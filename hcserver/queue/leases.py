"""Leases: which node prints a job, and which node drives a printer.

Several server processes ("nodes") may share one PostgreSQL queue. Each speaks as one
``owner`` ("node#incarnation", new at every start). A claimed job carries a lease
(``lease_owner``, ``lease_until``) that its node renews every lease_s/3; every write the
printing worker makes checks the lease is still its own (hcserver.queue.attempts). When a node
dies its leases run out and any node puts the job back to pending (:meth:`Leases.take_over_expired`):
it resumes at its first unprinted film. A printer is driven by one node at a time the same way
(``driver_owner``, ``driver_until`` on the printer row; :meth:`Leases.acquire_printer`), so there
is one association per printer. Times are the nodes' clocks: keep them synchronised (NTP); the
skew must stay well below lease_s.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import cast

from sqlalchemy import CursorResult, select, update

from hcserver.events import JobChange, Notice
from hcserver.models import Job, Printer
from hcserver.queue.attempts import end_interrupted
from hcserver.queue.store import Store, node_of
from hcserver.states import JobState


class Leases:
    def __init__(self, store: Store):
        self.store = store

    def recover_interrupted(self, only_this_node: bool = True) -> list[int]:
        """At start-up: jobs this node left printing when it stopped or crashed go back to
        pending (their printed films kept), and its printers are free again. Other nodes' jobs
        are theirs until their leases run out (:meth:`take_over_expired`). With
        ``only_this_node`` false (SQLite: one node by definition, whatever its name was) every
        printing job and printer is recovered."""
        mine = f"{node_of(self.store.owner)}#"
        jobs_of: list = [Job.lease_owner.is_(None) | Job.lease_owner.startswith(mine, autoescape=True)]
        printers_of: list = [Printer.driver_owner.startswith(mine, autoescape=True)]
        if not only_this_node:
            jobs_of = printers_of = []
        with self.store.writing() as session:
            jobs = session.scalars(select(Job).where(Job.state == JobState.PROCESSING.value, *jobs_of)
                                   .with_for_update()).all()
            changes = [end_interrupted(session, job, "the server stopped while this job was printing")
                       for job in jobs]
            session.execute(update(Printer).where(*printers_of).values(driver_owner=None, driver_until=None))
        for change in changes:
            self.store.notify(change)
        return [change.job_id for change in changes]

    def renew(self, printing: Iterable[int]) -> set[str]:
        """Extend the leases of the jobs this node's workers are printing (``printing``; a worker
        that owes the end of an attempt the database refused keeps that job's lease until it has
        written it) and of the printers it drives; returns those printers."""
        owner = self.store.owner
        until = self.store.clock() + timedelta(seconds=self.store.lease_s)
        with self.store.writing() as session:
            session.execute(update(Job).where(Job.id.in_(list(printing)), Job.lease_owner == owner,
                                              Job.state == JobState.PROCESSING.value).values(lease_until=until))
            session.execute(update(Printer).where(Printer.driver_owner == owner).values(driver_until=until))
            return set(session.scalars(select(Printer.name).where(Printer.driver_owner == owner)))

    def take_over_expired(self) -> list[int]:
        """Put jobs whose node stopped renewing their lease back to pending (any node does this)."""
        now = self.store.clock()
        with self.store.writing() as session:
            jobs = session.scalars(select(Job).where(Job.state == JobState.PROCESSING.value,
                                                     Job.lease_until.is_(None) | (Job.lease_until < now))
                                   .with_for_update(skip_locked=True)).all()
            changes = [end_interrupted(
                session, job, f"node {node_of(job.lease_owner) or '?'} stopped renewing its lease") for job in jobs]
        for change in changes:
            self.store.notify(change)
        return [change.job_id for change in changes]

    def acquire_printer(self, name: str) -> bool:
        """Drive printer ``name`` from this node, unless another node's lease on it still runs."""
        now = self.store.clock()
        owner = self.store.owner
        with self.store.writing() as session:
            taken = cast(CursorResult, session.execute(   # an UPDATE's result has a row count
                update(Printer).where(
                    Printer.name == name,
                    Printer.driver_owner.is_(None) | (Printer.driver_owner == owner) | (Printer.driver_until < now))
                .values(driver_owner=owner, driver_until=now + timedelta(seconds=self.store.lease_s))))
            return taken.rowcount == 1

    def release_printers(self, names: Iterable[str] | None = None) -> None:
        """At a clean stop (or when printers leave the configuration): let another node drive
        this node's printers (all, or ``names``) at once."""
        where = [Printer.driver_owner == self.store.owner]
        if names is not None:
            where.append(Printer.name.in_(list(names)))
        with self.store.writing() as session:
            released = session.scalars(update(Printer).where(*where).values(driver_owner=None, driver_until=None)
                                       .returning(Printer.name)).all()
        for name in released:   # the nodes standing by for it try at once
            self.store.notify(JobChange(0, name, Notice.PRINTER_RELEASED, ""))
