"""The queue on its own: transactions that race must not both win."""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from hcserver.db import make_engine, upgrade
from hcserver.events import EventBus, JobChange
from hcserver.models import Job
from hcserver.queue import AttemptEnd, JobQueue, LeaseLost, QueueError, joblist
from hcserver.queue.joblist import JobListCache
from hcserver.queue.store import Store
from hcserver.states import Transition
from tests.support.queue import JOB, LEASE_S, FakeClock, make_queue, node_queue


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request, tmp_path):
    """Every queue test runs on both databases the same migrations create."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'queue.db'}"
    return request.getfixturevalue("postgres_url")


def test_cancel_racing_claim_never_prints_a_canceled_job(database):
    queue = make_queue(database)
    jobs = [queue.jobs.submit("alice", JOB) for _ in range(150)]
    claimed: list[int] = []
    canceled: list[int] = []

    def claimer():
        while (job := queue.attempts.claim_next("p")) is not None:
            claimed.append(job.id)

    def canceller():
        for job_id in jobs:
            try:
                if queue.jobs.cancel(job_id, "bob")["state"] == "canceled":
                    canceled.append(job_id)
            except QueueError:
                pass

    threads = [threading.Thread(target=claimer), threading.Thread(target=canceller)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # A job the canceller was told is canceled was never started afterwards, and vice versa.
    assert not set(claimed) & set(canceled)
    for job_id in jobs:
        kinds = [event["kind"] for event in queue.views.show(job_id)["events"]]
        assert kinds in (["submit", "cancel"], ["submit", "start"], ["submit", "start", "cancel-requested"])


def test_cancel_cannot_slip_between_a_claims_read_and_write(database, monkeypatch):
    """Force the interleaving: the claim has read the job as pending and waits (up to 1 s) for
    a cancel to commit before it writes. The write lock taken at the start of the claim's
    transaction must hold the cancel back, so the two never both succeed."""
    queue = make_queue(database)
    job_id = queue.jobs.submit("alice", JOB)
    claim_has_read, cancel_done = threading.Event(), threading.Event()
    original = Store.move

    def slow_move(session, job, name, reason, data=None, **changes):
        if name.value == "start":
            claim_has_read.set()
            cancel_done.wait(1.0)
        return original(session, job, name, reason, data, **changes)

    monkeypatch.setattr(Store, "move", staticmethod(slow_move))
    answers = {}

    def canceller():
        claim_has_read.wait(5)
        answers["cancel"] = queue.jobs.cancel(job_id, "bob")["state"]
        cancel_done.set()

    thread = threading.Thread(target=canceller)
    thread.start()
    answers["claim"] = queue.attempts.claim_next("p")
    thread.join()
    kinds = [event["kind"] for event in queue.views.show(job_id)["events"]]
    assert answers["claim"] is not None
    assert answers["cancel"] == "processing"   # the user is told it stops after the current film
    assert kinds == ["submit", "start", "cancel-requested"]


# ---- leases: several nodes on one queue ------------------------------------------------------
# Their time is a FakeClock the nodes share: a lease runs out when the test moves the clock on.

def test_one_node_drives_a_printer_until_its_lease_runs_out(database):
    clock = FakeClock()
    a, b = node_queue(database, "a#1", clock=clock), node_queue(database, "b#1", clock=clock)
    assert a.leases.acquire_printer("p")
    assert not b.leases.acquire_printer("p"), "a's lease still runs"
    assert a.leases.renew([]) == {"p"}
    assert a.leases.acquire_printer("p"), "a keeps what it has"
    clock.advance(LEASE_S + 0.1)                 # a stops renewing: its lease runs out
    assert b.leases.acquire_printer("p")
    assert not a.leases.acquire_printer("p")
    assert a.leases.renew([]) == set(), "a learns it lost the printer"
    assert [v["node"] for v in b.printers.views()] == ["b"]
    b.leases.release_printers()
    assert a.leases.acquire_printer("p"), "a clean stop frees the printer at once"


def test_a_job_whose_node_stopped_renewing_is_taken_over_and_its_old_node_cannot_write(database):
    clock = FakeClock()
    a, b = node_queue(database, "a#1", clock=clock), node_queue(database, "b#1", clock=clock)
    job_id = a.jobs.submit("alice", {**JOB, "films": JOB["films"] * 3})
    assert a.leases.acquire_printer("p")
    claimed = a.attempts.claim_next("p")
    a.attempts.film_printed(job_id, 0, None)
    assert a.attempts.between_films(job_id, "p", claimed.priority_rank).leased
    assert b.leases.take_over_expired() == [], "a's lease still runs"
    clock.advance(LEASE_S + 0.1)       # a stalls: no renewal
    check = a.attempts.between_films(job_id, "p", claimed.priority_rank)
    assert check.leased and check.driving, "late, but nobody took it: a prints on"
    assert b.leases.take_over_expired() == [job_id]
    assert b.leases.acquire_printer("p")
    check = a.attempts.between_films(job_id, "p", claimed.priority_rank)
    assert not check.leased and not check.driving
    assert a.attempts.claim_next("p") is None, "a no longer drives the printer: it claims nothing"
    again = b.attempts.claim_next("p")
    assert (again.id, again.films_printed) == (job_id, 1), "resumes at the first unprinted film"
    assert b.views.show(job_id)["node"] == "b"
    # a wakes up late: whatever it would write about the job is refused.
    with pytest.raises(LeaseLost):
        a.attempts.film_printed(job_id, 1, None)
    with pytest.raises(LeaseLost):
        a.attempts.end(job_id, AttemptEnd(Transition.COMPLETE, "done"))
    b.attempts.film_printed(job_id, 1, None)
    b.attempts.film_printed(job_id, 2, None)
    b.attempts.end(job_id, AttemptEnd(Transition.COMPLETE, "all films printed"))
    view = b.views.show(job_id)
    assert (view["state"], view["films_printed"], view["node"]) == ("completed", 3, None)
    requeue = [e for e in view["events"] if e["kind"] == "requeue"]
    assert len(requeue) == 1 and "node a stopped renewing its lease" in requeue[0]["reason"]


def test_only_the_jobs_being_printed_keep_their_lease(database):
    """An attempt that ended without its job being written back (e.g. a database error) is
    not renewed: its lease runs out and the job is taken over instead of staying stuck."""
    clock = FakeClock()
    a = node_queue(database, "a#1", clock=clock)
    assert a.leases.acquire_printer("p")
    printing, abandoned = a.jobs.submit("alice", JOB), a.jobs.submit("alice", JOB)
    assert [a.attempts.claim_next("p").id, a.attempts.claim_next("p").id] == [printing, abandoned]
    for _ in range(6):   # 3 s in all, longer than the lease
        clock.advance(0.5)
        a.leases.renew([printing])
    assert a.leases.take_over_expired() == [abandoned]
    assert a.views.show(printing)["state"] == "processing"


def test_renewed_leases_are_never_taken_over(database):
    clock = FakeClock()
    a, b = node_queue(database, "a#1", clock=clock), node_queue(database, "b#1", clock=clock)
    job_id = a.jobs.submit("alice", JOB)
    assert a.leases.acquire_printer("p")
    a.attempts.claim_next("p")
    for _ in range(6):   # 3 s in all, longer than the lease
        clock.advance(0.5)
        a.leases.renew([job_id])
        assert b.leases.take_over_expired() == []
    assert a.views.show(job_id)["state"] == "processing"


def test_a_restarted_node_recovers_only_its_own_jobs(database):
    old_a, b = node_queue(database, "a#old"), node_queue(database, "b#1", lease_s=60)
    mine = old_a.jobs.submit("alice", JOB)
    assert old_a.leases.acquire_printer("p")
    old_a.attempts.claim_next("p")
    old_a.leases.release_printers()
    theirs = b.jobs.submit("alice", JOB)
    assert b.leases.acquire_printer("p")
    b.attempts.claim_next("p")
    new_a = node_queue(database, "a#new")
    assert new_a.leases.recover_interrupted() == [mine]
    assert new_a.views.show(theirs)["state"] == "processing", "b is alive and printing it"
    assert new_a.views.show(mine)["state"] == "pending"


def test_two_nodes_purging_history_at_once_both_succeed(database):
    a, b = node_queue(database, "a#1"), node_queue(database, "b#1")
    for _ in range(40):
        job_id = a.jobs.submit("alice", JOB)
        a.jobs.cancel(job_id, "alice")
    results, errors = [], []

    def purge(queue):
        try:
            results.append(queue.history.purge(older_than=datetime.now() + timedelta(days=1), keep=0)[0])
        except Exception as exc:   # noqa: BLE001 - the point is that none is raised
            errors.append(exc)

    threads = [threading.Thread(target=purge, args=(q,)) for q in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sum(results) == 40 and a.views.list_jobs(include_history=True) == []


def test_a_single_node_database_recovers_every_printing_job_whatever_its_node_was_called(tmp_path):
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    before = node_queue(url, "old-hostname#1")
    job_id = before.jobs.submit("alice", JOB)
    assert before.leases.acquire_printer("p")
    before.attempts.claim_next("p")
    after = node_queue(url, "new-hostname#1")
    assert after.leases.recover_interrupted(only_this_node=False) == [job_id]
    assert after.leases.acquire_printer("p"), "the old run's printer lease is gone too"


def test_nodes_registering_the_same_new_printer_at_once_both_succeed(database):
    queues = [node_queue(database, f"{name}#1") for name in ("a", "b", "c")]
    errors = []

    def sync(queue):
        try:
            queue.printers.sync(["p", "new"])
        except Exception as exc:   # noqa: BLE001 - the point is that none is raised
            errors.append(exc)

    threads = [threading.Thread(target=sync, args=(q,)) for q in queues]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(v["name"] for v in queues[0].printers.views()) == ["new", "p"]


def test_the_kept_json_list_follows_every_change_job_by_job(database):
    """hcq list --json is served from per-job texts (hcserver.queue.joblist): after each kind of
    change it must equal a list built from the database, and read only the jobs that changed."""
    engine = make_engine(database)
    upgrade(engine)
    bus = EventBus()
    queue = JobQueue(engine, notify=bus.publish)
    queue.printers.sync(["p", "q"])
    assert queue.leases.acquire_printer("p")
    cache = JobListCache(queue.views, bus)
    read: list[list[int]] = []
    views = queue.views.list_entries
    queue.views.list_entries = lambda ids: (read.append(sorted(ids)), views(ids))[1]

    def same(**options):
        assert json.loads(cache.json(**options)) == queue.views.list_jobs(**options)

    jobs = [queue.jobs.submit("alice", JOB) for _ in range(5)]
    same()
    assert read == [jobs]
    same()
    assert read == [jobs], "nothing changed: nothing read again"
    printing = queue.attempts.claim_next("p").id
    queue.attempts.film_printed(printing, 0, "film-box-uid", [])
    queue.attempts.add_warning(jobs[1], "N-SET", 0xB605, "warning")
    queue.jobs.set_priority(jobs[2], "high", "alice")
    queue.jobs.cancel(jobs[3], "alice")
    same()
    assert read[-1] == sorted({printing, jobs[1], jobs[2]}), "the canceled job is history"
    same(include_history=True)
    assert read[-1] == [jobs[3]]
    same(printer="p")
    queue.attempts.end(printing, AttemptEnd(Transition.COMPLETE, "done"))
    same(include_history=True)
    assert read[-1] == [printing], "only the finished job is read again"
    assert queue.history.purge(datetime.now() + timedelta(days=1), 0)[0] == 2
    same(include_history=True)
    assert read[-1] == sorted(set(jobs) - {printing, jobs[3]}), "a purge drops every kept text"
    bus.publish(JobChange(0, "p", "resync", ""))
    same()
    assert read[-1] == sorted(set(jobs) - {printing, jobs[3]}), "so does a resync"
    bus.publish(JobChange(0, "p", "printer", ""))
    same()
    assert len(read) == 6, "a printer's change leaves the jobs' texts alone"


def cached_queue(tmp_path) -> tuple[JobQueue, EventBus]:
    engine = make_engine(f"sqlite:///{tmp_path / 'queue.db'}")
    upgrade(engine)
    bus = EventBus()
    queue = JobQueue(engine, notify=bus.publish)
    queue.printers.sync(["p"])
    return queue, bus


def test_a_list_read_while_a_change_is_being_announced_is_not_kept(tmp_path):
    """A client's list can be built after a change is committed but before the cache has heard
    of it (the bus tells its listeners one after another): that list must not be kept."""
    queue, bus = cached_queue(tmp_path)
    lists: list[bytes] = []
    armed = threading.Event()

    def earlier_listener(change):   # subscribed first, as the printer workers' wake-up is
        if armed.is_set():
            armed.clear()
            lists.append(cache.json())

    bus.subscribe(earlier_listener)
    cache = JobListCache(queue.views, bus)
    job = queue.jobs.submit("alice", JOB)
    assert json.loads(cache.json())[0]["state"] == "pending"
    armed.set()
    queue.jobs.hold(job, "alice")
    assert lists, "a list was read in between"
    assert json.loads(cache.json())[0]["state"] == "held"


def test_an_older_text_read_slowly_never_replaces_a_newer_one(tmp_path):
    queue, bus = cached_queue(tmp_path)
    cache = JobListCache(queue.views, bus)
    job = queue.jobs.submit("alice", JOB)
    cache.json()
    views, read, go_on = queue.views.list_entries, threading.Event(), threading.Event()

    def slow_views(ids):   # the first reader stops after reading the row
        found = views(ids)
        if threading.current_thread().name == "slow":
            read.set()
            go_on.wait(30)
        return found

    queue.views.list_entries = slow_views
    queue.jobs.set_priority(job, "high", "alice")
    slow = threading.Thread(target=cache.json, name="slow")
    slow.start()
    assert read.wait(30)
    queue.jobs.hold(job, "alice")                       # newer than what the slow reader holds
    assert json.loads(cache.json())[0]["state"] == "held"
    go_on.set()
    slow.join(30)
    queue.views.list_entries = lambda ids: pytest.fail(f"jobs {ids} read again: the newer text was replaced")
    assert json.loads(cache.json(include_history=True))[0]["state"] == "held"


def test_kept_texts_are_read_again_after_max_age(tmp_path, monkeypatch):
    """A change announced by another node can be lost (the node died between its commit and
    the notification): no job's text is kept longer than MAX_AGE_S."""
    queue, bus = cached_queue(tmp_path)
    cache = JobListCache(queue.views, bus)
    job = queue.jobs.submit("alice", JOB)
    cache.json()
    with queue.store.writing() as session:   # a change this node is never told of
        session.execute(update(Job).where(Job.id == job).values(priority="high"))
    assert json.loads(cache.json())[0]["priority"] == "med"
    now = time.monotonic()
    monkeypatch.setattr(joblist.time, "monotonic", lambda: now + joblist.MAX_AGE_S + 1)
    assert json.loads(cache.json())[0]["priority"] == "high"


def test_a_job_submitted_once_by_its_origin_key_is_not_queued_again_within_the_window(database):
    clock = FakeClock()
    queue = node_queue(database, "n#1", clock=clock)
    first, new = queue.jobs.submit_once("dicom:CT1@FILMSPOOL", JOB, origin_key="a" * 64, window_s=60)
    assert new
    clock.advance(59)
    again, new = queue.jobs.submit_once("dicom:CT1@FILMSPOOL", JOB, origin_key="a" * 64, window_s=60)
    assert (again, new) == (first, False)
    other, new = queue.jobs.submit_once("dicom:CT1@FILMSPOOL", JOB, origin_key="b" * 64, window_s=60)
    assert new and other != first
    clock.advance(2)   # the window has passed: the same film printed again on purpose
    later, new = queue.jobs.submit_once("dicom:CT1@FILMSPOOL", JOB, origin_key="a" * 64, window_s=60)
    assert new and later not in (first, other)
    assert [job["id"] for job in queue.views.list_jobs()] == [first, other, later]
