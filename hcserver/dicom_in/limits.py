"""What a peer may send the front door, counted as it arrives.

pynetdicom collects each DIMSE message in memory until its last fragment (a C-STORE's data set,
an N-CREATE's or N-SET's attribute list) and only then hands it to a route, so the routes'
own checks (``max_association_bytes`` of images, ``max_image_pixels``) come after the whole
message is in the daemon's memory, and ``max_pdu`` bounds a PDU, not a message. Here every
P-DATA-TF PDU an accepted association receives is counted by the network thread as it is read
(pynetdicom's ``EVT_DATA_RECV``, before the PDU is decoded or handed on): an association whose
P-DATA passes ``max_association_bytes``, or one message (its command set or data set, fragment
after fragment) that passes ``max_message_bytes``, is aborted (A-ABORT) at that PDU. The part of
the message received is dropped with the association and reaches no route; images acknowledged
before are kept (the store route's durability), a film session that was not printed leaves
nothing. So an association holds at most about ``max_message_bytes`` of a message in memory
(pynetdicom's buffer of it), whatever the peer announces or sends.

All associations together are held to ``max_bytes_in_flight`` (a :class:`~hcserver.budget.ByteBudget`): a message's
bytes count from its first fragment until it has been handled, that is until the association's
next message begins (a peer sends it once the last was answered) or the association ends. An
association whose message would pass it is aborted at that PDU as above, so the front door holds
at most about ``max_bytes_in_flight`` of messages, not ``max_associations`` times
``max_message_bytes``.
"""
from __future__ import annotations

import logging
import struct
import threading
from typing import Any

from hcserver.budget import ByteBudget

log = logging.getLogger(__name__)

_P_DATA_TF = 0x04
_PDV_HEADER = struct.Struct(">LBB")     # item length, presentation context ID, message control header
_LAST_FRAGMENT = 0x02


_COMMAND = 0x01


class ByteLimits:
    """The bytes one association has sent, and the abort when they pass a limit."""

    def __init__(self, max_association_bytes: int, max_message_bytes: int, who: str,
                 in_flight: ByteBudget | None = None):
        self.max_association_bytes, self.max_message_bytes = max_association_bytes, max_message_bytes
        self.who = who                   # calling AE title and address, for the log
        self.received = 0                # P-DATA value bytes of the association
        self.message = 0                 # of the command set or data set being received
        self.exceeded: str | None = None
        self.in_flight = in_flight
        self.held = 0                    # bytes of its messages counted in in_flight
        self._lock = threading.Lock()

    def count(self, pdu: bytes) -> str | None:
        """Count one PDU as received; the reason to abort once a limit is passed (else None)."""
        if not pdu or pdu[0] != _P_DATA_TF or self.exceeded is not None:
            return None
        offset, end = 6, len(pdu)
        while offset + _PDV_HEADER.size <= end:
            length, _context, control = _PDV_HEADER.unpack_from(pdu, offset)
            value = max(length - 2, 0)
            if self.in_flight is not None:
                if control & _COMMAND and self.held:   # a new message: the ones before were handled
                    self.in_flight.give_back(self.held)
                    self.held = 0
                if not self.in_flight.take(value):
                    self.exceeded = (f"the front door's messages in flight would pass "
                                     f"{self.in_flight.limit} bytes (max_bytes_in_flight)")
                    return self.exceeded
                self.held += value
            self.received += value
            self.message += value
            if self.message > self.max_message_bytes:
                self.exceeded = (f"a message of more than {self.max_message_bytes} bytes "
                                 f"(max_message_bytes)")
                return self.exceeded
            if control & _LAST_FRAGMENT:
                self.message = 0
            offset += 4 + length
        if self.received > self.max_association_bytes:
            self.exceeded = (f"more than {self.max_association_bytes} bytes on one association "
                             f"(max_association_bytes)")
            return self.exceeded
        return None

    def close(self) -> None:
        """The association ended: its messages no longer count in flight."""
        with self._lock:
            if self.in_flight is not None and self.held:
                self.in_flight.give_back(self.held)
            self.held = 0

    def on_data(self, event: Any) -> None:
        """EVT_DATA_RECV (in the association's network thread): abort past a limit."""
        with self._lock:
            reason = self.count(event.data)
        if reason is None:
            return
        log.warning("front door: association from %s aborted: %s", self.who, reason)
        event.assoc.abort(block=False)   # A-ABORT queued: the network thread sends it next
