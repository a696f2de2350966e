import pytest

from hcserver.states import InvalidTransition, JobState, Transition, transition

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
