"""pynetdicom's association reactor, kept out of the way of our requests.

A pynetdicom requestor keeps running its association reactor, which takes
requests from the peer off the DIMSE message queue; ``send_n_*()`` pauses it
while waiting for the response. Two flaws of pynetdicom 3.0 are fixed here for
every association we request; the associations the DICOM front door accepts
(hcserver.dicom_in.listener) get the same classes, for their idle waits and
their reads (an acceptor sends no requests, so the pause is never asked of it).

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

Idle associations
-----------------
pynetdicom polls: its network (DUL) thread sleeps 1 ms between looks at the
socket and at the queue of PDUs to send, and the association's reactor
thread sleeps 1 ms between looks at the DIMSE message queue. An association
held open between jobs therefore wakes two threads a thousand times a
second each (about 0.04 cores per association, 1.3 cores for 32 printers).
Both loops are made to wait for their work instead (:class:`QuietDUL` and
:meth:`ReactorPause._run_reactor`):

* the network thread blocks in ``select()`` on the socket and a wake-up
  socket pair, with the ARTIM timer as its timeout; a PDU put on its send
  queue, an event put on its event queue by another thread (a connection
  closed) or the order to stop writes a byte to the pair. Once it has
  blocked, it goes round its loop without pynetdicom's 1 ms sleep;
* the reactor waits on an event set whenever the network thread hands the
  association something for it (a DIMSE request, an A-RELEASE or A-ABORT
  primitive; not a response, which the waiting request takes), when it is
  killed or its network thread stops, with the
  network timeout (``network_timeout``) as its timeout. While it waits it
  touches no queue, so it counts as paused: a request finds it paused at once.

Both also wake every :data:`BACKSTOP_S` whatever happens, so that nothing
pynetdicom changes without telling (a flag set in a code path not covered
here) can leave them asleep for longer than that. A thread sending a big
message is kept :data:`SEND_AHEAD` PDUs ahead of the network thread instead
of queueing all of them at once. The issue text for pynetdicom:
docs/upstream-pynetdicom-idle-polling.md.

The same polling cost every image a modality sends the front door some
milliseconds: the network thread slept between the PDUs of a message and
before sending the response, the reactor before taking the message. Waiting
for work instead, the threads hand each other a C-STORE at once; and the
socket (:class:`WholeReads`) reads a PDU in a few ``recv()`` calls, not 4 KiB
at a time.
"""
from __future__ import annotations

import logging
import queue
import select
import socket
import threading
import weakref
from collections.abc import Callable
from typing import Any, cast

from pynetdicom import evt
from pynetdicom.association import Association
from pynetdicom.dul import DULServiceProvider
from pynetdicom.pdu_primitives import P_DATA
from pynetdicom.transport import AssociationSocket

from hcserver.closing_guard import ignore_requests_while_closing

#: the longest either thread of an idle association sleeps without being woken
BACKSTOP_S = 0.5
#: P-DATA primitives a sending thread may queue ahead of the network thread (2 MiB at the
#: default 128 KiB PDU)
SEND_AHEAD = 16
#: pynetdicom's own delay between the network thread's looks, kept where it does not block
_POLL_S = 0.001

_LOG = logging.getLogger("pynetdicom.association")


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
    "The reactor's pause") and a reactor that waits for its work ("Idle associations").

    * ``_is_paused`` is only what the reactor thread (the association itself) says:
      a write made while another thread serves an incoming request (an N-EVENT-REPORT)
      is ignored. That thread takes nothing off the message queue and our handler sends
      nothing, so there is nothing for it to pause; a handler that did send would wait
      for the reactor's real pause, which comes.
    * A thread waiting for the pause gives up once the association has ended (A-ABORT
      from either side, connection closed or cut, killed): its reactor will never pause
      again. It gets the RuntimeError ``send_*()`` raise for an association that is not
      established; the request was not sent.
    * The reactor is paused whenever it waits for work; it leaves the pause only after
      checking, under ``_pause_lock``, that no request has cleared its checkpoint, and a
      request reads the flag under the same lock. So a request that finds it paused
      never shares the message queue with it.
    """

    _reactor_wake: threading.Event       # set whenever there may be work for the reactor
    _pause_lock: threading.Lock
    wakeups: int                         # rounds of the reactor's loop (tests count them)

    @property
    def _is_paused(self) -> bool:
        if threading.current_thread() is not self:
            if self._has_ended():
                raise RuntimeError("the association ended while the request waited to be sent")
            lock = self.__dict__.get("_pause_lock")
            if lock is not None:
                with lock:
                    return bool(self.__dict__.get("_is_paused", False))
        return bool(self.__dict__.get("_is_paused", False))

    @_is_paused.setter
    def _is_paused(self, value: bool) -> None:
        if getattr(_SERVING, "assoc", None) is self:
            return
        self.__dict__["_is_paused"] = value

    @property
    def _kill(self) -> bool:
        return bool(self.__dict__.get("_kill", False))

    @_kill.setter
    def _kill(self, value: bool) -> None:
        self.__dict__["_kill"] = value
        if value:
            _wake_reactor(self)

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

    def kill(self) -> None:
        super().kill()
        if isinstance(self.dul, QuietDUL) and not self.dul.is_alive():
            self.dul.close_wake()

    # -- the reactor -----------------------------------------------------------
    def _run_reactor(self) -> None:
        """pynetdicom's ``Association._run_reactor`` (3.0.4), the same checks in the same
        order, but waiting on ``_reactor_wake`` instead of sleeping 1 ms a round."""
        wake: threading.Event = self._reactor_wake
        lock: threading.Lock = self._pause_lock
        self._is_paused = True
        wake.set()                       # one round at the start, as pynetdicom's
        while not self._kill:
            self._reactor_checkpoint.wait()          # a request is being sent: wait for it
            wake.wait(self._idle_wait())
            wake.clear()
            self.wakeups += 1
            with lock:
                if self._kill:
                    break
                if not self._reactor_checkpoint.is_set():
                    wake.set()           # a request started meanwhile: look again after it
                    continue
                self._is_paused = False
            try:
                if self._reactor_round(wake):
                    return
            finally:
                self._is_paused = True

    def _idle_wait(self) -> float:
        """How long the reactor may wait when nothing wakes it."""
        dul = self.dul
        wait = BACKSTOP_S
        if dul.__dict__.get("_kill_thread"):
            wait = 0.01                  # the network thread is stopping: see it gone soon
        timer = dul._idle_timer
        if timer.timeout is not None:
            wait = min(wait, max(timer.remaining, 0.0) + _POLL_S)
        return wait

    def _reactor_round(self, wake: threading.Event) -> bool:
        """One round of pynetdicom's reactor; True when the association has ended."""
        context_id, msg = self.dimse.get_msg(block=False)
        if msg:
            self._serve_request(msg, cast(int, context_id))
            wake.set()                   # there may be more
        if self.is_established and self.acse.is_release_requested():
            self.acse.send_release(is_response=True)
            _LOG.info("Association Released")
            self.is_released = True
            self.is_established = False
            evt.trigger(self, evt.EVT_RELEASED, {})
            self.kill()
            return True
        if self.acse.is_aborted():
            log_msg = "Association Aborted"
            if self.acse.is_aborted("a-p-abort"):
                log_msg += " (A-P-ABORT)"
            _LOG.info(log_msg)
            self.dul.receive_pdu(wait=False)         # EVT_ACSE_RECV fires for subscribers
            self.is_aborted = True
            self.is_established = False
            evt.trigger(self, evt.EVT_ABORTED, {})
            self.kill()
            return True
        if not self.dul.is_alive():
            self.kill()
            return True
        if self.dul.idle_timer_expired():
            _LOG.error("Network timeout reached")
            if self.network_timeout_response == "A-RELEASE":
                self._is_paused = True
                self._reactor_checkpoint.wait()
                self.release()
                self._is_paused = False
            else:
                self.abort()
            self.kill()
            return True
        return False


def _wake_reactor(assoc: Any) -> None:
    wake = assoc.__dict__.get("_reactor_wake")
    if wake is not None:
        wake.set()


def _wake_after_put(q: queue.Queue[Any], wake: Callable[[], None]) -> None:
    """Call ``wake`` after every ``put`` on ``q`` (``put_nowait`` goes through ``put``)."""
    put = q.put

    def put_and_wake(item: Any, block: bool = True, timeout: float | None = None) -> None:
        put(item, block, timeout)
        wake()

    q.put = put_and_wake  # type: ignore[method-assign]


def _send_ahead_bounded(dul: QuietDUL) -> None:
    """Wake the network thread for every primitive put on its send queue; and hold a thread
    that puts P-DATA there while the queue holds more than :data:`SEND_AHEAD` of them.

    pynetdicom encodes a whole DIMSE message into P-DATA primitives at once and queues them
    all: a 48 MB image box N-SET was a second copy of its bytes, queued, while the network
    thread sent it. Held back, the sending thread keeps a few PDUs ahead of the network
    thread, which sends just as fast. It is let go when the network thread ends (its queue
    is never read again), and looks again every :data:`BACKSTOP_S` whatever happens.
    """
    q = dul.to_provider_queue
    put = q.put

    def put_and_wake(item: Any, block: bool = True, timeout: float | None = None) -> None:
        put(item, block, timeout)
        dul.wake()
        if isinstance(item, P_DATA) and threading.current_thread() is not dul:
            with q.not_full:
                while len(q.queue) > SEND_AHEAD and not dul._kill_thread and dul.is_alive():
                    q.not_full.wait(BACKSTOP_S)

    q.put = put_and_wake  # type: ignore[method-assign]


def _wake_for_requests(assoc: Any) -> None:
    """Wake the reactor for what it takes off the DIMSE message queue: a request from the
    peer, or the ``(None, None)`` put there when the association ends. A response is taken
    by the request waiting for it (:func:`leave_responses_to_the_request`), never by the
    reactor: waking it for every response would cost a thread switch per exchange."""
    q = assoc.dimse.msg_queue
    put = q.put

    def put_and_wake(item: Any, block: bool = True, timeout: float | None = None) -> None:
        put(item, block, timeout)
        msg = item[1] if isinstance(item, tuple) and len(item) == 2 else None
        if getattr(msg, "MessageIDBeingRespondedTo", None) is None:
            _wake_reactor(assoc)

    q.put = put_and_wake


class QuietDUL(DULServiceProvider):
    """pynetdicom 3.0's network thread, blocking in ``select()`` while there is nothing
    to do (module docstring, "Idle associations").

    pynetdicom's loop is already running when an association becomes one of these, so
    the loop stays pynetdicom's; the wait goes into :meth:`_is_transport_event`, which
    the loop calls every round in which it has no PDU of ours to send. Where it cannot
    block (no socket, Sta13, stopping) it keeps pynetdicom's 1 ms poll.
    """

    def setup_wake(self) -> None:
        ignore_requests_while_closing(self.state_machine)
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        writer.setblocking(False)
        self._wake_pair: tuple[socket.socket, socket.socket] | None = (reader, writer)
        self._asleep = False
        self.wakeups = 0
        weakref.finalize(self, _close_pair, reader, writer)

    def close_wake(self) -> None:
        pair = self.__dict__.pop("_wake_pair", None)
        self._wake_pair = None
        if pair is not None:
            _close_pair(*pair)

    def wake(self) -> None:
        """Get the thread out of ``select()``, if it is in there (any thread may call)."""
        if self._asleep:
            self._asleep = False
            pair = self._wake_pair
            if pair is not None:
                try:
                    pair[1].send(b"\0")
                except OSError:          # full (a byte is waiting already) or closed
                    pass

    @property
    def _kill_thread(self) -> bool:
        return bool(self.__dict__.get("_kill_thread", False))

    @_kill_thread.setter
    def _kill_thread(self, value: bool) -> None:
        self.__dict__["_kill_thread"] = value
        if value:
            if threading.current_thread() is self:
                self.close_wake()        # the loop ends before it would block again
            else:
                self.wake()
            _wake_reactor(self._assoc)

    def _is_transport_event(self) -> bool:
        self.wakeups += 1
        if super()._is_transport_event():
            self._run_loop_delay = 0.0
            return True
        if not self._may_block():
            self._run_loop_delay = _POLL_S
            return False
        self._run_loop_delay = 0.0       # woken for a reason: no sleep before the next round
        self._block()
        return bool(super()._is_transport_event())

    def _may_block(self) -> bool:
        sock = self.socket
        return bool(self.__dict__.get("_wake_pair") is not None and not self._kill_thread
                    and sock is not None and getattr(sock, "socket", None) is not None
                    and sock._is_connected and self.state_machine.current_state != "Sta13")

    def _block(self) -> None:
        pair = self._wake_pair
        raw = self.socket.socket if self.socket is not None else None
        if pair is None or raw is None:
            return
        timeout = BACKSTOP_S
        artim = self.artim_timer
        if artim.timeout is not None and artim._start_time is not None and artim._end_time is None:
            timeout = min(timeout, max(artim.remaining, _POLL_S))
        self._asleep = True
        try:
            # After _asleep: whoever puts work now also writes to the pair.
            if self.to_provider_queue.queue or self.event_queue.queue or self._kill_thread:
                return
            ready, _, _ = select.select([raw, pair[0]], [], [], timeout)
        except (OSError, ValueError):   # the socket was closed under us: the next look sees it
            return
        finally:
            self._asleep = False
        if pair[0] in ready:
            try:
                pair[0].recv(4096)
            except OSError:
                pass


class WholeReads(AssociationSocket):
    """pynetdicom 3.0's association socket, reading what the network thread asks for
    (a PDU: up to ``max_pdu`` bytes) straight into one buffer, in as few ``recv()`` calls
    as the kernel hands it over, instead of 4 KiB at a time into a growing ``bytearray``
    (a 0.5 MB image was some 130 calls and as many copies in the network thread)."""

    def recv(self, nr_bytes: int) -> bytearray:
        sock = cast(socket.socket, self.socket)
        buffer = bytearray(nr_bytes)
        got = 0
        with memoryview(buffer) as view:
            while got < nr_bytes:
                count = sock.recv_into(view[got:], nr_bytes - got)
                if not count:            # the connection is closed: what there is (as pynetdicom)
                    break
                got += count
        if got < nr_bytes:
            del buffer[got:]
        return buffer


def _close_pair(reader: socket.socket, writer: socket.socket) -> None:
    reader.close()
    writer.close()


def use_reactor_pause(event: evt.Event) -> None:
    """EVT_CONN_OPEN: make the association a :class:`ReactorPause`, its network thread a
    :class:`QuietDUL` and its socket :class:`WholeReads`; for the associations we request
    and for those we accept (the DICOM front door) alike.

    ``AE.associate()`` creates a plain ``Association`` and starts it before returning;
    this event is the first public hook that gets hold of it, in the network thread,
    while the association request is still going on: before any DIMSE message can be
    sent or received, and before the association's reactor loop starts. An accepted
    association gets it in the server's thread for the connection, before either of
    its threads is started. The instance's
    ``_is_paused``, ``_kill`` and ``_kill_thread`` entries are shadowed by the properties
    (a data descriptor on the class wins) and read through them.
    """
    assoc = event.assoc
    if type(assoc) is not Association:
        return
    assoc.__class__ = ReactorPause
    paused = cast(ReactorPause, assoc)
    paused._reactor_wake = threading.Event()
    paused._pause_lock = threading.Lock()
    paused.wakeups = 0
    if type(assoc.dul) is DULServiceProvider:
        assoc.dul.__class__ = QuietDUL
        dul = cast(QuietDUL, assoc.dul)
        dul.setup_wake()
        _send_ahead_bounded(dul)
        _wake_after_put(dul.event_queue, dul.wake)
        _wake_after_put(dul.to_user_queue, lambda: _wake_reactor(assoc))
        if type(dul.socket) is AssociationSocket:
            dul.socket.__class__ = WholeReads
    _wake_for_requests(assoc)
