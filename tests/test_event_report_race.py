"""N-EVENT-REPORTs from the printer racing our requests (issue: a printer that reports
"SUPPLY LOW" right after each N-ACTION response could hang its worker for good).

pynetdicom serves an incoming N-EVENT-REPORT in a thread of its own that sets and then
clears the flag a request waits on for the reactor's pause; when the clearing comes
after the reactor has paused, the request waits for ever (drivers/dicom/association.py,
"The reactor's pause"). The SCU side here is always the real association and driver
code against a real peer (the bundled simulator); where an interleaving has to be forced,
only the timing of threads is arranged (a handler that takes its time, a reactor held up),
never a response.
"""
from __future__ import annotations

import threading
import time

from drivers.dicom.association import GRAYSCALE_META, PRINTER_INSTANCE, SOP_CLASSES, PrintAssociation
from tests.test_dicom_driver import SERVER, printer, sim  # noqa: F401

SUPPLY_LOW = ("WARNING", "SUPPLY LOW")


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


# --------------------------------------------------------------------------- the handshake
def test_an_event_served_as_a_request_starts_leaves_the_request_its_pause(sim):
    """The interleaving of the issue, forced: the event's thread is inside its handler when the
    request starts; the reactor pauses for the request; then the event's thread finishes."""
    link = PrintAssociation.open(printer(sim.port, dimse_timeout_s=1.0), SERVER)
    assoc = link._assoc
    in_handler, parked = threading.Event(), threading.Event()
    serving: list[threading.Thread] = []
    requesting: list[threading.Thread] = []
    answer = link._answer_event_report

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
    link._answer_event_report = answer_slowly
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
