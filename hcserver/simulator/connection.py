"""What the faults do to an association's connection underneath pynetdicom: stall until the
peer goes away, close the connection without an A-ABORT, write raw bytes, let an A-ABORT out."""
from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from typing import Any

from pynetdicom import evt
from pynetdicom._handlers import standard_dimse_recv_handler

from hcserver.simulator.faults import GARBAGE, Fault, partial_pdata
from hcserver.simulator.state import AssocState

LOG = logging.getLogger(__name__)


def log_received(event: Any) -> None:
    """pynetdicom's own log of a received DIMSE message (its standard EVT_DIMSE_RECV handler), but
    for an N-GET whose Attribute Identifier List holds one tag or none: pynetdicom 3.0 cannot count
    those and logs a traceback instead (the request itself is served)."""
    cs = event.message.command_set
    if "AttributeIdentifierList" in cs and not isinstance(cs.AttributeIdentifierList, list):
        return
    standard_dimse_recv_handler(event)


def quiet_n_get_logging(assoc: Any) -> None:
    """Use :func:`log_received` for this association's received messages."""
    try:
        assoc.unbind(evt.EVT_DIMSE_RECV, standard_dimse_recv_handler)
    except Exception:  # pragma: no cover - not bound (pynetdicom's log handler level is not "standard")
        return
    assoc.bind(evt.EVT_DIMSE_RECV, log_received)


def assoc_gone(assoc: Any) -> bool:
    try:
        return (assoc.is_aborted or not assoc.dul.is_alive() or assoc.acse.is_aborted()
                or assoc.dul.state_machine.current_state == "Sta1")
    except Exception:  # pragma: no cover
        return True


def wait(assoc: Any, seconds: float | None, stopping: threading.Event) -> bool:
    """Sleep ``seconds`` (None: until the peer goes away or we stop).
    True if the association is still there afterwards."""
    deadline = None if seconds is None else time.monotonic() + seconds
    while True:
        if stopping.is_set() or assoc_gone(assoc):
            return False
        if deadline is not None and time.monotonic() >= deadline:
            return True
        stopping.wait(0.02)


def close_connection(assoc: Any) -> None:
    """Close the TCP connection (a reset, no A-ABORT) and wait until pynetdicom noticed."""
    sock = assoc.dul.socket.socket if assoc.dul.socket else None
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and not assoc_gone(assoc):
        time.sleep(0.01)


def let_abort_out(assoc: Any, state: str) -> None:
    """After asking for an A-ABORT in ``state`` (a state machine state), wait until it is sent,
    at most 2 s: pynetdicom would otherwise close the connection first."""
    deadline = time.monotonic() + 2.0
    while assoc.dul.state_machine.current_state == state and time.monotonic() < deadline:
        time.sleep(0.005)


def write_raw(assoc: Any, st: AssocState, fault: Fault, context_id: int, stopping: threading.Event) -> None:
    """``garbage`` and ``half-pdu``: bytes straight on the connection instead of an answer."""
    assoc.is_established = False      # keep pynetdicom from answering after us
    if fault.behaviour == "garbage":
        data = GARBAGE if fault.payload is None else fault.payload
    else:
        data = partial_pdata(context_id)
    with st.send_lock:
        try:
            assoc.dul.socket.socket.sendall(data)
        except OSError as exc:
            LOG.warning("could not write to %s: %s", st.calling_ae, exc)
    if fault.behaviour == "garbage":
        wait(assoc, 10.0 if fault.stall_s is None else fault.stall_s, stopping)
    elif fault.stall_s:
        wait(assoc, fault.stall_s, stopping)
    close_connection(assoc)
