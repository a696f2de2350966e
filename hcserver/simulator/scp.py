"""The Print SCP itself: the AE, its associations, and each DIMSE request through the fault
rules to the operation that carries it out.

Notes on pynetdicom (3.0):

* Inside a handler ``assoc.abort()`` only queues the A-ABORT; after an
  ``EVT_REQUESTED`` handler pynetdicom closes the connection at once, so the
  ``A-ASSOCIATE`` abort fault waits until the A-ABORT has been sent.
* There is no setting to reject an association with an arbitrary
  result/source/reason: an ``EVT_REQUESTED`` handler sends the
  A-ASSOCIATE-RJ itself (pynetdicom then skips its own negotiation).
* pynetdicom never sets TCP_NODELAY; an ``EVT_CONN_OPEN`` handler sets it on
  every accepted socket.
* pynetdicom fills in a response's Message ID Being Responded To itself; an
  ``EVT_DIMSE_SENT`` handler changes it (the ``wrong-message-id`` fault)
  before the message is encoded.
"""
from __future__ import annotations

import logging
import random
import socket
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, evt

from hcserver.closing_guard import ignore_requests_while_closing
from hcserver.simulator import connection
from hcserver.simulator.capabilities import Capabilities
from hcserver.simulator.events import PrinterEvents
from hcserver.simulator.faults import Fault, FaultRules, malform, parse_fault, parse_printer_status
from hcserver.simulator.operations import category, perform, respond
from hcserver.simulator.printer import PrintJobs
from hcserver.simulator.records import Records
from hcserver.simulator.sop import (
    SOP_NAMES,
    BasicAnnotationBox,
    BasicColorImageBox,
    BasicColorPrintManagementMeta,
    BasicFilmBox,
    BasicFilmSession,
    BasicGrayscaleImageBox,
    BasicGrayscalePrintManagementMeta,
    PresentationLUT,
    Printer,
    PrinterConfigurationRetrieval,
    PrintJob,
    Verification,
)
from hcserver.simulator.state import Associations, AssocState, Result
from hcserver.simulator.tls import server_tls_context

LOG = logging.getLogger(__name__)


class PrinterSimulator:
    """A DICOM Print SCP simulating a film printer (see :mod:`hcserver.simulator`).

    ``start()`` returns once it listens (``port=0`` picks a free port, see
    :attr:`port`); ``stop()`` ends it; it is also a context manager.
    What it received is in :attr:`records` (also :attr:`films` and :attr:`log`).
    """

    def __init__(
        self,
        port: int = 0,
        ae_title: str = "HCSIM",
        out_dir: Path | str | None = None,
        color: bool = True,
        faults: Iterable[Fault] = (),
        printer_status: tuple[str, str] = ("NORMAL", "NORMAL"),
        max_pdu: int = 131072,
        bind: str = "127.0.0.1",
        *,
        refuse: tuple[int, int, int] | None = None,
        accept_contexts: bool = True,
        supports_12bit: bool = True,
        check_called_ae: bool = False,
        network_timeout: float | None = 60.0,
        dimse_timeout: float = 30.0,
        tls_cert_file: Path | str | None = None,
        tls_key_file: Path | str | None = None,
        tls_ca_file: Path | str | None = None,
        random_events: float = 0.0,
        random_event: tuple[str, str] | None = None,
        seed: int | None = None,
        profile: str | None = None,
        max_film_sessions: int | None = None,
        session_print_only: bool = False,
        print_job_seconds: float = 0.0,
        print_job_events: bool = False,
    ) -> None:
        # A printer profile (hcserver.profiles) restricts what it accepts to what the profile lists.
        self.capabilities = Capabilities.of_profile(profile) if profile else Capabilities()
        self.bind = bind
        self.port = int(port)
        self.ae_title = ae_title
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.color = color and self.capabilities.color
        self.max_pdu = max_pdu
        self.refuse = tuple(refuse) if refuse else None
        self.accept_contexts = accept_contexts
        self.supports_12bit = supports_12bit and self.capabilities.supports_12bit
        self.check_called_ae = check_called_ae
        self.network_timeout = network_timeout
        self.dimse_timeout = dimse_timeout
        if (tls_key_file or tls_ca_file) and not tls_cert_file:
            raise ValueError("TLS needs the simulator's certificate (tls_cert_file)")
        self.tls_cert_file = tls_cert_file
        self.tls_key_file = tls_key_file
        self.tls_ca_file = tls_ca_file     # given: clients must present a certificate it signed
        if random_events < 0:
            raise ValueError("random_events is a rate (events per second), not negative")
        self.random_events = float(random_events)   # N-EVENT-REPORTs per second, at random moments
        # what they report (default: the current printer status)
        self.random_event = parse_printer_status(":".join(random_event)) if random_event else None
        self.seed = seed
        if max_film_sessions is not None and max_film_sessions < 1:
            raise ValueError("max_film_sessions is at least 1 (None: no limit)")
        # film sessions one association may hold at once; one more is refused with 0x0213
        self.max_film_sessions = max_film_sessions
        # prints whole film sessions only: a film box's N-ACTION is answered 0xC616
        self.session_print_only = session_print_only
        if print_job_seconds < 0:
            raise ValueError("print_job_seconds is a time, not negative")
        # a print job is PENDING, then PRINTING, and DONE this long after its print action (0: at once)
        self.print_job_seconds = float(print_job_seconds)
        self.print_job_events = print_job_events   # report each change of a print job (N-EVENT-REPORT)
        self._random_thread: threading.Thread | None = None

        self.records = Records()           # what it received
        self.print_jobs = PrintJobs()      # the print jobs its print actions made
        self._faults = FaultRules(faults)
        self._assocs = Associations()
        self._events = PrinterEvents(self._assocs, self.records)
        self._lock = threading.Lock()      # the printer status and the association counters
        self._printer_status = parse_printer_status(":".join(printer_status))
        self._stopping = threading.Event()
        self._ae: AE | None = None
        self._server: Any = None
        self.associations = 0
        self.releases = 0          # associations the SCU released (A-RELEASE)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> PrinterSimulator:
        if self._server is not None:
            return self
        self.records.open(self.out_dir)
        ae = AE(ae_title=self.ae_title)
        ae.maximum_pdu_size = self.max_pdu
        ae.network_timeout = self.network_timeout
        ae.dimse_timeout = self.dimse_timeout
        ae.acse_timeout = 30
        ae.maximum_associations = 32
        ae.require_called_aet = self.check_called_ae
        caps = self.capabilities
        ts = [ImplicitVRLittleEndian] if caps.implicit_only else [ImplicitVRLittleEndian, ExplicitVRLittleEndian]
        uids = [Verification, BasicGrayscalePrintManagementMeta, BasicFilmSession, BasicFilmBox,
                BasicGrayscaleImageBox, Printer, PrinterConfigurationRetrieval, PrintJob]
        uids += [PresentationLUT] if caps.presentation_lut else []
        uids += [BasicAnnotationBox] if caps.annotation_box else []
        if self.color:
            uids += [BasicColorPrintManagementMeta, BasicColorImageBox]
        for uid in uids:
            ae.add_supported_context(uid, ts)
        handlers: list[evt.EventHandlerType] = [
            (evt.EVT_CONN_OPEN, self._on_conn_open),
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_RELEASED, self._on_released),
            (evt.EVT_ABORTED, self._on_gone),
            (evt.EVT_CONN_CLOSE, self._on_gone),
            (evt.EVT_C_ECHO, self._on_c_echo),
            (evt.EVT_N_GET, self._on_n_get),
            (evt.EVT_N_CREATE, self._on_n_create),
            (evt.EVT_N_SET, self._on_n_set),
            (evt.EVT_N_ACTION, self._on_n_action),
            (evt.EVT_N_DELETE, self._on_n_delete),
            (evt.EVT_DIMSE_SENT, self._on_dimse_sent),
        ]
        self._stopping.clear()
        ssl_context = None
        if self.tls_cert_file:
            ssl_context = server_tls_context(self.tls_cert_file, self.tls_key_file, self.tls_ca_file)
        self._server = ae.start_server((self.bind, self.port), block=False, evt_handlers=handlers,
                                       ssl_context=ssl_context)
        self._ae = ae
        self.port = int(self._server.server_address[1])
        if self.random_events > 0:
            self._random_thread = threading.Thread(target=self._random_events_loop,
                                                   name="simulator-random-events", daemon=True)
            self._random_thread.start()
        LOG.info("printer simulator %s listening on %s:%d%s", self.ae_title, self.bind, self.port,
                 " (TLS)" if ssl_context else "")
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()           # releases stalled handlers
        try:
            if self._random_thread is not None:
                self._random_thread.join(5)
                self._random_thread = None
            assert self._ae is not None
            self._ae.shutdown()
        finally:
            self._server = None
            self._ae = None
            self._assocs.clear()

    def __enter__(self) -> PrinterSimulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        return self.bind, self.port

    # ------------------------------------------------------------------ runtime control
    def add_fault(self, fault: Fault | str | None = None, **kwargs: Any) -> Fault:
        """Add a rule: a :class:`Fault`, its command-line form, or Fault keywords."""
        if isinstance(fault, str):
            fault = parse_fault(fault)
        elif fault is None:
            fault = Fault(**kwargs)
        self._faults.add(fault)
        return fault

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        return self._faults.rules

    @property
    def printer_status(self) -> tuple[str, str]:
        with self._lock:
            return self._printer_status

    def set_printer_status(self, status: str, info: str = "", notify: bool = False) -> None:
        """Set what N-GET Printer answers; ``notify`` also sends an
        N-EVENT-REPORT to every open association."""
        with self._lock:
            self._printer_status = parse_printer_status(f"{status}:{info}")
        if notify:
            self.send_event_report()

    def send_event_report(self, status: str | None = None, info: str | None = None,
                          wait: bool = True) -> int:
        """Send a Printer N-EVENT-REPORT to every open association now (from
        the caller's thread); returns how many were sent (answered, with ``wait``).
        ``wait=False`` does not wait for the answers (see "Printer events" in
        :mod:`hcserver.simulator`)."""
        event = self.printer_status if status is None else parse_printer_status(f"{status}:{info or ''}")
        ae = self._ae
        if ae is None:
            return 0
        sent = 0
        for assoc in list(ae.active_associations):
            if not assoc.is_established:
                continue
            st = self._assocs.state(assoc)
            if (self._events.send(assoc, st, None, event) if wait
                    else self._events.queue(assoc, st, event, None, assoc.dimse.send_msg)):
                sent += 1
        return sent

    def drop_associations(self, close: bool = False) -> int:
        """A-ABORT every open association now (a printer restarting), or with ``close``
        close their connections without one (a printer switched off); returns how many."""
        ae = self._ae
        dropped = 0
        for assoc in list(ae.active_associations) if ae is not None else []:
            if not assoc.is_established:
                continue
            if close:
                connection.close_connection(assoc)
            else:
                # A blocking abort() from outside the association's thread ends its reactor,
                # which closes the connection, racing the A-ABORT out: let it out first.
                assoc.abort(block=False)
                connection.let_abort_out(assoc, "Sta6")
                assoc.kill()
            dropped += 1
        return dropped

    def print_job_event(self, assoc: Any, job_uid: str, job: Any) -> None:
        """A print job changed (a timer thread of :class:`PrintJobs`): report it on the
        association that made it, if that is still in use, not waiting for the answer."""
        st = self._assocs.get(assoc)
        if st is not None:
            self._events.queue_print_job(assoc, st, job_uid, job)

    def _random_events_loop(self) -> None:
        """``random_events``: an N-EVENT-REPORT to one association in use, at random moments."""
        rng = random.Random(self.seed)
        while not self._stopping.wait(rng.expovariate(self.random_events)):
            in_use = self._assocs.established()
            if not in_use:
                continue
            assoc, st = in_use[rng.randrange(len(in_use))]
            self._events.queue(assoc, st, self.random_event or self.printer_status, None,
                               assoc.dimse.send_msg)

    # ------------------------------------------------------------------ records
    @property
    def films(self) -> list[dict[str, Any]]:
        return self.records.films

    @property
    def log(self) -> list[dict[str, Any]]:
        return self.records.log

    def received_count(self, operation: str | None = None, sop_class: str | None = None) -> int:
        """How many DIMSE requests were received (by operation / SOP class name or UID)."""
        return self.records.received_count(operation, sop_class)

    def wait_for_films(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until at least ``count`` films were printed."""
        return self.records.wait_for_films(count, timeout)

    def reset_records(self) -> None:
        """Forget the in-memory films and log (files are left alone)."""
        self.records.reset()

    @property
    def open_associations(self) -> int:
        """Associations established and not yet released, aborted or closed."""
        return len(self._assocs)

    @property
    def peak_open_associations(self) -> int:
        """The most associations in use (sending requests) at once."""
        return self._assocs.peak

    # ------------------------------------------------------------------ association events
    def _on_conn_open(self, event: Any) -> None:
        connection.quiet_n_get_logging(event.assoc)
        # a report of ours sent as the SCU's release completes must not end the network thread
        ignore_requests_while_closing(event.assoc.dul.state_machine)
        try:
            event.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except Exception:  # pragma: no cover - e.g. TLS wrapped
            pass
        self._events.prepare(event.assoc)

    def _on_requested(self, event: Any) -> None:
        assoc = event.assoc
        with self._lock:
            self.associations += 1
        prim = assoc.requestor.primitive
        calling = str(getattr(prim, "calling_ae_title", "") or "").strip()
        entry = {"direction": "in", "operation": "A-ASSOCIATE", "calling_ae": calling,
                 "sop_class": None, "sop_class_uid": None, "instance_uid": None, "status": None}
        fault = self._faults.take("A-ASSOCIATE", None)
        if fault is not None:
            entry["fault"] = fault.behaviour
            if fault.behaviour == "reject":
                self._reject(assoc, fault.reject, entry)
                return
            if fault.behaviour == "no-contexts":
                assoc.acceptor.supported_contexts = []
            elif fault.behaviour == "abort":
                entry["result"] = "aborted"
                self.records.add_log(entry)
                assoc.abort()
                # See the module notes: let the A-ABORT out before pynetdicom closes the socket.
                connection.let_abort_out(assoc, "Sta3")
                return
            elif fault.behaviour == "close":
                entry["result"] = "closed"
                self.records.add_log(entry)
                connection.close_connection(assoc)
                assoc.is_aborted = True        # pynetdicom then skips its negotiation
                return
            elif fault.behaviour == "stall":
                if not connection.wait(assoc, fault.stall_s, self._stopping):
                    entry["result"] = "peer gone"
                    self.records.add_log(entry)
                    assoc.is_aborted = True
                    return
        if self.refuse:
            self._reject(assoc, self.refuse, entry)
            return
        if not self.accept_contexts:
            assoc.acceptor.supported_contexts = []
        entry["result"] = "accepted"
        self.records.add_log(entry)

    def _reject(self, assoc: Any, rsd: tuple[int, ...], entry: dict[str, Any]) -> None:
        entry["result"] = "rejected {}/{}/{}".format(*rsd)
        self.records.add_log(entry)
        assoc.acse.send_reject(*rsd)
        evt.trigger(assoc, evt.EVT_REJECTED, {})
        # Like pynetdicom's own rejection: wait until the peer closed the connection.
        assoc.kill()

    def _on_gone(self, event: Any) -> None:
        with self._assocs.lock:       # no answer to an event is taken in between
            st = self._assocs.pop(event.assoc)
            if st is not None:        # events the association ended before answering
                self._events.log_unanswered(st)

    def _on_released(self, event: Any) -> None:
        with self._lock:
            self.releases += 1
        self._on_gone(event)

    # ------------------------------------------------------------------ DIMSE requests
    def _on_c_echo(self, event: Any) -> Any:
        return self._serve("C-ECHO", event)

    def _on_n_get(self, event: Any) -> Any:
        return self._serve("N-GET", event)

    def _on_n_create(self, event: Any) -> Any:
        return self._serve("N-CREATE", event)

    def _on_n_set(self, event: Any) -> Any:
        return self._serve("N-SET", event)

    def _on_n_action(self, event: Any) -> Any:
        return self._serve("N-ACTION", event)

    def _on_n_delete(self, event: Any) -> Any:
        return self._serve("N-DELETE", event)

    def _serve(self, op: str, event: Any) -> Any:
        req = event.request
        if op in ("N-CREATE", "C-ECHO"):
            sop = str(req.AffectedSOPClassUID or Verification)
            inst = req.AffectedSOPInstanceUID if op == "N-CREATE" else None
        else:
            sop = str(req.RequestedSOPClassUID)
            inst = req.RequestedSOPInstanceUID
        inst = str(inst) if inst else None
        st = self._assocs.state(event.assoc)
        fault = self._faults.take(op, sop)
        entry: dict[str, Any] = {
            "direction": "in", "operation": op, "calling_ae": st.calling_ae,
            "sop_class": SOP_NAMES.get(sop, sop), "sop_class_uid": sop,
            "instance_uid": inst, "context": SOP_NAMES.get(str(event.context.abstract_syntax),
                                                          str(event.context.abstract_syntax)),
            "message_id": req.MessageID, "fault": fault.behaviour if fault else None,
        }
        if op == "N-ACTION":
            entry["action_type"] = req.ActionTypeID
        try:
            res = self._with_fault(op, event, st, sop, inst, fault)
        except Exception as exc:  # a bug or a malformed request: answer, don't abort
            LOG.exception("simulator failed on %s %s", op, SOP_NAMES.get(sop, sop))
            res = Result(0x0110, comment=f"{type(exc).__name__}: {exc}"[:64])
        if res is None:
            entry["status"] = None
            self.records.add_log(entry)
            return 0x0110 if op in ("N-DELETE", "C-ECHO") else (0x0110, None)
        entry["status"] = res.status
        if res.instance_uid and not inst:
            entry["instance_uid"] = res.instance_uid
        if res.comment:
            entry["comment"] = res.comment
        if fault is not None and fault.behaviour == "malformed":
            res.ds = malform(res.ds, fault.omit, fault.empty)
        if fault is not None and fault.behaviour == "wrong-message-id":
            st.misnumber = int(req.MessageID)     # see _on_dimse_sent
        if fault is not None and fault.behaviour == "event-after":
            self._events.send_after(st, int(req.MessageID), fault.event or self.printer_status,
                                    str(event.context.abstract_syntax))
        self.records.add_log(entry)
        return respond(op, req, res)

    def _with_fault(self, op: str, event: Any, st: AssocState, sop: str, inst: str | None,
                    fault: Fault | None) -> Result | None:
        """Carry out the request as ``fault`` says; None: it gets no answer."""
        if fault is None:
            return perform(self, op, event, st, sop, inst, None)
        assoc = event.assoc
        b = fault.behaviour
        if b in ("garbage", "half-pdu"):
            if fault.perform:
                perform(self, op, event, st, sop, inst, None)
            connection.write_raw(assoc, st, fault, event.context.context_id, self._stopping)
            return None
        if b in ("abort", "close"):
            if fault.perform:
                perform(self, op, event, st, sop, inst, None)
            if b == "abort":
                assoc.abort()
            else:
                connection.close_connection(assoc)
                assoc.is_established = False     # keep pynetdicom from answering
            return None
        if b == "print-job-failure":
            res = perform(self, op, event, st, sop, inst, None)
            refs = res.ds.get("ReferencedPrintJobSequence") if res.ds is not None else None
            if refs:
                self.print_jobs.fail(str(refs[0].ReferencedSOPInstanceUID), fault.comment or "FILM JAM")
            return res
        if b == "stall":
            if not connection.wait(assoc, fault.stall_s, self._stopping):
                assoc.is_established = False
                return None
        elif b == "event-report":
            self._events.send(assoc, st, str(event.context.abstract_syntax), fault.event or self.printer_status)
        if fault.status is None:
            return perform(self, op, event, st, sop, inst, None)
        cat = category(fault.status)
        do_it = fault.perform if fault.perform is not None else cat in ("Success", "Warning")
        if not do_it:
            return Result(fault.status, comment=fault.comment or "injected fault")
        res = perform(self, op, event, st, sop, inst, fault.status)
        if category(res.status) == "Failure":
            return res            # the operation itself failed: say so
        res.status = fault.status
        res.comment = fault.comment or res.comment
        return res

    def _on_dimse_sent(self, event: Any) -> None:
        """A ``wrong-message-id`` fault: renumber the response before it is encoded."""
        st = self._assocs.get(event.assoc)
        if st is None or st.misnumber is None:
            return
        cs = event.message.command_set
        if cs.get("MessageIDBeingRespondedTo") == st.misnumber:
            cs.MessageIDBeingRespondedTo = (st.misnumber + 1) % 65536
            st.misnumber = None
