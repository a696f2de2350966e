import pytest

from hcserver.states import (
    InvalidTransition,
    JobState,
    PrinterState,
    PrinterTransition,
    Transition,
    printer_changes,
    transition,
)

P, H, R, C, F, X = (JobState.PENDING, JobState.HELD, JobState.PROCESSING, JobState.COMPLETED,
                    JobState.FAILED, JobState.CANCELED)

ALLOWED = {
    (None, Transition.SUBMIT): P, (P, Transition.HOLD): H, (H, Transition.RELEASE): P,
    (P, Transition.START): R, (R, Transition.COMPLETE): C, (R, Transition.RETRY): P,
    (R, Transition.PREEMPT): P, (R, Transition.REQUEUE): P, (R, Transition.FAIL): F,
    (P, Transition.CANCEL): X, (H, Transition.CANCEL): X, (R, Transition.CANCEL): X,
}


@pytest.mark.parametrize("state", [None, *JobState])
@pytest.mark.parametrize("name", list(Transition))
def test_only_the_designed_transitions_exist(state, name):
    if (state, name) in ALLOWED:
        assert transition(state, name) is ALLOWED[(state, name)]
    else:
        with pytest.raises(InvalidTransition):
            transition(state, name)


def test_submit_held():
    assert transition(None, Transition.SUBMIT, held=True) is H


def test_a_printer_state_follows_from_its_flags_and_stopped_shows_first():
    assert [PrinterState.of(enabled, stopped) for enabled, stopped in
            [(True, False), (False, False), (True, True), (False, True)]] == \
        [PrinterState.IDLE, PrinterState.DISABLED, PrinterState.STOPPED, PrinterState.STOPPED]


def test_printer_transitions_say_why_or_clear_the_reason():
    assert printer_changes(PrinterTransition.ENABLE) == {"enabled": True, "stopped": False, "reason": None}
    assert printer_changes(PrinterTransition.DISABLE, "by bob") == {"enabled": False, "reason": "by bob"}
    assert printer_changes(PrinterTransition.STOP, "FAILURE") == {"stopped": True, "reason": "FAILURE"}
    assert printer_changes(PrinterTransition.RESUME) == {"stopped": False, "reason": None}
    assert printer_changes(PrinterTransition.REJECT, "ignored") == {"accepting": False}
