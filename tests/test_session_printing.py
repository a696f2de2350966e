"""Printing with N-ACTION on the film session (``print_action = "film-session"``), for printers that
print only that way: against DCMTK's dcmprscp (which prints every film box of the film session on
its N-ACTION) and the simulator as such a printer (``session_print_only``: a film box's N-ACTION
is answered 0xC616).

What counts as printed is what the printer accepted: every film of a film session whose N-ACTION
succeeded (never sent again, even when the job resumes), none of one whose N-ACTION failed, and
all of them in doubt when that N-ACTION went unanswered (README, "Films in doubt"). Expected
outcomes are written here by hand.
"""
from __future__ import annotations

import pytest

from hcserver.drivers.base import HELD, Action, JobTicket
from hcserver.simulator import Fault, PrinterSimulator
from tests.support.configs import dicom_config
from tests.support.daemon import DaemonProcess
from tests.support.jobs import copies, numbered_films
from tests.support.scu import RecordingObserver, expect_failure, printer, run_job, sheet

pytestmark = pytest.mark.dicom

SESSION = {"print_action": "film-session"}


def films(count: int) -> list:
    formats = ["STANDARD\\1,1", "STANDARD\\1,2", "STANDARD\\2,2", "STANDARD\\2,3", "STANDARD\\3,3"]
    return [sheet(i, formats[i]) for i in range(count)]


def actions(observer: RecordingObserver) -> list[tuple[str, str]]:
    return [(op, sop) for op, sop in observer.operations() if op in ("N-ACTION", "N-CREATE", "N-DELETE")
            and sop in ("film-session", "film-box")]


# --------------------------------------------------------------------------- dcmprscp
def test_a_whole_job_is_printed_by_one_film_session_n_action_on_dcmprscp(dcmprscp, drivers):
    driver = drivers(printer(dcmprscp.port, "PRINTSCP", **SESSION))
    observer = RecordingObserver()
    with driver.session(JobTicket(job_id=1, films_total=3), observer) as session:
        returned = [session.print_film(s) for s in films(3)]
    assert returned[:2] == [HELD, HELD] and isinstance(returned[2], str)
    assert [index for index, _, _ in observer.accepted] == [0, 1, 2]
    assert actions(observer) == [("N-CREATE", "film-session"), ("N-CREATE", "film-box"), ("N-CREATE", "film-box"),
                                 ("N-CREATE", "film-box"), ("N-ACTION", "film-session"),
                                 ("N-DELETE", "film-session")]
    assert sorted(f.display_format for f in dcmprscp.films()) == ["STANDARD\\1,1", "STANDARD\\1,2",
                                                                  "STANDARD\\2,2"]


def test_session_films_split_a_job_into_film_sessions_each_printed_once_on_dcmprscp(dcmprscp, drivers):
    # dcmprscp prints every film box of the film session on its N-ACTION: a film box left in it
    # would come out again with the next films. Each group goes to a film session of its own.
    driver = drivers(printer(dcmprscp.port, "PRINTSCP", session_films=2, **SESSION))
    observer = run_job(driver, films(5))
    assert [index for index, _, _ in observer.accepted] == [0, 1, 2, 3, 4]
    assert actions(observer).count(("N-ACTION", "film-session")) == 3
    assert actions(observer).count(("N-CREATE", "film-session")) == 3
    assert actions(observer).count(("N-DELETE", "film-session")) == 3
    assert ("N-ACTION", "film-box") not in actions(observer)
    assert dcmprscp.film_count() == 5
    assert len({f.display_format for f in dcmprscp.films()}) == 5
    run_job(driver, films(1))        # and the next job on the same association
    assert dcmprscp.film_count() == 6 and driver.associations_opened == 1


# --------------------------------------------------------------------------- the simulator
def test_a_printer_that_prints_only_film_sessions(drivers):
    with PrinterSimulator(port=0, session_print_only=True) as sim:
        # 0xC616 is listed for a film box's N-CREATE and N-SET, not its N-ACTION: an unlisted
        # failure, the job fails (sending it again gets the same answer), saying what to set
        failure = expect_failure(drivers(printer(sim.port)), films(1), Action.FAIL)
        assert "0xC616" in failure.reason and 'set print_action = "film-session"' in failure.reason
        assert sim.films == []
        observer = run_job(drivers(printer(sim.port, **SESSION)), films(2))
        assert [f["status"] for f in sim.films] == [0, 0]
        assert [index for index, _, _ in observer.accepted] == [0, 1]


def test_a_refused_film_session_n_action_prints_none_of_its_films(drivers):
    with PrinterSimulator(port=0, session_print_only=True) as sim:
        sim.add_fault(Fault("N-ACTION", "film-session", status=0xC601, nth=2))   # the second group
        observer = RecordingObserver()
        driver = drivers(printer(sim.port, session_films=2, **SESSION))
        failure = expect_failure(driver, films(4), Action.RETRY, observer)
        assert "0xC601" in failure.reason and failure.in_doubt is None
        assert [index for index, _, _ in observer.accepted] == [0, 1]
        assert len(sim.films) == 2


def test_an_unanswered_film_session_n_action_leaves_all_its_films_in_doubt(drivers):
    with PrinterSimulator(port=0, session_print_only=True) as sim:
        sim.add_fault(Fault("N-ACTION", "film-session", behaviour="abort", perform=True, nth=2))
        observer = RecordingObserver()
        driver = drivers(printer(sim.port, session_films=2, **SESSION))
        failure = expect_failure(driver, films(5), Action.RETRY, observer)
        assert (failure.in_doubt, failure.in_doubt_count) == (2, 2)
        assert [index for index, _, _ in observer.accepted] == [0, 1]
        assert len(sim.films) == 4      # printed, then aborted instead of answering


# --------------------------------------------------------------------------- through the daemon
@pytest.fixture
def session_printer(tmp_path):
    with PrinterSimulator(port=0, out_dir=tmp_path / "films", session_print_only=True) as sim:
        yield sim


@pytest.fixture
def daemon_for(session_printer):
    started: list[DaemonProcess] = []

    def start(**printer_keys) -> DaemonProcess:
        keys = {"print_action": '"film-session"', **printer_keys}
        started.append(DaemonProcess(dicom_config({"sim": session_printer.port}, **keys)).start())
        return started[-1]

    yield start
    for process in started:
        process.cleanup()


@pytest.mark.slow
def test_a_resumed_job_does_not_print_an_accepted_film_session_again(daemon_for, session_printer, images):
    session_printer.add_fault(Fault("N-ACTION", "film-session", status=0x0110, nth=2))   # transient: retried
    with daemon_for(session_films=2).client() as hc:
        result = hc.wait(hc.submit(numbered_films(images, 3)), timeout=60)
        events = hc.show(result["id"])["events"]
    assert (result["state"], result["attempts"], result["films_printed"]) == ("completed", 2, 3)
    assert copies(session_printer) == ["1", "2", "3"]
    retry = next(e for e in events if e["kind"] == "retry")
    assert "N-ACTION film-session: status 0x0110" in retry["reason"]


@pytest.mark.slow
@pytest.mark.parametrize("reprint, printed, warnings", [
    ("never", ["1", "2"], ["films 1 to 2 of 2 are in doubt: sent 1 time(s) without an answer, each may have "
                           "printed once or not at all; counted as printed, not sent again (reprint_in_doubt = "
                           "never): check the printer's output"]),
    ("once", ["1", "2", "1", "2"], ["film 1 of 2 was in doubt and has been printed again: the printer may have "
                                    "printed it twice",
                                    "film 2 of 2 was in doubt and has been printed again: the printer may have "
                                    "printed it twice"]),
])
def test_the_films_of_an_unanswered_film_session_n_action_are_in_doubt_together(daemon_for, session_printer,
                                                                                images, reprint, printed, warnings):
    session_printer.add_fault(Fault("N-ACTION", "film-session", behaviour="abort", perform=True))
    with daemon_for(reprint_in_doubt=f'"{reprint}"').client() as hc:
        result = hc.wait(hc.submit(numbered_films(images, 2)), timeout=60)
        shown = hc.show(result["id"])
    assert copies(session_printer) == printed
    assert (result["state"], result["films_printed"]) == ("completed", 2)
    assert shown["films_in_doubt"] == [0, 1]
    (doubt,) = [e for e in shown["events"] if e["kind"] == "film-in-doubt"]
    assert (doubt["data"]["film"], doubt["data"]["films"], doubt["data"]["counted"]) == (0, 2, reprint == "never")
    assert doubt["reason"].startswith("films 1 to 2 of 2 are in doubt: their print request (one for all of them) "
                                      "got no answer (N-ACTION film-session: ")
    assert [w["meaning"] for w in result["warnings"]] == warnings
