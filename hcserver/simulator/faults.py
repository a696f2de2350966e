"""The fault language: rules that change how the simulator answers (:class:`Fault`), their
command-line form (:data:`FAULT_SYNTAX`, :func:`parse_fault`) and what the raw protocol faults
send in place of an answer."""
from __future__ import annotations

import copy
import re
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from hcserver.simulator.sop import EVENT_TYPES, SOP_ALIASES

OPERATIONS = ("C-ECHO", "N-GET", "N-CREATE", "N-SET", "N-ACTION", "N-DELETE", "A-ASSOCIATE")
DIMSE_BEHAVIOURS = ("status", "abort", "stall", "close", "event-report", "event-after",
                    "garbage", "half-pdu", "wrong-message-id", "malformed", "print-job-failure")
ASSOC_BEHAVIOURS = ("reject", "no-contexts", "abort", "stall", "close")

#: What a ``garbage`` fault writes by default: a PDU of type 0xA5, which PS3.8 does not define.
GARBAGE = b"\xa5\x00" + struct.pack(">I", 10) + b"not DICOM!"


def partial_pdata(context_id: int) -> bytes:
    """The first 20 bytes of a P-DATA-TF PDU that announces 200 (a ``half-pdu`` fault):
    PDU header, then one PDV item (command, last fragment) cut short after the start
    of the Command Group Length element."""
    pdv_head = struct.pack(">IBB", 194, context_id, 0x03)
    return b"\x04\x00" + struct.pack(">I", 200) + pdv_head + b"\x00\x00\x00\x00\x04\x00\x00\x00"


@dataclass
class Fault:
    """A rule that changes how the simulator answers matching requests.

    operation
        ``C-ECHO``, ``N-GET``, ``N-CREATE``, ``N-SET``, ``N-ACTION``,
        ``N-DELETE``, ``A-ASSOCIATE`` (the association request itself), or
        ``None`` for any DIMSE request.
    sop_class
        ``film-session``, ``film-box``, ``image-box`` (grayscale or colour),
        ``grayscale-image-box``, ``color-image-box``, ``printer``,
        ``print-job``, ``presentation-lut``, ``annotation-box``,
        ``printer-configuration``, ``verification``, a SOP Class UID, or
        ``None`` for any class.
    behaviour
        ``status``: answer ``status`` instead of the normal status. With a
        success or warning status the operation is still carried out (a
        warning on N-ACTION still prints the film); with a failure it is not.
        ``abort``: send an A-ABORT instead of answering.
        ``stall``: wait ``stall_s`` seconds, then answer (``status`` if
        given); ``stall_s=None`` never answers.
        ``close``: close the TCP connection without an A-ABORT.
        ``event-report``: send an N-EVENT-REPORT (Printer SOP Class, event
        type 1/2/3 for NORMAL/WARNING/FAILURE, Printer Status Info) for
        ``event`` (default: the current printer status), then answer
        (``status`` if given).
        ``event-after``: answer (``status`` if given), then send that
        N-EVENT-REPORT right behind the response, without waiting for its
        answer (see "Printer events" in :mod:`hcserver.simulator`).
        ``garbage``: instead of answering, write ``payload`` (default
        :data:`GARBAGE`, a PDU of an unknown type) on the connection, wait
        until the peer goes away (at most ``stall_s``, default 10 s), then
        close the connection.
        ``half-pdu``: instead of answering, write the first bytes of a
        P-DATA-TF PDU that announces more, then close the connection (after
        ``stall_s`` seconds if given; meanwhile the peer waits mid-PDU).
        ``wrong-message-id``: answer (``status`` if given) with Message ID
        Being Responded To one more than the request's Message ID.
        ``malformed``: answer (``status`` if given), leaving the attributes
        named in ``omit`` out of the response's dataset and sending those in
        ``empty`` with no value (a sequence with no items). A name
        ``SEQUENCE/KEYWORD`` removes KEYWORD from every item of SEQUENCE.
        ``print-job-failure`` (N-ACTION only): print as usual, but the Print Job the
        print action creates ends in FAILURE, with ``comment`` (default ``FILM JAM``)
        as its Execution Status Info.
        For ``A-ASSOCIATE``: ``reject`` (A-ASSOCIATE-RJ with ``reject`` =
        (result, source, reason)), ``no-contexts`` (accept, but no
        presentation context), ``abort``, ``stall`` (delay the A-ASSOCIATE-AC)
        and ``close``.
    nth, times
        The rule fires from the ``nth`` matching request (1-based, counted
        from when the rule was added), ``times`` times (``None``: forever).
    perform
        Force (``True``) or prevent (``False``) carrying out the operation;
        ``None`` means the default described above. ``abort``/``close`` with
        ``perform=True`` model "done, but the answer was lost".
    comment
        Error Comment sent with a failure status.
    payload, omit, empty
        See ``garbage`` and ``malformed``.
    """

    operation: str | None = None
    sop_class: str | None = None
    status: int | None = None
    behaviour: str = "status"
    nth: int = 1
    times: int | None = 1
    stall_s: float | None = None
    event: tuple[str, str] | None = None
    reject: tuple[int, int, int] = (1, 1, 1)
    perform: bool | None = None
    comment: str | None = None
    payload: bytes | None = None
    omit: tuple[str, ...] = ()
    empty: tuple[str, ...] = ()
    seen: int = field(default=0, compare=False)
    fired: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.operation in ("*", ""):
            self.operation = None
        if self.operation is not None:
            self.operation = self.operation.upper()
            if self.operation not in OPERATIONS:
                raise ValueError(f"unknown operation {self.operation!r}; one of {', '.join(OPERATIONS)}")
        if self.sop_class in ("*", ""):
            self.sop_class = None
        if self.sop_class is not None:
            self.sop_class = self.sop_class.strip()
            if self.sop_class not in SOP_ALIASES and not re.fullmatch(r"[0-9.]+", self.sop_class):
                raise ValueError(f"unknown SOP class {self.sop_class!r}; one of {', '.join(SOP_ALIASES)}")
        self.behaviour = self.behaviour.lower()
        allowed = ASSOC_BEHAVIOURS if self.operation == "A-ASSOCIATE" else DIMSE_BEHAVIOURS
        if self.behaviour not in allowed:
            raise ValueError(f"behaviour {self.behaviour!r} not valid for {self.operation or 'DIMSE'}; "
                             f"one of {', '.join(allowed)}")
        if self.behaviour == "status" and self.status is None:
            raise ValueError("a 'status' fault needs a status code")
        if self.status is not None and not 0 <= int(self.status) <= 0xFFFF:
            raise ValueError(f"status out of range: {self.status!r}")
        if self.nth < 1:
            raise ValueError("nth counts from 1")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be at least 1 (None: forever)")
        if self.event is not None:
            st, info = (tuple(self.event) + ("",))[:2]
            st = str(st).upper()
            if st not in EVENT_TYPES:
                raise ValueError(f"event status must be NORMAL, WARNING or FAILURE, not {st!r}")
            self.event = (st, str(info or ""))
        self.reject = tuple(int(v) for v in self.reject)  # type: ignore[assignment]
        self.omit, self.empty = tuple(self.omit), tuple(self.empty)
        if self.behaviour == "malformed" and not (self.omit or self.empty):
            raise ValueError("a 'malformed' fault needs omit= or empty= attribute keywords")
        if (self.omit or self.empty) and self.behaviour != "malformed":
            raise ValueError("omit= and empty= go with the 'malformed' behaviour")
        if self.payload is not None and self.behaviour != "garbage":
            raise ValueError("payload= goes with the 'garbage' behaviour")
        if self.behaviour == "print-job-failure" and self.operation != "N-ACTION":
            raise ValueError("print-job-failure goes with N-ACTION (the print action makes the print job)")

    def matches(self, operation: str, sop_class_uid: str | None) -> bool:
        if self.operation is None:
            if operation == "A-ASSOCIATE":
                return False
        elif self.operation != operation:
            return False
        if self.sop_class is None:
            return True
        return sop_class_uid in SOP_ALIASES.get(self.sop_class, frozenset({self.sop_class}))

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times


FAULT_SYNTAX = """\
Fault syntax (--fault, repeatable):

  OPERATION[/SOPCLASS]:ACTION[:KEY=VALUE]...

  OPERATION  C-ECHO, N-GET, N-CREATE, N-SET, N-ACTION, N-DELETE, A-ASSOCIATE,
             or * (any DIMSE request)
  SOPCLASS   film-session, film-box, image-box, grayscale-image-box,
             color-image-box, printer, print-job, presentation-lut,
             annotation-box, printer-configuration, verification, or a UID
  ACTION     0xHHHH        answer this status (warnings still do the
                           operation, failures do not)
             abort         A-ABORT instead of answering
             stall         wait stall=SECONDS, then answer (no stall=: never)
             close         drop the TCP connection, no A-ABORT
             event-report  send an N-EVENT-REPORT (printer status) first
             event-after   answer, then send an N-EVENT-REPORT right behind the
                           response, not waiting for its answer
             garbage       write payload=HEX (default: a PDU of unknown type)
                           instead of answering
             half-pdu      write part of a P-DATA-TF PDU, then close (after
                           stall=SECONDS if given)
             wrong-message-id  answer with Message ID Being Responded To + 1
             malformed     answer without the attributes in omit=KW,KW and
                           with those in empty=KW,KW empty (SEQ/KW: in items)
             print-job-failure  (N-ACTION) print, but end the print job in
                           FAILURE with comment=INFO (default FILM JAM)
             for A-ASSOCIATE: reject, no-contexts, abort, stall, close
  KEYS       nth=N         fire from the Nth matching request (default 1)
             times=N|forever   how many times it fires (default 1)
             status=0xHHHH answer this status (with stall / event-report /
                           event-after)
             stall=SECONDS
             event=STATUS[/INFO]   e.g. event=FAILURE/FILM JAM
             reject=RESULT,SOURCE,REASON   e.g. reject=1,1,3 (A-ASSOCIATE)
             perform=yes|no    force / prevent doing the operation
             comment=TEXT  Error Comment sent with the status
             payload=HEX   bytes written by garbage
             omit=KW,KW  empty=KW,KW   attributes for malformed

  Examples:  N-ACTION:0xC602           N-SET:abort:nth=2
             N-ACTION/film-box:0xB603:times=forever
             N-CREATE/film-box:stall:stall=5
             N-ACTION:event-report:event=FAILURE/FILM JAM
             N-ACTION:event-after:event=WARNING/SUPPLY LOW:times=forever
             A-ASSOCIATE:reject:reject=2,3,1
             N-CREATE/film-box:malformed:omit=ReferencedImageBoxSequence
             N-SET:garbage:payload=ff00000000020000
             N-ACTION:print-job-failure:comment=SUPPLY EMPTY
"""


def _parse_bool(value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "yes", "true", "on", "y"):
        return True
    if v in ("0", "no", "false", "off", "n"):
        return False
    raise ValueError(f"not a yes/no value: {value!r}")


def _parse_status(value: str) -> int:
    return int(value, 16) if value.lower().startswith("0x") else int(value, 0)


def parse_printer_status(value: str) -> tuple[str, str]:
    """``STATUS[:INFO]`` (or ``STATUS/INFO``), as the printer status and events are given."""
    status, _, info = value.replace("/", ":", 1).partition(":")
    status = status.strip().upper()
    if status not in EVENT_TYPES:
        raise ValueError(f"printer status must be NORMAL, WARNING or FAILURE, not {status!r}")
    return status, info.strip()


def parse_fault(spec: str) -> Fault:
    """Parse the command-line form described in :data:`FAULT_SYNTAX`."""
    parts = spec.split(":")
    if len(parts) < 2:
        raise ValueError(f"fault {spec!r}: expected OPERATION[/SOPCLASS]:ACTION[:KEY=VALUE]...")
    op, _, sop = parts[0].partition("/")
    action = parts[1].strip()
    kwargs: dict[str, Any] = {"operation": op.strip() or None, "sop_class": sop.strip() or None}
    if re.fullmatch(r"0[xX][0-9a-fA-F]{1,4}|\d+", action):
        kwargs["behaviour"] = "status"
        kwargs["status"] = _parse_status(action)
    else:
        kwargs["behaviour"] = action.lower()
    # Values may contain ':' (event=FAILURE:FILM JAM): glue stray pieces back on.
    items: list[str] = []
    for piece in parts[2:]:
        if "=" in piece or not items:
            items.append(piece)
        else:
            items[-1] += ":" + piece
    for item in items:
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not eq:
            raise ValueError(f"fault {spec!r}: expected KEY=VALUE, got {item!r}")
        if key == "nth":
            kwargs["nth"] = int(value)
        elif key == "times":
            kwargs["times"] = None if value.strip().lower() in ("forever", "inf", "*", "none") else int(value)
        elif key == "status":
            kwargs["status"] = _parse_status(value.strip())
        elif key in ("stall", "stall_s", "s"):
            kwargs["stall_s"] = float(value)
        elif key == "event":
            kwargs["event"] = parse_printer_status(value)
        elif key == "reject":
            vals = [int(v, 0) for v in value.split(",")]
            if len(vals) != 3:
                raise ValueError(f"fault {spec!r}: reject=RESULT,SOURCE,REASON")
            kwargs["reject"] = tuple(vals)
        elif key == "perform":
            kwargs["perform"] = _parse_bool(value)
        elif key == "comment":
            kwargs["comment"] = value
        elif key == "payload":
            try:
                kwargs["payload"] = bytes.fromhex(value)
            except ValueError:
                raise ValueError(f"fault {spec!r}: payload= takes hexadecimal bytes") from None
        elif key in ("omit", "empty"):
            kwargs[key] = tuple(k.strip() for k in value.split(",") if k.strip())
        else:
            raise ValueError(f"fault {spec!r}: unknown key {key!r}")
    try:
        return Fault(**kwargs)
    except ValueError as exc:
        raise ValueError(f"fault {spec!r}: {exc}") from None


def malform(ds: Dataset | None, omit: Iterable[str], empty: Iterable[str]) -> Dataset | None:
    """A ``malformed`` fault's response dataset (see :class:`Fault`)."""
    if ds is None:
        return None
    ds = copy.deepcopy(ds)
    for name in omit:
        seq, _, inner = name.partition("/")
        if not inner:
            if seq in ds:
                delattr(ds, seq)
            continue
        for item in ds.get(seq) or []:
            if inner in item:
                delattr(item, inner)
    for name in empty:
        setattr(ds, name, Sequence([]) if name.endswith("Sequence") else None)
    return ds



class FaultRules:
    """The rules in force, in the order they were added. Each matching request counts towards
    every rule it matches; the first rule that is due fires."""

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        self._lock = threading.Lock()
        self._faults = list(faults)

    def add(self, fault: Fault) -> None:
        fault.seen = fault.fired = 0
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def rules(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, operation: str, sop_class_uid: str | None) -> Fault | None:
        """The rule that fires on this request, if any."""
        with self._lock:
            chosen = None
            for fault in self._faults:
                if fault.exhausted or not fault.matches(operation, sop_class_uid):
                    continue
                fault.seen += 1
                if chosen is None and fault.seen >= fault.nth:
                    fault.fired += 1
                    chosen = fault
            return chosen
