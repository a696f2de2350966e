"""The queue on its own: transactions that race must not both win."""
from __future__ import annotations

import threading

import pytest

from hcserver.db import make_engine, upgrade
from hcserver.queue import JobQueue, QueueError
from tests.fixtures.postgres import postgres_server, postgres_url  # noqa: F401  (fixtures)

JOB = {"printer": "p", "priority": "med", "copies": 1, "medium_type": None, "film_destination": None,
       "label": None, "color": False,
       "films": [{"film_size": "14INX17IN", "orientation": "PORTRAIT", "layout": "STANDARD\\1,1",
                  "frames": [{"image": "0" * 64, "frame": 0}]}]}


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """Every queue test runs on both databases the same migrations create."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'queue.db'}"
    return request.getfixturevalue("postgres_url")


def make_queue(url: str) -> JobQueue:
    engine = make_engine(url)
    upgrade(engine)
    queue = JobQueue(engine)
    queue.sync_printers(["p"])
    return queue


def test_cancel_racing_claim_never_prints_a_canceled_job(database):
    queue = make_queue(database)
    jobs = [queue.submit("alice", JOB) for _ in range(150)]
    claimed: list[int] = []
    canceled: list[int] = []

    def claimer():
        while (job := queue.claim_next("p")) is not None:
            claimed.append(job.id)

    def canceller():
        for job_id in jobs:
            try:
                if queue.cancel(job_id, "bob")["state"] == "canceled":
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
        kinds = [event["kind"] for event in queue.show(job_id)["events"]]
        assert kinds in (["submit", "cancel"], ["submit", "start"], ["submit", "start", "cancel-requested"])


def test_cancel_cannot_slip_between_a_claims_read_and_write(database, monkeypatch):
    """Force the interleaving: the claim has read the job as pending and waits (up to 1 s) for
    a cancel to commit before it writes. The write lock taken at the start of the claim's
    transaction must hold the cancel back, so the two never both succeed."""
    queue = make_queue(database)
    job_id = queue.submit("alice", JOB)
    claim_has_read, cancel_done = threading.Event(), threading.Event()
    original = JobQueue._move

    def slow_move(session, job, name, reason, data=None, **changes):
        if name.value == "start":
            claim_has_read.set()
            cancel_done.wait(1.0)
        return original(session, job, name, reason, data, **changes)

    monkeypatch.setattr(JobQueue, "_move", staticmethod(slow_move))
    answers = {}

    def canceller():
        claim_has_read.wait(5)
        answers["cancel"] = queue.cancel(job_id, "bob")["state"]
        cancel_done.set()

    thread = threading.Thread(target=canceller)
    thread.start()
    answers["claim"] = queue.claim_next("p")
    thread.join()
    kinds = [event["kind"] for event in queue.show(job_id)["events"]]
    assert answers["claim"] is not None
    assert answers["cancel"] == "processing"   # the user is told it stops after the current film
    assert kinds == ["submit", "start", "cancel-requested"]
