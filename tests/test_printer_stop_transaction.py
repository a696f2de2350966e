"""A printer FAILURE stops the printer and puts its job back to pending in one transaction: no
client ever reads the printer stopped while its job is still processing.

A real printer worker drives the real DICOM driver against the printer simulator, on a real
queue (SQLite). After every commit the queue is read from another connection, so a state that
exists between two commits is seen for certain, not by chance.
"""
from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from hcserver.config import parse
from hcserver.db import make_engine, upgrade
from hcserver.dispatch import PrinterWorker
from hcserver.formatting import FormatPool
from hcserver.queue import JobQueue
from hcserver.simulator import PrinterSimulator
from hcserver.spool import Spool
from tests.support.daemon import wait_for
from tests.support.images import bundled

pytestmark = pytest.mark.dicom   # the worker prints to the simulator


@pytest.fixture
def simulator(tmp_path):
    with PrinterSimulator(port=0, out_dir=tmp_path / "films") as sim:
        yield sim


def test_a_printer_failure_stops_the_printer_and_requeues_its_job_in_one_commit(tmp_path, simulator):
    config = parse(f"""
[server]
state_dir = "{tmp_path}"
[printers.sim]
driver = "dicom"
ae_title = "PRINTSCP"
host = "127.0.0.1"
port = {simulator.port}
dpi = 40
dimse_timeout_s = 3
status_poll_s = 0.3
""", "<test>")
    engine = make_engine(f"sqlite:///{tmp_path / 'queue.db'}")
    upgrade(engine)
    queue = JobQueue(engine)
    queue.printers.sync(["sim"])
    spool = Spool(tmp_path / "spool")
    image = spool.put(Path(bundled("CT_small.dcm")).read_bytes())
    film = {"film_size": "8INX10IN", "orientation": "PORTRAIT", "layout": "STANDARD\\1,1",
            "frames": [{"image": image, "frame": 0}]}
    job = queue.jobs.submit("alice", {"printer": "sim", "priority": "med", "copies": 1, "medium_type": None,
                                      "film_destination": None, "label": None, "color": False, "films": [film]})

    seen: list[tuple[bool, str]] = []   # (printer stopped, job state) after each commit

    def after_commit(_session) -> None:
        with engine.connect() as connection:
            stopped = connection.execute(text("SELECT stopped FROM printers WHERE name = 'sim'")).scalar()
            state = connection.execute(text("SELECT state FROM jobs WHERE id = :id"), {"id": job}).scalar()
        seen.append((bool(stopped), state))

    simulator.set_printer_status("FAILURE", "FILM JAM")
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.start()
    formatting = FormatPool(1)
    worker = PrinterWorker(config.printers["sim"], config, queue, spool, scheduler, formatting)
    event.listen(Session, "after_commit", after_commit)
    try:
        worker.start()
        wait_for(lambda: (True, "pending") in seen, what="the printer stopped and its job back to pending")
        simulator.set_printer_status("NORMAL", "NORMAL")
        wait_for(lambda: queue.views.show(job)["state"] == "completed", what="the job to print once resumed")
    finally:
        event.remove(Session, "after_commit", after_commit)
        worker.stop()
        scheduler.shutdown(wait=False)
        formatting.shutdown()
    assert (True, "processing") not in seen, "a commit left the printer stopped with its job still processing"
    assert len(simulator.films) == 1
