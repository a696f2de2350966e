"""Users' commands on waiting jobs: what they change, and the events that say so."""
from __future__ import annotations

from datetime import timedelta

from hcserver.queue import AttemptEnd
from hcserver.states import Transition
from tests.support.queue import JOB, make_queue


def retried_job(queue) -> tuple[int, object]:
    """A job whose attempt failed and that waits for its back-off (an hour away)."""
    job_id = queue.jobs.submit("alice", JOB)
    claimed = queue.attempts.claim_next("p")
    assert claimed is not None and claimed.id == job_id
    when = queue.store.clock() + timedelta(hours=1)
    queue.attempts.end(job_id, AttemptEnd(Transition.RETRY, "connection refused", not_before=when,
                                          failed_attempts=1))
    assert queue.views.show(job_id)["not_before"] is not None
    return job_id, when


def test_a_released_job_is_due_at_once_not_after_its_old_back_off(tmp_path):
    queue = make_queue(f"sqlite:///{tmp_path / 'q.db'}")
    job_id, _ = retried_job(queue)
    queue.jobs.hold(job_id, "alice")
    queue.jobs.release(job_id, "alice")
    assert queue.views.show(job_id)["not_before"] is None
    assert queue.attempts.claim_next("p").id == job_id


def test_a_moved_job_is_due_at_once_on_its_new_printer(tmp_path):
    queue = make_queue(f"sqlite:///{tmp_path / 'q.db'}")
    queue.printers.sync(["q"])
    assert queue.leases.acquire_printer("q")
    job_id, _ = retried_job(queue)
    queue.jobs.move(job_id, "q", "alice", color=False)
    assert queue.views.show(job_id)["not_before"] is None
    assert queue.attempts.claim_next("q").id == job_id


def test_a_priority_change_keeps_the_back_off(tmp_path):
    queue = make_queue(f"sqlite:///{tmp_path / 'q.db'}")
    job_id, _ = retried_job(queue)
    queue.jobs.set_priority(job_id, "high", "alice")
    assert queue.views.show(job_id)["not_before"] is not None


def test_events_say_what_changed_from_what_to_what(tmp_path):
    queue = make_queue(f"sqlite:///{tmp_path / 'q.db'}")
    queue.printers.sync(["q"])
    job_id = queue.jobs.submit("alice", JOB, held=True)
    queue.jobs.set_priority(job_id, "high", "root")
    queue.jobs.move(job_id, "q", "root", color=False)
    copy = queue.jobs.submit("bob", JOB, details={"reprint_of": job_id})
    reasons = [e["reason"] for e in queue.views.show(job_id)["events"]]
    assert reasons == ["submitted by alice", "priority changed from med to high by root",
                       "moved from printer p to q by root"]
    assert queue.views.show(copy)["events"][0]["reason"] == f"submitted by bob as a reprint of job {job_id}"
