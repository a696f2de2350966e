"""hcserver's DICOM front door in the test process, without a daemon: a real listener on a free
port over a real queue (SQLite, or the PostgreSQL database given in ``server``) and spool (the
database spool with ``spool = "database"``), with no printer worker, so the jobs it queues stay
pending for the test to read. The ``front_door`` fixture (a plugin of tests/conftest.py) makes
one from a configuration's text."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hcserver.config import ServerConfig, parse
from hcserver.db import make_engine, upgrade
from hcserver.dbspool import DatabaseSpool
from hcserver.dicom_in import FrontDoor, Intake
from hcserver.queue import JobQueue
from hcserver.spool import Spool

PRINT_AND_STORE = """
[server]
state_dir = "@STATE@"
min_free_spool_bytes = 0
@SERVER@

[printers.film]
driver = "preview"
dpi = 40

[dicom_in]
host = "127.0.0.1"
port = 0
@LISTENER@

[dicom_in.ae.FILMSPOOL]
service = "print"
printer = "film"

[dicom_in.ae.AUTOFILM]
service = "store"
printer = "film"
@STORE@
"""


@dataclass
class RunningFrontDoor:
    config: ServerConfig
    queue: JobQueue
    spool: Spool
    door: FrontDoor

    @property
    def port(self) -> int:
        return self.door.port

    def jobs(self) -> list[dict]:
        return self.queue.views.list_jobs(include_history=True)

    def spec(self, job: int) -> dict:
        return self.queue.views.job_spec(job)

    def open_associations(self) -> int:
        """Associations the front door still runs: one that ended has run its end handlers (a store
        batch is queued on EVT_RELEASED, in the association's thread)."""
        return len(self.door._server.active_associations)


def start_front_door(state: Path, listener: str = "", store: str = "", text: str | None = None,
                     server: str = "") -> RunningFrontDoor:
    """A front door for ``PRINT_AND_STORE`` (more ``[server]`` keys in ``server``, ``[dicom_in]``
    keys in ``listener``, keys of the AUTOFILM store route in ``store``) or for the configuration
    ``text``."""
    if text is None:
        text = PRINT_AND_STORE.replace("@LISTENER@", listener).replace("@STORE@", store).replace("@SERVER@", server)
    config = parse(text.replace("@STATE@", str(state)), "<test>")
    engine = make_engine(config.database)
    upgrade(engine)
    queue = JobQueue(engine)
    queue.printers.sync(list(config.printers))
    spool = DatabaseSpool(config.spool, engine) if config.spool_in_database else Spool(config.spool)   # as daemon.py
    assert config.dicom_in is not None
    door = FrontDoor(config.dicom_in, Intake(config, queue, spool), config.state_dir, config.ae_title)
    door.recover()
    door.start()
    return RunningFrontDoor(config, queue, spool, door)


@pytest.fixture
def front_door(tmp_path: Path) -> Iterator[Callable[..., RunningFrontDoor]]:
    """Start front doors (see :func:`start_front_door`); all are stopped after the test."""
    started: list[RunningFrontDoor] = []

    def start(listener: str = "", store: str = "", text: str | None = None, server: str = "") -> RunningFrontDoor:
        running = start_front_door(tmp_path / f"state{len(started)}", listener, store, text, server)
        started.append(running)
        return running

    yield start
    for running in started:
        running.door.stop()
        running.queue.store.engine.dispose()
