"""N-EVENT-REPORTs from the printer racing our requests (issue: a printer that reports
"SUPPLY LOW" right after each N-ACTION response could hang its worker for good).

pynetdicom serves an incoming N-EVENT-REPORT in a thread of its own that sets and then
clears the flag a request waits on for the reactor's pause; when the clearing comes
after the reactor has paused, the request waits for ever (drivers/dicom/reactor.py,
"The reactor's pause"). The SCU side here is always the real association and driver
code against a real peer (the bundled simulator); where an interleaving has to be forced,
only the timing of threads is arranged (a handler that takes its time, a reactor held up),
never a response.
"""
from __future__ import annotations

import collections
import threading
import time

import pytest
from pynetdicom import evt

from hcserver.drivers.base import Action, PrintFailure
from hcserver.drivers.dicom.association import (
    GRAYSCALE_META,
    PRINTER_INSTANCE,
    SOP_CLASSES,
    ConnectionLost,
    PrintAssociation,
)
from hcserver.simulator import Fault, PrinterSimulator
from tests.support.configs import dicom_config
from tests.support.daemon import DaemonProcess, wait_for
from tests.support.scu import SERVER, RecordingObserver, printer, run_job, sheet

pytestmark = pytest.mark.dicom

SUPPLY_LOW = ("WARNING", "SUPPLY LOW")
RANDOM_EVENT = ("WARNING", "RECEIVER FULL")


def n_get_printer(link: PrintAssociation):
    return link.send("N-GET", "printer", GRAYSCALE_META,
                     lambda a, m, i: a.send_n_get([0x21100010, 0x21100020], SOP_CLASSES["printer"],
                                                  PRINTER_INSTANCE, msg_id=i, meta_uid=m))


def in_thread(target) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = target()
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            outcome["error"] = exc
        outcome["ended"] = time.monotonic()

    thread = threading.Thread(target=run, daemon=True)
    return thread, outcome


def hold_the_reactor(assoc) -> tuple[threading.Event, threading.Event]:
    """Hold the association's reactor up the next time it looks for a message, so that it
    never pauses for a request: returns (held, let_go)."""
    held, let_go = threading.Event(), threading.Event()
    take = assoc.dimse.get_msg

    def get_msg(block: bool = False):
        if threading.current_thread() is assoc and not let_go.is_set():
            held.set()
            let_go.wait(30)
        return take(block)

    assoc.dimse.get_msg = get_msg
    return held, let_go


# --------------------------------------------------------------------------- the handshake
def test_an_event_served_as_a_request_starts_leaves_the_request_its_pause(sim):
    """The interleaving of the issue, forced: the event's thread is inside its handler when the
    request starts; the reactor pauses for the request; then the event's thread finishes."""
    link = PrintAssociation.open(printer(sim.port, dimse_timeout_s=1.0), SERVER)
    assoc = link._assoc
    in_handler, parked = threading.Event(), threading.Event()
    serving: list[threading.Thread] = []
    requesting: list[threading.Thread] = []
    answer, _ = assoc.get_handlers(evt.EVT_N_EVENT_REPORT)

    def answer_slowly(event):
        serving.append(threading.current_thread())
        in_handler.set()
        parked.wait(5)               # until the reactor has paused for the request
        return answer(event)

    class Checkpoint(threading.Event):
        """The reactor's checkpoint, sequencing the three threads."""

        def clear(self) -> None:
            super().clear()
            if threading.current_thread() in requesting:
                # The request waits for the pause only once the event's thread is done.
                assert parked.wait(5)
                serving[0].join(5)

        def wait(self, timeout=None):
            if threading.current_thread() is assoc and not self.is_set():
                parked.set()         # the reactor has said it is paused, and waits
            return super().wait(timeout)

    checkpoint = Checkpoint()
    checkpoint.set()
    assoc.bind(evt.EVT_N_EVENT_REPORT, answer_slowly)
    assoc._reactor_checkpoint = checkpoint
    worker, outcome = in_thread(lambda: n_get_printer(link))
    try:
        assert sim.send_event_report(*SUPPLY_LOW, wait=False) == 1
        assert in_handler.wait(5)
        time.sleep(0.05)             # the reactor goes round (and past the event's flag) meanwhile
        requesting.append(worker)
        worker.start()
        worker.join(8)               # the exchange's deadline is 1 + 2 s
        stuck = worker.is_alive()
    finally:
        if worker.is_alive():
            assoc._is_paused = True  # let the spinning thread go
        link.abort()
    assert not stuck, "the request still waits for a reactor pause that was lost"
    assert "error" not in outcome, outcome.get("error")
    (status, attrs), _ = outcome["result"]
    assert status.Status == 0x0000 and attrs.PrinterStatus == "NORMAL"
    assert [(e.status, e.info, e.answered) for e in link.take_events()] == [(*SUPPLY_LOW, 0x0000)]


@pytest.mark.parametrize("close, words", [
    (False, "the printer aborted the association (A-ABORT, source: service-user)"),
    (True, "the printer closed the connection without an A-ABORT"),
], ids=["A-ABORT", "closed"])
def test_the_printer_ending_the_association_ends_a_wait_for_the_pause_at_once(sim, close, words):
    link = PrintAssociation.open(printer(sim.port, dimse_timeout_s=5.0), SERVER)
    held, let_go = hold_the_reactor(link._assoc)
    worker, outcome = in_thread(lambda: n_get_printer(link))
    try:
        assert held.wait(5)
        worker.start()
        time.sleep(0.2)              # waiting for a pause that does not come
        ended = time.monotonic()
        assert sim.drop_associations(close=close) == 1
        worker.join(10)
        assert not worker.is_alive()
    finally:
        let_go.set()
        link.abort()
    error = outcome.get("error")
    assert isinstance(error, ConnectionLost), outcome
    assert outcome["ended"] - ended < 1.5        # not at the exchange's deadline (5 + 2 s)
    assert error.reason == f"N-GET printer: {words}; association ended (HCSIM@127.0.0.1:{sim.port})"
    assert sim.received_count("N-GET") == 0      # it was never sent


@pytest.mark.slow
def test_a_pause_that_never_comes_is_bounded_from_the_start_and_the_job_resumes(sim, drivers):
    driver = drivers(printer(sim.port, dimse_timeout_s=1.0))
    holds: list[tuple[threading.Event, threading.Event]] = []

    class HoldAfterFirstFilm(RecordingObserver):
        started: float = 0.0

        def film_accepted(self, index, output):
            super().film_accepted(index, output)
            if index == 0:           # the worker's next exchange is the film box N-DELETE
                holds.append(hold_the_reactor(driver._current()._assoc))
                assert holds[0][0].wait(5)
                self.started = time.monotonic()

    observer = HoldAfterFirstFilm()
    job, outcome = in_thread(lambda: run_job(driver, [sheet(i) for i in range(3)], observer=observer))
    try:
        job.start()
        job.join(15)
        assert not job.is_alive(), "the job waits for good"
    finally:
        for _, let_go in holds:
            let_go.set()
    failure = outcome.get("error")
    assert isinstance(failure, PrintFailure) and failure.action is Action.RETRY, outcome
    # 1 s DIMSE timeout + 2 s grace, counted from the start of the exchange
    assert 2.8 < outcome["ended"] - observer.started < 4.5
    assert failure.reason == (f"N-DELETE film-box: the request could not be sent within 3 s (the "
                              f"association's reactor did not pause for it); association aborted "
                              f"(HCSIM@127.0.0.1:{sim.port})")
    assert [index for index, *_ in observer.accepted] == [0] and len(sim.films) == 1
    # The retry starts at the first unprinted film, on a new association.
    run_job(driver, [sheet(i) for i in (1, 2)])
    assert len(sim.films) == 3
    assert driver.associations_opened == 2


# --------------------------------------------------------------------------- stress
STRESS_JOBS = (20, 60)       # at least, at most: jobs go on until MIN_EVENTS reports were answered
MIN_EVENTS = 250
STRESS_LAYOUTS = ("STANDARD\\1,1", "STANDARD\\1,2", "STANDARD\\2,1")   # tells a job's films apart


@pytest.mark.slow
@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "verbose"])
def test_hundreds_of_event_reports_racing_requests(images, verbose):
    """Through the daemon (``hcserver serve -v`` too: pynetdicom's debug logging changes the
    timing), 3-film jobs one after another: an N-EVENT-REPORT right after every N-ACTION
    response and more at random moments (seeded); every job completes in time and every film
    is printed exactly once."""
    frames = [images["CT_small.dcm"], images["MR_small.dcm"]]
    after_print = Fault("N-ACTION", behaviour="event-after", event=SUPPLY_LOW, times=None)
    with PrinterSimulator(port=0, faults=[after_print], random_events=40, random_event=RANDOM_EVENT,
                          seed=20) as simulator:

        def answered() -> int:
            return sum(1 for e in simulator.log if e["operation"] == "N-EVENT-REPORT" and e["status"] == 0)

        process = DaemonProcess(dicom_config({"sim": simulator.port})).start(args=("-v",) if verbose else ())
        start = time.monotonic()
        results = []
        try:
            with process.client() as hc:
                while len(results) < STRESS_JOBS[1] and (len(results) < STRESS_JOBS[0]
                                                         or answered() < MIN_EVENTS):
                    films = [{"film_size": "14INX17IN", "layout": layout, "frames": frames[:1 + i % 2]}
                             for i, layout in enumerate(STRESS_LAYOUTS)]
                    job = hc.submit({"printer": "sim", "label": f"stress {len(results)}", "films": films})
                    results.append(hc.wait(job, timeout=20))
                    if results[-1]["state"] != "completed":    # e.g. a stuck worker: still processing
                        break
        finally:
            seconds = time.monotonic() - start
            process.cleanup()
        wait_for(lambda: simulator.open_associations == 0, 5, "the daemon's association to end")
        events = [e for e in simulator.log if e["operation"] == "N-EVENT-REPORT"]
        films = simulator.films
    jobs = len(results)
    assert [r["state"] for r in results] == ["completed"] * jobs, results[-1]
    printed = collections.Counter((f["film_session"]["label"], f["film_box"]["image_display_format"])
                                  for f in films)
    assert len(films) == 3 * jobs and set(printed.values()) == {1}
    assert after_print.fired == sum(1 for e in events if e["event"] == list(SUPPLY_LOW)) == 3 * jobs
    at_random = sum(1 for e in events if e["event"] == list(RANDOM_EVENT))
    assert sum(1 for e in events if e["status"] == 0x0000) >= MIN_EVENTS
    assert {e["status"] for e in events} <= {0x0000, None}    # None: the association ended first
    print(f"{jobs} jobs, {len(films)} films, {len(events)} event reports ({after_print.fired} "
          f"after an N-ACTION, {at_random} at random), {seconds:.1f} s, verbose={verbose}")
