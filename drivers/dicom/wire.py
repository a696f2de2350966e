"""What the network thread saw on one association's connection, and why it ended in words.

pynetdicom tells only *that* an association ended. :class:`Wire` watches the
connection (the PDU headers read, a PDU cut short, socket and TLS errors, the
state machine event that ended it, the last DIMSE message received), so that
the reason can say what happened: "the printer closed the connection in the
middle of a P-DATA-TF PDU (20 of 206 bytes received)", "unknown PDU type
0xA5", "A-ABORT, source: service-provider, reason: unexpected PDU", "TLS
handshake ... failed: the printer's certificate was not accepted: self-signed
certificate". Requests carry increasing Message IDs, and a response must
answer the request's (Message ID Being Responded To, PS3.7 9.3.1) with the
matching command (:meth:`Wire.wrong_response`).

The wire also holds the connection's socket, so it is what a deadline cuts
(:meth:`Wire.deadline`, :meth:`Wire.cut`).
"""
from __future__ import annotations

import logging
import socket
import ssl
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pynetdicom import evt

from hcserver.drivers.dicom import watchdog
from hcserver.drivers.dicom.tls import tls_text
from hcserver.drivers.settings import PrinterConfig

log = logging.getLogger(__name__)

# PDU types (PS3.8 9.3.1) and A-ABORT source/reason (PS3.8 table 9-26).
PDU_NAMES = {1: "A-ASSOCIATE-RQ", 2: "A-ASSOCIATE-AC", 3: "A-ASSOCIATE-RJ", 4: "P-DATA-TF",
             5: "A-RELEASE-RQ", 6: "A-RELEASE-RP", 7: "A-ABORT"}
_ABORT_SOURCES = {0: "service-user", 1: "reserved source", 2: "service-provider"}
_ABORT_REASONS = {0: "reason not specified", 1: "unrecognized PDU", 2: "unexpected PDU",
                  4: "unrecognized PDU parameter", 5: "unexpected PDU parameter",
                  6: "invalid PDU parameter value"}
# State machine events (PS3.8 table 9-10) that end an association: we abort, an A-ABORT
# arrives, the connection closes, the ARTIM timer expires, an invalid PDU arrives; and the
# events of PDUs that are valid but may arrive in some states only (-> PDU type).
_ENDING_EVENTS = frozenset({"Evt15", "Evt16", "Evt17", "Evt18", "Evt19"})
_UNEXPECTED_PDU_EVENTS = {"Evt3": 2, "Evt4": 3, "Evt6": 1, "Evt10": 4, "Evt12": 5, "Evt13": 6}

# DIMSE command fields we look at in received messages.
N_EVENT_REPORT_RQ = 0x0100
_N_CREATE_RSP = 0x8140
#: request operation -> the command field of its response (PS3.7 E.1)
_RESPONSE_FIELDS = {"C-ECHO": 0x8030, "N-GET": 0x8110, "N-SET": 0x8120, "N-ACTION": 0x8130,
                    "N-CREATE": 0x8140, "N-DELETE": 0x8150}
_COMMAND_NAMES = {0x0001: "C-STORE-RQ", 0x8001: "C-STORE-RSP", 0x0030: "C-ECHO-RQ", 0x8030: "C-ECHO-RSP",
                  0x0100: "N-EVENT-REPORT-RQ", 0x8100: "N-EVENT-REPORT-RSP", 0x0110: "N-GET-RQ",
                  0x8110: "N-GET-RSP", 0x0120: "N-SET-RQ", 0x8120: "N-SET-RSP", 0x0130: "N-ACTION-RQ",
                  0x8130: "N-ACTION-RSP", 0x0140: "N-CREATE-RQ", 0x8140: "N-CREATE-RSP",
                  0x0150: "N-DELETE-RQ", 0x8150: "N-DELETE-RSP", 0x0FFF: "C-CANCEL-RQ"}


def a_pdu(pdu_type: int | None) -> str:
    """'a P-DATA-TF PDU', 'an A-ABORT PDU', 'a PDU'."""
    name = PDU_NAMES.get(pdu_type or 0)
    if name is None:
        return "a PDU"
    return f"{'an' if name.startswith('A-') else 'a'} {name} PDU"


def peer_of(printer: PrinterConfig) -> str:
    return f"{printer.ae_title}@{printer.host}:{printer.port}"


class Wire:
    """What the network thread saw on one association's connection (see the module docstring).

    Written by pynetdicom's network thread (event handlers, the socket's ``recv``
    wrapped at connection time, the TLS handshake); read by the requesting thread
    after its call has returned. Only the first of each kind of finding is kept:
    what follows the first fault is usually its consequence.
    """

    def __init__(self, printer: PrinterConfig):
        self.printer = printer
        self.connected = False                              # TCP (and TLS) connection made
        self.socket: Any = None                             # pynetdicom's AssociationSocket
        self.was_cut = False                                # we cut the connection (a deadline)
        self.tls_error: OSError | None = None               # the TLS handshake failed
        self.error: OSError | None = None                   # reading from the connection failed
        self.error_mid_pdu: tuple[int, int] | None = None   # ...while reading this (type, length)
        self.bad_type: int | None = None                    # an unknown PDU type was read
        self.last_pdu: tuple[int, int] | None = None        # (type, length) of the last whole PDU
        self.short: tuple[int | None, int, int] | None = None  # (type, got, total): PDU cut short
        self.abort_pdu: tuple[int, int] | None = None       # (source, reason) of an A-ABORT received
        self.ended_by: str | None = None                    # state machine event that ended it
        self.ended_action: str | None = None
        self.last_message: tuple[int, int | None] | None = None  # (command field, responding to)
        self.last_created_uid: str | None = None            # Affected SOP Instance of the last N-CREATE-RSP
        self._reading: tuple[int, int] | None = None        # header of the PDU being read

    # -- hooks -----------------------------------------------------------------
    def handlers(self) -> list[tuple[Any, Callable]]:
        return [(evt.EVT_CONN_OPEN, self._on_conn_open),
                (evt.EVT_FSM_TRANSITION, self._on_transition),
                (evt.EVT_DIMSE_RECV, self._on_dimse_recv)]

    def tls_handshake_failed(self, exc: OSError) -> None:
        self.tls_error = exc

    def _on_conn_open(self, event: evt.Event) -> None:
        """Runs in the network thread right after the connection (and TLS handshake)."""
        self.connected = True
        sock = event.assoc.dul.socket
        if sock is None:   # pragma: no cover - pynetdicom opens the connection before this event
            return
        self.socket = sock
        try:
            raw = sock.socket
            assert raw is not None   # connected
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # pynetdicom reads and writes without a timeout once connected: a PDU that
            # stops half way would hold the network thread for good.
            raw.settimeout(self.printer.dimse_timeout_s)
        except (AttributeError, OSError) as exc:  # pragma: no cover - platform specific
            log.debug("could not set socket options: %s", exc)
        inner = sock.recv

        def recv(nr_bytes: int) -> bytearray:
            try:
                data = inner(nr_bytes)
            except OSError as exc:
                if self.error is None:
                    self.error, self.error_mid_pdu = exc, self._reading or (0, 0)
                raise
            self._saw(data)
            return data

        sock.recv = recv   # type: ignore[method-assign]  # follow every read pynetdicom makes

    def _saw(self, data: bytearray) -> None:
        """Follow pynetdicom's reads: a 6-byte PDU header, then (for a known type) its body."""
        if self._reading is None:
            if len(data) == 6:
                pdu_type, _, length = struct.unpack(">BBL", bytes(data))
                if pdu_type in PDU_NAMES:
                    self._reading = (pdu_type, length)
                elif self.bad_type is None:
                    self.bad_type = pdu_type
            elif data and self.short is None:
                self.short = (data[0], len(data), 6)
            return
        pdu_type, length = self._reading
        self._reading = None
        if len(data) < length:
            if self.short is None:
                self.short = (pdu_type, 6 + len(data), 6 + length)
            return
        self.last_pdu = (pdu_type, length)
        if pdu_type == 7 and len(data) >= 4 and self.abort_pdu is None:
            self.abort_pdu = (data[2], data[3])

    def _on_transition(self, event: evt.Event) -> None:
        if self.ended_by is None and (event.fsm_event in _ENDING_EVENTS or event.action == "AA-8"):
            self.ended_by, self.ended_action = event.fsm_event, event.action
        if event.action == "AA-8":
            # An invalid or unexpected PDU: pynetdicom sends an A-ABORT but does not wake a
            # request waiting for its response, which would then wait for the DIMSE timeout.
            try:
                event.assoc.dimse.msg_queue.put((None, None))
            except Exception:  # pragma: no cover - defensive
                pass

    def _on_dimse_recv(self, event: evt.Event) -> None:
        """Runs in the network thread, before the message is queued or served."""
        try:
            cs = event.message.command_set
            field = cs.get("CommandField")
            if field == N_EVENT_REPORT_RQ:     # the printer's, not an answer to us
                return
            responding_to = cs.get("MessageIDBeingRespondedTo")
            self.last_message = (int(field or 0), None if responding_to is None else int(responding_to))
            if field == _N_CREATE_RSP:
                uid = cs.get("AffectedSOPInstanceUID")
                self.last_created_uid = str(uid) if uid else None
        except Exception as exc:  # never break the network thread
            log.warning("could not inspect a received DIMSE message: %s", exc)

    # -- deadlines ---------------------------------------------------------------
    @contextmanager
    def deadline(self, seconds: float) -> Iterator[None]:
        """Cut the connection if the block has not ended within ``seconds``."""
        with watchdog.deadline(seconds, self.cut):
            yield

    def cut(self) -> None:
        """Shut the connection down under pynetdicom's feet: a blocked read or write in
        the network thread returns, the state machine sees the connection closed."""
        sock = getattr(self.socket, "socket", None)
        if sock is None:
            return
        self.was_cut = True
        log.warning("connection to printer %s cut: it did not finish a PDU or an abort in time",
                    peer_of(self.printer))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- words -----------------------------------------------------------------
    @staticmethod
    def settle(assoc: Any) -> None:
        """Wait (a little) for the network thread of an association that ended to finish,
        so that what it saw is all recorded: pynetdicom wakes the requesting thread before
        its state machine reports the transition."""
        try:
            assoc.dul.join(watchdog.ABORT_GRACE_S)
        except (AttributeError, RuntimeError):   # never started
            pass

    def describe(self) -> str | None:
        """What the printer did that ended the association, in words; None if it was
        not the printer (we aborted, a deadline) or nothing was seen."""
        ev = self.ended_by
        if ev == "Evt19":
            if self.bad_type is not None:
                return (f"the printer sent data that is not a DICOM PDU (unknown PDU type "
                        f"0x{self.bad_type:02X})")
            name = PDU_NAMES.get(self.last_pdu[0], "") if self.last_pdu else ""
            return f"the printer sent an invalid {name} PDU that could not be decoded".replace("  ", " ")
        if self.ended_action == "AA-8":
            return (f"the printer sent {a_pdu(_UNEXPECTED_PDU_EVENTS.get(ev or ''))}, which is not "
                    "allowed at this point")
        if ev == "Evt16":
            text = "the printer aborted the association (A-ABORT"
            if self.abort_pdu is not None:
                source, reason = self.abort_pdu
                text += f", source: {_ABORT_SOURCES.get(source, source)}"
                if source == 2:
                    text += f", reason: {_ABORT_REASONS.get(reason, f'0x{reason:02X}')}"
            return text + ")"
        if ev == "Evt17" and not self.was_cut:
            if self.short is not None:
                pdu_type, got, total = self.short
                if total == 6:
                    return f"the printer closed the connection in the middle of a PDU header ({got} of 6 bytes)"
                return (f"the printer closed the connection in the middle of {a_pdu(pdu_type)} "
                        f"({got} of {total} bytes received)")
            if isinstance(self.error, ssl.SSLError):
                return f"the TLS connection failed: {tls_text(self.error)}"
            if isinstance(self.error, TimeoutError):
                pdu_type, length = self.error_mid_pdu or (0, 0)
                what = f"{a_pdu(pdu_type)} of {6 + length} bytes" if pdu_type else "a PDU"
                return (f"the printer stopped sending in the middle of {what} (nothing more for "
                        f"{self.printer.dimse_timeout_s:g} s)")
            if self.error is not None:
                return f"the connection failed: {self.error}"
            return "the printer closed the connection without an A-ABORT"
        if ev == "Evt18":
            return "the printer did not close the connection after the association ended (ARTIM timeout)"
        return None

    def partial(self) -> str:
        """' (a P-DATA-TF PDU had arrived only in part: 20 of 206 bytes)' or ''."""
        if self.short is None or self.short[2] == 6:
            return ""
        pdu_type, got, total = self.short
        return f" ({a_pdu(pdu_type)} had arrived only in part: {got} of {total} bytes)"

    def wrong_response(self, operation: str, msg_id: int) -> str | None:
        """Why the last DIMSE message received is not the response to request ``msg_id``."""
        got = self.last_message
        want = _RESPONSE_FIELDS[operation]
        if got is None:   # what came was queued before the request went out
            return f"the printer's {_COMMAND_NAMES[want]} had arrived before the request was sent"
        field, responding_to = got
        if field != want:
            name = _COMMAND_NAMES.get(field, f"command 0x{field:04X}")
            return f"the printer sent {name} instead of the {_COMMAND_NAMES[want]}"
        if responding_to != msg_id:
            return (f"the printer's response answers Message ID {responding_to}, not the request's "
                    f"{msg_id} (Message ID Being Responded To)")
        return None
