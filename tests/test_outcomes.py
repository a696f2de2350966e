"""How an attempt ends (hcserver.dispatch.outcomes), and how the queue writes it
(hcserver.queue.attempts): a pending cancel, a printer that stops, a failure after the last film."""
from __future__ import annotations

import pytest

from hcserver.dispatch import outcomes
from hcserver.dispatch.outcomes import RetryPolicy
from hcserver.dispatch.recorder import JobObserver, recorder_thread
from hcserver.drivers.base import Action, PrintFailure
from hcserver.queue import ClaimedJob, FilmCheck, LeaseLost
from hcserver.states import Transition
from tests.support.queue import JOB, FakeClock, make_queue, node_queue

JOB_OF_3 = ClaimedJob(id=7, printer="p", priority="med", priority_rank=1, copies=1, medium_type=None,
                      film_destination=None, label=None, color=False, films_total=3, films_printed=1,
                      attempts=2, failed_attempts=1)
RETRY = RetryPolicy(limit=3, interval_s=10, max_interval_s=60)
GO_ON = FilmCheck(cancel=False, printable=True, higher=False, leased=True, driving=True)


def after(failure: Exception, films_printed: int = 1, **options):
    return outcomes.after_error(failure, JOB_OF_3, printer="p", films_printed=films_printed, retry=RETRY, **options)


def test_before_a_film_the_lease_then_the_printer_then_a_cancel_decide():
    with pytest.raises(LeaseLost):
        outcomes.before_film(JOB_OF_3, 1, FilmCheck(True, False, True, False, False), printer="p", preempt=True)
    checks = {
        "driving": (FilmCheck(True, False, True, True, False), Transition.REQUEUE),
        "cancel": (FilmCheck(True, False, True, True, True), Transition.CANCEL),
        "printable": (FilmCheck(False, False, True, True, True), Transition.REQUEUE),
    }
    for check, transition in checks.values():
        assert outcomes.before_film(JOB_OF_3, 2, check, printer="p", preempt=True).transition is transition
    higher = FilmCheck(False, True, True, True, True)
    assert outcomes.before_film(JOB_OF_3, 2, higher, printer="p", preempt=True).transition is Transition.PREEMPT
    assert outcomes.before_film(JOB_OF_3, 1, higher, printer="p", preempt=True) is None, "its first film goes on"
    assert outcomes.before_film(JOB_OF_3, 2, higher, printer="p", preempt=False) is None
    assert outcomes.before_film(JOB_OF_3, 2, GO_ON, printer="p", preempt=True) is None


def test_a_failure_is_retried_until_the_limit_and_yields_to_a_pending_cancel():
    retried = after(PrintFailure(Action.RETRY, "busy"))
    assert (retried.transition, retried.failed_attempts) == (Transition.RETRY, 2)
    assert retried.not_before is not None and retried.if_canceled == "canceled; the attempt had ended with: busy"
    gave_up = outcomes.after_error(PrintFailure(Action.RETRY, "busy"), JOB_OF_3, printer="p", films_printed=1,
                                   retry=RetryPolicy(2, 10, 60))
    assert (gave_up.transition, gave_up.error) == (Transition.FAIL, "gave up after 2 failed attempts: busy")
    assert after(PrintFailure(Action.FAIL, "refused")).error == "refused"


def test_stop_printer_stops_the_printer_before_and_after_the_last_film():
    requeued = after(PrintFailure(Action.STOP_PRINTER, "FAILURE"))
    assert (requeued.transition, requeued.stop_printer) == (Transition.REQUEUE, "FAILURE")
    done = after(PrintFailure(Action.STOP_PRINTER, "FAILURE", operation="N-DELETE"), films_printed=3)
    assert (done.transition, done.stop_printer, done.if_canceled) == (Transition.COMPLETE, "FAILURE", None)
    assert done.warning == ("N-DELETE", None, "after the last film: FAILURE")


def test_an_overlong_job_is_retried_and_a_film_that_cannot_be_formatted_fails_it():
    overtime = after(PrintFailure(Action.FAIL, "aborted"), overtime_s=5)
    assert overtime.transition is Transition.RETRY and "longer than max_job_time_s (5 s)" in overtime.reason
    unformattable = after(ValueError("no such frame"))
    assert (unformattable.transition, unformattable.if_canceled) == (Transition.FAIL, None)
    assert after(RuntimeError("bug")).transition is Transition.RETRY


def test_a_pending_cancel_wins_over_a_failure_and_the_printer_stops_all_the_same(tmp_path):
    queue = make_queue(f"sqlite:///{tmp_path / 'queue.db'}")
    job_id = queue.jobs.submit("alice", JOB)
    job = queue.attempts.claim_next("p")
    queue.jobs.cancel(job_id, "alice")
    assert queue.attempts.end(job_id, outcomes.after_error(
        PrintFailure(Action.STOP_PRINTER, "FAILURE"), job, printer="p", films_printed=0, retry=RETRY))
    shown = queue.views.show(job_id)
    assert (shown["state"], shown["events"][-1]["reason"]) == (
        "canceled", "canceled; the attempt had ended with: FAILURE")
    printer = queue.printers.get("p")
    assert (printer.stopped, printer.reason) == (True, "FAILURE")


def test_an_attempt_whose_node_stopped_is_requeued_or_canceled(tmp_path):
    queue = make_queue(f"sqlite:///{tmp_path / 'queue.db'}")
    requeued, canceled = queue.jobs.submit("alice", JOB), queue.jobs.submit("alice", JOB)
    for _ in range(2):
        queue.attempts.claim_next("p")
    queue.jobs.cancel(canceled, "alice")
    assert sorted(queue.leases.recover_interrupted()) == [requeued, canceled]
    assert queue.views.show(requeued)["state"] == "pending"
    assert queue.views.show(canceled)["events"][-1]["reason"] == (
        "canceled: the server stopped while this job was printing with the cancel pending")


def test_a_fallback_warning_is_recorded_once_per_job_not_again_by_a_retried_attempt(tmp_path):
    clock = FakeClock()
    queue = node_queue(f"sqlite:///{tmp_path / 'queue.db'}", "node#1", clock=clock)
    assert queue.leases.acquire_printer("p")
    job_id = queue.jobs.submit("alice", JOB)
    fallback = ("N-CREATE", None, "STANDARD\\3,3 is not offered: composed into STANDARD\\1,1")
    recorder = recorder_thread("p")
    try:
        for attempt in (1, 2):
            job = queue.attempts.claim_next("p")
            assert job is not None and (job.id, job.attempts) == (job_id, attempt)
            observer = JobObserver(queue, "p", job, recorder)
            observer.warning(*fallback)                  # said of every film of every attempt
            observer.warning(*fallback)
            if attempt == 2:
                observer.warning("N-SET", 0xB609, "image box: a setting was ignored")   # a new one is recorded
            observer.settle()
            queue.attempts.end(job_id, outcomes.after_error(
                PrintFailure(Action.RETRY, "busy"), job, printer="p", films_printed=0, retry=RETRY))
            clock.advance(RETRY.max_interval_s)
    finally:
        recorder.shutdown()
    shown = queue.views.show(job_id)
    assert shown["attempts"] == 2
    warnings = [e["reason"] for e in shown["events"] if e["kind"] == "warning"]
    assert warnings == ["N-CREATE STANDARD\\3,3 is not offered: composed into STANDARD\\1,1",
                        "N-SET 0xB609 image box: a setting was ignored"], warnings
