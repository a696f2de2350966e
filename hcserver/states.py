"""The state machines of jobs (DESIGN §2) and printers: states, named transitions, nothing else.

Every change of a job's state goes through :func:`transition`, which the queue applies in one
place (hcserver.queue.store, ``Store.move``); each one is recorded as an event with its time and
reason. Every change of a printer's state is a :class:`PrinterTransition`, applied in one place
too (hcserver.queue.printers, ``change``), which records why.
"""
from __future__ import annotations

import enum


class JobState(str, enum.Enum):
    PENDING = "pending"
    HELD = "held"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


#: Finished: the job's history.
TERMINAL = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELED})
#: Not finished yet: the jobs that count as queued (a printer's queue, an owner's limit).
UNFINISHED = frozenset(JobState) - TERMINAL
#: Not printing yet and not finished: a job whose priority or printer may still change.
WAITING = frozenset({JobState.PENDING, JobState.HELD})


class Transition(str, enum.Enum):
    """Named transitions; the value is the event kind recorded."""

    SUBMIT = "submit"            # (new) -> pending | held
    HOLD = "hold"
    RELEASE = "release"
    START = "start"
    COMPLETE = "complete"
    RETRY = "retry"              # processing -> pending with a not-before time
    PREEMPT = "preempt"          # processing -> pending, a higher-priority job goes first
    REQUEUE = "requeue"          # processing -> pending: printer stopped, or the server restarted
    FAIL = "fail"
    CANCEL = "cancel"


class EventKind(str, enum.Enum):
    """The events of a job that leave its state as it is (a change of state is recorded under
    its :class:`Transition`'s value)."""

    CANCEL_REQUESTED = "cancel-requested"   # a printing job stops after its current film
    PRIORITY = "priority"                   # a waiting job's priority changed
    PRINTER = "printer"                     # a waiting job moved to another printer
    FILM_PRINTED = "film-printed"
    FILM_IN_DOUBT = "film-in-doubt"         # a film's print request got no answer: it may be printed
    PRINT_JOB = "print-job"                 # how the printer's own print job for films ended (DICOM Print Job)
    WARNING = "warning"                     # what a printer or the formatter warned of; printing goes on
    DIMSE = "dimse"                         # one DIMSE exchange of an attempt (hcq show --log only)


P, H, R = JobState.PENDING, JobState.HELD, JobState.PROCESSING

TRANSITIONS: dict[Transition, tuple[frozenset[JobState | None], JobState]] = {
    Transition.SUBMIT: (frozenset({None}), P),            # target may be HELD: see target_of()
    Transition.HOLD: (frozenset({P}), H),
    Transition.RELEASE: (frozenset({H}), P),
    Transition.START: (frozenset({P}), R),
    Transition.COMPLETE: (frozenset({R}), JobState.COMPLETED),
    Transition.RETRY: (frozenset({R}), P),
    Transition.PREEMPT: (frozenset({R}), P),
    Transition.REQUEUE: (frozenset({R}), P),
    Transition.FAIL: (frozenset({R}), JobState.FAILED),
    Transition.CANCEL: (frozenset({P, H, R}), JobState.CANCELED),
}


class InvalidTransition(ValueError):
    pass


def transition(current: JobState | None, name: Transition, *, held: bool = False) -> JobState:
    """Return the state ``name`` leads to from ``current``, or raise InvalidTransition."""
    sources, target = TRANSITIONS[name]
    if current not in sources:
        state = current.value if current else "new"
        raise InvalidTransition(f"cannot {name.value} a job that is {state}")
    if name is Transition.SUBMIT and held:
        return H
    return target


class PrinterState(str, enum.Enum):
    """Whether a printer prints its queue, as ``hcq printers`` shows it."""

    IDLE = "idle"            # it prints its jobs as they come
    DISABLED = "disabled"    # an administrator disabled it; its jobs stay queued
    STOPPED = "stopped"      # it failed (printer status FAILURE); its status is polled until it recovers

    @classmethod
    def of(cls, enabled: bool, stopped: bool) -> PrinterState:
        """A printer both disabled and stopped shows as stopped: enabling it also restarts it."""
        if stopped:
            return cls.STOPPED
        return cls.IDLE if enabled else cls.DISABLED


class PrinterTransition(str, enum.Enum):
    """Every change of a printer's state. Accepting new jobs is separate from printing them."""

    ENABLE = "enable"      # an administrator; also restarts a stopped printer (as cupsenable)
    DISABLE = "disable"    # an administrator: printing stops between films, jobs stay queued
    ACCEPT = "accept"      # new jobs are taken
    REJECT = "reject"      # new jobs are refused; queued jobs still print
    STOP = "stop"          # the printer failed: a failure whose policy action is stop-printer
    RESUME = "resume"      # its polled status is no longer FAILURE


#: What each transition sets on the printer's row.
_PRINTER_SETS: dict[PrinterTransition, dict[str, bool]] = {
    PrinterTransition.ENABLE: {"enabled": True, "stopped": False},
    PrinterTransition.DISABLE: {"enabled": False},
    PrinterTransition.ACCEPT: {"accepting": True},
    PrinterTransition.REJECT: {"accepting": False},
    PrinterTransition.STOP: {"stopped": True},
    PrinterTransition.RESUME: {"stopped": False},
}
#: Disabling or stopping a printer says why (hcq printers shows it); enabling or resuming clears that.
_GIVES_REASON = frozenset({PrinterTransition.DISABLE, PrinterTransition.STOP})
_CLEARS_REASON = frozenset({PrinterTransition.ENABLE, PrinterTransition.RESUME})


def printer_changes(name: PrinterTransition, reason: str | None = None) -> dict:
    """The columns of a printer's row that transition ``name`` sets."""
    changes: dict = dict(_PRINTER_SETS[name])
    if name in _GIVES_REASON:
        changes["reason"] = reason
    elif name in _CLEARS_REASON:
        changes["reason"] = None
    return changes


PRIORITY_RANK = {"high": 0, "med": 1, "low": 2}
PRIORITIES = tuple(PRIORITY_RANK)   # the job priorities (DICOM Print Priority, lower case)
