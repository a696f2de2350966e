"""Pools: which member of a pool takes the pool's next job, and what clients see of pools.

A job sent to a pool waits as the pool's (``Job.printer`` is the pool) until a member's worker
claims it (hcserver.queue.attempts: ``Attempts.claim_next``), which records that member in
``Job.printed_on``. A member takes a pool's jobs only while no member before it in the pool's
order is *free*: enabled, not stopped, accepting new jobs, driven by a node (its lease runs)
and not printing. The order is the pool's list of printers (first-available), or that list
turned to begin after the member that took the pool's latest job (round-robin); either way a
member whose latest attempt ended in a retry (``Printer.retried_at``: it is switched off, not
answering, busy) comes after the others until an attempt completes on it. So a member that is
busy, stopped (a jam, a FAILURE status, a permanent rejection), disabled or rejecting is passed
over, and the pool's waiting jobs go to the next member: nothing was assigned to it, so nothing
has to be handed over. A member that cannot be reached is not stopped (nothing says why it
fails): the job it failed is retried, and offered to the other members first. A job sent to a
member itself stays that member's.

The rule reads only the database, so it holds across nodes: each member is driven by one node,
and a node claims only for the members it drives.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from hcserver.configpools import PoolConfig
from hcserver.models import Job, Pool, Printer
from hcserver.queue.store import Store, insert_missing
from hcserver.states import UNFINISHED, JobState, Transition


def order(pool: PoolConfig, last_member: str | None, retried: Collection[str] = ()) -> tuple[str, ...]:
    """The members in the order they are offered the pool's next job; those ``retried`` last."""
    members = pool.printers
    if pool.policy == "round-robin" and last_member in members:
        turn = members.index(last_member) + 1
        members = members[turn:] + members[:turn]
    return tuple(sorted(members, key=lambda member: member in retried))   # stable: keeps the order otherwise


def _retried(session: Session, names: Iterable[str]) -> set[str]:
    """The printers among ``names`` whose latest attempt ended in a retry."""
    return set(session.scalars(select(Printer.name).where(Printer.name.in_(list(names)),
                                                          Printer.retried_at.is_not(None))))


def attempt_ended(session: Session, printer: str, transition: Transition, now: datetime) -> None:
    """An attempt on ``printer`` ended: a retry puts it after the other members of its pools, a
    completed job puts it back in its place."""
    if transition is Transition.RETRY:
        session.execute(update(Printer).where(Printer.name == printer).values(retried_at=now))
    elif transition is Transition.COMPLETE:
        session.execute(update(Printer).where(Printer.name == printer, Printer.retried_at.is_not(None))
                        .values(retried_at=None))


def free(session: Session, names: Iterable[str], now: datetime) -> set[str]:
    """The printers among ``names`` that would take a pool's job now (see the module docstring)."""
    printing = select(Job.id).where(Job.state == JobState.PROCESSING.value, Job.printed_on == Printer.name).exists()
    return set(session.scalars(select(Printer.name).where(
        Printer.name.in_(list(names)), Printer.enabled, Printer.stopped.is_(False), Printer.accepting,
        Printer.driver_owner.is_not(None), Printer.driver_until > now, ~printing)))


def _last_members(session: Session, names: Iterable[str]) -> dict[str, str | None]:
    return {name: last for name, last in session.execute(select(Pool.name, Pool.last_member)
                                                          .where(Pool.name.in_(list(names))))}


def takes_from(session: Session, member: str, pools: Sequence[PoolConfig], now: datetime) -> list[str]:
    """The pools (of ``pools``, those ``member`` belongs to) whose jobs ``member`` may claim now:
    it accepts new jobs, and no member before it in the pool's order is free."""
    if not pools or not session.scalar(select(Printer.accepting).where(Printer.name == member)):
        return []
    last = _last_members(session, (pool.name for pool in pools))
    retried = _retried(session, {name for pool in pools for name in pool.printers})
    before = {pool.name: (members := order(pool, last.get(pool.name), retried))[:members.index(member)]
              for pool in pools}
    others = {name for earlier in before.values() for name in earlier}
    taken = free(session, others, now) if others else set()
    return [name for name, earlier in before.items() if not taken.intersection(earlier)]


def took(session: Session, pool: str, member: str, now: datetime) -> None:
    """``member`` took a job of ``pool``: a round-robin pool offers the next one to the member after it."""
    session.execute(update(Pool).where(Pool.name == pool).values(last_member=member, updated_at=now))


class Pools:
    def __init__(self, store: Store):
        self.store = store

    def sync(self, names: Iterable[str]) -> None:
        """Give every configured pool its row (several nodes may do this at the same time)."""
        insert_missing(self.store, Pool, [{"name": name, "updated_at": self.store.clock()} for name in names])

    def views(self, pools: Iterable[PoolConfig]) -> list[dict]:
        """Each pool: its members and policy, its unfinished jobs, which member prints which of
        them, and the member that would take its next job now (None: every member is busy or
        cannot print)."""
        pools = list(pools)
        names = [pool.name for pool in pools]
        now = self.store.clock()
        with self.store.reading() as session:
            queued = {name: count for name, count in session.execute(
                select(Job.printer, func.count()).where(Job.printer.in_(names),
                                                        Job.state.in_([s.value for s in UNFINISHED]))
                .group_by(Job.printer))}
            printing: dict[str, list[dict]] = {}
            for job_id, name, member in session.execute(
                    select(Job.id, Job.printer, Job.printed_on).where(Job.printer.in_(names),
                                                                      Job.state == JobState.PROCESSING.value)
                    .order_by(Job.id)):
                printing.setdefault(name, []).append({"job": job_id, "printer": member})
            last = _last_members(session, names)
            everyone = {member for pool in pools for member in pool.printers}
            available, retried = free(session, everyone, now), _retried(session, everyone)
        views = []
        for pool in pools:
            turn = order(pool, last.get(pool.name), retried)
            views.append({"name": pool.name, "policy": pool.policy, "printers": list(pool.printers),
                          "queued": queued.get(pool.name, 0), "printing": printing.get(pool.name, []),
                          "last_member": last.get(pool.name),
                          "next": next((member for member in turn if member in available), None)})
        return views
