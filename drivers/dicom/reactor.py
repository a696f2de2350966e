"""pynetdicom's association reactor, kept out of the way of our requests.

A pynetdicom requestor keeps running its association reactor, which takes
requests from the peer off the DIMSE message queue; ``send_n_*()`` pauses it
while waiting for the response. Two flaws of pynetdicom 3.0 are fixed here for
every association we request.

Responses go to the request
---------------------------
The pause has a race (``send_n_*()`` reads a flag the reactor sets before it
actually waits), so under load the reactor can take the response itself, drop
it as "unexpected", and the request waits for the DIMSE timeout.
:func:`leave_responses_to_the_request` keeps the reactor's hands off anything
in the queue that is not a valid request.

The reactor's pause
-------------------
``send_n_*()`` clears the reactor's checkpoint and spins until the flag
``_is_paused`` says the reactor has stopped there. pynetdicom serves an
incoming N-EVENT-REPORT in a thread of its own, and that thread sets the same
flag around the handler and then clears it: when the clearing lands after
the reactor has stopped at its checkpoint, the request spins for good (the
reactor waits for the request, the request for a flag nobody sets again, and
neither a deadline nor an A-ABORT reaches that loop). A printer that reports
its status right after a response hits this as we send the next request.
:class:`ReactorPause` (pynetdicom's ``Association`` with only the reactor's
own writes counting, and the wait given up once the association has ended)
is what every association we request is turned into, before it can send or
receive anything (:func:`use_reactor_pause`); the issue text for pynetdicom
is docs/upstream-pynetdicom-event-report-pause.md. Every exchange also runs
under a deadline from the moment it starts, before the wait for the pause
(:meth:`hcserver.drivers.dicom.association.PrintAssociation.send`): a wait
that does not end has its connection cut, and the job is retried.
"""
from __future__ import annotations

import threading
from typing import Any

from pynetdicom import evt
from pynetdicom.association import Association


def leave_responses_to_the_request(assoc: Any) -> None:
    """Let the association's reactor take only requests off the DIMSE message queue
    (see the module docstring); responses and wake-ups stay for the waiting request."""
    dimse = assoc.dimse
    messages = dimse.msg_queue
    take = dimse.get_msg

    def get_msg(block: bool = False) -> Any:
        if not block:
            with messages.mutex:
                head = messages.queue[0][1] if messages.queue else None
                if messages.queue and (head is None or not head.is_valid_request):
                    return None, None
        return take(block)

    dimse.get_msg = get_msg


# The association whose incoming request the current thread is serving (see ReactorPause).
_SERVING = threading.local()


class ReactorPause(Association):
    """pynetdicom 3.0's ``Association`` with its pause handshake fixed (module docstring,
    "The reactor's pause").

    * ``_is_paused`` is only what the reactor thread (the association itself) says:
      a write made while another thread serves an incoming request (an N-EVENT-REPORT)
      is ignored. That thread takes nothing off the message queue and our handler sends
      nothing, so there is nothing for it to pause; a handler that did send would wait
      for the reactor's real pause, which comes.
    * A thread waiting for the pause gives up once the association has ended (A-ABORT
      from either side, connection closed or cut, killed): its reactor will never pause
      again. It gets the RuntimeError ``send_*()`` raise for an association that is not
      established; the request was not sent.
    """

    @property
    def _is_paused(self) -> bool:
        if threading.current_thread() is not self and self._has_ended():
            raise RuntimeError("the association ended while the request waited to be sent")
        return self.__dict__.get("_is_paused", False)

    @_is_paused.setter
    def _is_paused(self, value: bool) -> None:
        if getattr(_SERVING, "assoc", None) is self:
            return
        self.__dict__["_is_paused"] = value

    def _serve_request(self, msg: Any, context_id: int) -> None:
        if threading.current_thread() is self:
            super()._serve_request(msg, context_id)
            return
        _SERVING.assoc = self
        try:
            super()._serve_request(msg, context_id)
        finally:
            _SERVING.assoc = None

    def _has_ended(self) -> bool:
        return bool(self._kill or self._sent_abort or not self.is_established
                    or self.dul.state_machine.current_state in ("Sta1", "Sta13")
                    or not self.dul.is_alive() or self.acse.is_aborted())


def use_reactor_pause(event: evt.Event) -> None:
    """EVT_CONN_OPEN: make the association being requested a :class:`ReactorPause`.

    ``AE.associate()`` creates a plain ``Association`` and starts it before returning;
    this event is the first public hook that gets hold of it, in the network thread,
    while the association request is still going on: before any DIMSE message can be
    sent or received. The instance's ``_is_paused`` entry is shadowed by the property
    (a data descriptor on the class wins) and read through it.
    """
    if type(event.assoc) is Association:
        event.assoc.__class__ = ReactorPause
