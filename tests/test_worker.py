"""The printer worker (hcserver.dispatch.PrinterWorker) with a driver that waits when told to:
how a film the printer accepted is recorded, whatever the worker is doing at the time. A real
queue (SQLite), spool, scheduler and formatting process; only the printer is a stand-in."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from hcserver.config import parse
from hcserver.db import make_engine, upgrade
from hcserver.dispatch import PrinterWorker
from hcserver.drivers.base import Driver
from hcserver.formatting import FormatPool
from hcserver.queue import JobQueue
from hcserver.spool import Spool
from tests.support.daemon import wait_for
from tests.support.images import bundled


class GatedPrinter(Driver):
    """Prints films by waiting for ``go``; ``announce`` says whether it tells the observer the
    film was accepted before returning (as the DICOM driver does before its N-DELETE)."""

    def __init__(self, announce: bool):
        self.announce = announce
        self.printing = threading.Event()
        self.go = threading.Event()
        self.films: list[int] = []

    @contextmanager
    def session(self, ticket, observer):
        printer = self

        class Films:
            def print_film(self, sheet):
                printer.printing.set()
                printer.go.wait(30)
                printer.films.append(sheet.index)
                if printer.announce:
                    observer.film_accepted(sheet.index, f"film-{sheet.index}")
                return f"film-{sheet.index}"

        yield Films()

    def close(self) -> None:
        pass


@pytest.fixture
def parts(tmp_path):
    config = parse(f'[server]\nstate_dir = "{tmp_path}"\n[printers.gated]\ndriver = "preview"\n', "<test>")
    engine = make_engine(f"sqlite:///{tmp_path / 'queue.db'}")
    upgrade(engine)
    queue = JobQueue(engine)
    queue.printers.sync(["gated"])
    spool = Spool(tmp_path / "spool")
    image = spool.put(Path(bundled("CT_small.dcm")).read_bytes())
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.start()
    formatting = FormatPool(1)
    yield config, queue, spool, scheduler, formatting, image
    scheduler.shutdown(wait=False)
    formatting.shutdown()


def submit(queue: JobQueue, image: str, films: int) -> int:
    film = {"film_size": "8INX10IN", "orientation": "PORTRAIT", "layout": "STANDARD\\1,1",
            "frames": [{"image": image, "frame": 0}]}
    return queue.jobs.submit("alice", {"printer": "gated", "priority": "med", "copies": 1, "medium_type": None,
                                       "film_destination": None, "label": None, "color": False,
                                       "films": [film] * films})


@pytest.mark.parametrize("announce", [True, False], ids=["announced", "returned"])
def test_a_film_finished_after_stop_gave_up_waiting_is_still_recorded(parts, announce):
    config, queue, spool, scheduler, formatting, image = parts
    driver = GatedPrinter(announce)
    worker = PrinterWorker(config.printers["gated"], config, queue, spool, scheduler, formatting, driver)
    job = submit(queue, image, 2)
    worker.start()
    assert driver.printing.wait(30), "the first film reached the printer"
    worker.stop(timeout=0.2)      # gives up waiting: the film is still at the printer
    driver.go.set()
    worker._thread.join(30)
    assert not worker._thread.is_alive()
    shown = queue.views.show(job)
    assert driver.films == [0]
    assert shown["films_printed"] == 1, "the printed film is recorded: it is never printed again"
    assert shown["state"] == "pending" and shown["failed_attempts"] == 0, shown["events"][-1]["reason"]


def test_films_are_recorded_in_order_and_the_job_completes(parts):
    config, queue, spool, scheduler, formatting, image = parts
    driver = GatedPrinter(announce=True)
    driver.go.set()
    worker = PrinterWorker(config.printers["gated"], config, queue, spool, scheduler, formatting, driver)
    job = submit(queue, image, 3)
    worker.start()
    try:
        wait_for(lambda: queue.views.show(job)["state"] == "completed", what="the job to complete")
    finally:
        worker.stop()
    shown = queue.views.show(job)
    assert driver.films == [0, 1, 2]
    assert [e["data"]["film"] for e in shown["events"] if e["kind"] == "film-printed"] == [0, 1, 2]
    assert [f["output"] for f in shown["films"]] == ["film-0", "film-1", "film-2"]


def test_a_call_that_a_printing_job_keeps_from_starting_gives_up_and_never_runs(parts):
    # what hcq probe relies on: refused while a job prints, never run in the middle of one
    config, queue, spool, scheduler, formatting, image = parts
    driver = GatedPrinter(announce=True)
    worker = PrinterWorker(config.printers["gated"], config, queue, spool, scheduler, formatting, driver)
    job = submit(queue, image, 1)
    worker.start()
    ran = []
    try:
        assert driver.printing.wait(30), "the film reached the printer"
        with pytest.raises(TimeoutError):
            worker.call(lambda d: ran.append("late"), timeout=60, start_timeout=0.2)
        driver.go.set()
        wait_for(lambda: queue.views.show(job)["state"] == "completed", what="the job to complete")
        assert worker.call(lambda d: ran.append("between jobs") or d is driver, timeout=30, start_timeout=10)
    finally:
        worker.stop()
    assert ran == ["between jobs"]
