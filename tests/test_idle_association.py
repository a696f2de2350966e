"""An association held open between jobs waits for its work instead of polling
(drivers/dicom/reactor.py, "Idle associations").

pynetdicom's two threads per association (the network thread and the association's
reactor) look for work every millisecond: a thousand wake-ups a second each, for every
printer whose association is held open. These tests count the rounds the two loops go
(a behavioural figure, not a speed: an idle association wakes a few times a second, for
its backstop, whatever the machine), and check that what the loops used to catch by
polling still ends an idle association: the network timeout, an A-ABORT or a closed
connection from the printer, and a release or abort of ours. The associations the DICOM
front door accepts wait for their work the same way.
"""
from __future__ import annotations

import time

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.fsm import InvalidEventError, StateMachine

from hcserver.closing_guard import ignore_requests_while_closing
from hcserver.drivers.dicom.association import (
    GRAYSCALE_META,
    PRINTER_INSTANCE,
    SOP_CLASSES,
    PrintAssociation,
)
from hcserver.drivers.dicom.reactor import (
    BACKSTOP_S,
    SEND_AHEAD,
    QuietDUL,
    ReactorPause,
)
from tests.support.daemon import wait_for
from tests.support.images import write_image
from tests.support.scu import SERVER, printer

pytestmark = pytest.mark.dicom

WINDOW_S = 1.0
#: rounds allowed in WINDOW_S: the backstop's and a margin; polling would be about 1000
MAX_ROUNDS = 50


def rounds(link: PrintAssociation) -> tuple[int, int]:
    assoc = link._assoc
    return assoc.wakeups, assoc.dul.wakeups


def wait_until_asleep(link: PrintAssociation) -> None:
    """Until neither loop has gone round between two looks 50 ms apart: both wait in select()
    (polling would have gone round some fifty times)."""
    seen: list[tuple[int, int]] = []

    def settled() -> bool:
        seen.append(rounds(link))
        return len(seen) > 1 and seen[-1] == seen[-2]

    wait_for(settled, 5, "both loops to fall asleep")


def wake_pair(assoc):
    """The network thread's wake-up sockets; the association's DUL must be ours to have them."""
    assert type(assoc.dul) is QuietDUL
    pair = assoc.dul._wake_pair
    assert pair is not None and all(sock.fileno() != -1 for sock in pair)
    return pair


def n_get_printer(link: PrintAssociation) -> str:
    (status, attrs), _ = link.send(
        "N-GET", "printer", GRAYSCALE_META,
        lambda a, m, i: a.send_n_get([0x21100010, 0x21100020], SOP_CLASSES["printer"], PRINTER_INSTANCE,
                                     msg_id=i, meta_uid=m))
    assert status.Status == 0x0000
    return str(attrs.PrinterStatus)


def test_an_idle_association_wakes_a_few_times_a_second_and_answers_at_once(sim):
    link = PrintAssociation.open(printer(sim.port), SERVER)
    try:
        assert type(link._assoc) is ReactorPause and type(link._assoc.dul) is QuietDUL
        assert n_get_printer(link) == "NORMAL"
        before = rounds(link)
        time.sleep(WINDOW_S)         # the window in which the loops are counted
        reactor, network = (after - first for after, first in zip(rounds(link), before))
        assert reactor < MAX_ROUNDS and network < MAX_ROUNDS, (reactor, network)
        assert reactor >= 1 and network >= 1      # they do go round, for the backstop
        # Work after the idle window is served as before: the request finds the reactor paused.
        assert [n_get_printer(link) for _ in range(3)] == ["NORMAL"] * 3
    finally:
        link.release()
    assert wait_for(lambda: sim.open_associations == 0, 5, "the release")


def test_the_network_timeout_ends_an_idle_association(sim):
    # pynetdicom's reactor checks the idle timer as it polls; ours wakes for it.
    link = PrintAssociation.open(printer(sim.port, network_timeout_s=0.5), SERVER)
    assoc = link._assoc
    pair = wake_pair(assoc)
    wait_for(lambda: not assoc.is_established, 0.5 + BACKSTOP_S + 3, "the network timeout")
    assert assoc.is_released          # network_timeout_response is A-RELEASE
    wait_for(lambda: not assoc.is_alive() and not assoc.dul.is_alive(), 5, "both threads to end")
    assert [sock.fileno() for sock in pair] == [-1, -1]      # its wake-up sockets are closed


@pytest.mark.parametrize("close", [False, True], ids=["A-ABORT", "closed"])
def test_the_printer_ending_an_idle_association_is_seen_at_once(sim, close):
    link = PrintAssociation.open(printer(sim.port), SERVER)
    assoc = link._assoc
    wait_until_asleep(link)
    assert sim.drop_associations(close=close) == 1
    # Well before the backstop would have woken the reactor twice.
    wait_for(lambda: not assoc.is_established and not assoc.is_alive(), 2 * BACKSTOP_S,
             "the association to end")
    assert assoc.is_aborted
    wait_for(lambda: not assoc.dul.is_alive(), 5, "the network thread to end")
    link.abort()                     # as the driver does with a dead association: nothing to send


@pytest.mark.parametrize("end", ["release", "abort"])
def test_ending_an_idle_association_ourselves_stops_both_threads(sim, end):
    link = PrintAssociation.open(printer(sim.port), SERVER)
    assoc = link._assoc
    pair = wake_pair(assoc)
    wait_until_asleep(link)
    getattr(link, end)()
    wait_for(lambda: not assoc.is_alive() and not assoc.dul.is_alive(), 5, "both threads to end")
    assert [sock.fileno() for sock in pair] == [-1, -1]      # its wake-up sockets are closed
    wait_for(lambda: sim.open_associations == 0, 5, "the printer to see it end")


def test_a_big_request_is_queued_a_few_pdus_ahead_of_the_network_thread(sim):
    """pynetdicom queues every P-DATA PDU of a message at once (a 48 MB image box: a second
    copy of it in the queue); the sending thread is held a few PDUs ahead instead."""
    link = PrintAssociation.open(printer(sim.port), SERVER)
    queue = link._assoc.dul.to_provider_queue
    put, queued = queue.put, []

    def put_and_count(item, block=True, timeout=None):
        put(item, block, timeout)
        queued.append(len(queue.queue))

    queue.put = put_and_count
    ds = Dataset()
    ds.add_new(0x21100030, "OB", bytes(8_000_000))      # 8 MB: 62 PDUs of the printer's 128 KiB
    try:
        (status, _), _ = link.send(
            "N-SET", "printer", GRAYSCALE_META,
            lambda a, m, i: a.send_n_set(ds, SOP_CLASSES["printer"], PRINTER_INSTANCE,
                                         msg_id=i, meta_uid=m))
        assert status is not None and "Status" in status     # answered (the printer refuses it)
        assert n_get_printer(link) == "NORMAL"               # and the association goes on
    finally:
        link.release()
    assert len(queued) > 3 * SEND_AHEAD
    assert max(queued) <= SEND_AHEAD + 1


def test_an_association_the_front_door_accepts_waits_for_its_work_too(front_door, tmp_path):
    """A modality's association held open to the front door, between its images."""
    door = front_door()
    images = [pydicom.dcmread(write_image(tmp_path / f"img{n}.dcm", np.full((16, 16), n, np.uint8),
                                          StudyInstanceUID="1.2.3.9", InstanceNumber=n + 1))
              for n in range(2)]
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(images[0].SOPClassUID, images[0].file_meta.TransferSyntaxUID)
    modality = ae.associate("127.0.0.1", door.port, ae_title="AUTOFILM")
    assert modality.is_established
    try:
        assert int(modality.send_c_store(images[0]).Status) == 0x0000
        (accepted,) = list(door.door._associations)
        assert type(accepted) is ReactorPause and type(accepted.dul) is QuietDUL
        before = accepted.wakeups, accepted.dul.wakeups
        time.sleep(WINDOW_S)         # the window in which the loops are counted
        reactor, network = (after - first for after, first in zip((accepted.wakeups, accepted.dul.wakeups), before))
        assert reactor < MAX_ROUNDS and network < MAX_ROUNDS, (reactor, network)
        # The next image after the idle window is served as before.
        assert int(modality.send_c_store(images[1]).Status) == 0x0000
    finally:
        modality.release()
    wait_for(lambda: not accepted.is_alive() and not accepted.dul.is_alive(), 5, "both threads to end")
    assert wait_for(door.jobs, 10, "the batch to be queued")


def test_a_request_of_ours_after_the_connection_began_to_close_is_dropped_not_raised():
    # Sta13: the peer's release reply or rejection has come and the connection is closing. An
    # abort or P-DATA of ours put at that moment made pynetdicom raise in its network thread.
    machine = StateMachine(dul=None)
    machine.current_state = "Sta13"
    with pytest.raises(InvalidEventError):
        machine.do_action("Evt15")
    ignore_requests_while_closing(machine)
    for event in ("Evt15", "Evt9", "Evt11"):   # A-ABORT, P-DATA, A-RELEASE requests
        machine.do_action(event)
    assert machine.current_state == "Sta13"
    machine.current_state = "Sta1"             # elsewhere pynetdicom's check stands
    with pytest.raises(InvalidEventError):
        machine.do_action("Evt9")
