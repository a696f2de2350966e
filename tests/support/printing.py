"""A job's whole way to a printer without the daemon process: its spec checked against the printer
(``hcserver.jobspec``), queued (SQLite), formatted in a formatting process and printed by the
printer's worker with its real driver; what the job became is read back from the queue."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler

from hcserver import formatter
from hcserver.config import ServerConfig, parse
from hcserver.db import make_engine, upgrade
from hcserver.dispatch import PrinterWorker
from hcserver.formatting import FormatPool
from hcserver.jobspec import JobSpecValidator
from hcserver.queue import JobQueue
from hcserver.spool import Spool
from hcserver.states import JobState
from tests.support.configs import dicom_config
from tests.support.daemon import wait_for
from tests.support.images import bundled

#: The DICOM printer of :func:`print_path`.
PRINTER = "dcm"


@dataclass
class PrintPath:
    config: ServerConfig
    queue: JobQueue
    spool: Spool
    formatting: FormatPool
    scheduler: BackgroundScheduler

    def image(self, name: str = "CT_small.dcm") -> str:
        """A bundled image put in the spool: its reference in a spec."""
        return self.spool.put(Path(bundled(name)).read_bytes())

    def validator(self, config: ServerConfig | None = None) -> JobSpecValidator:
        return JobSpecValidator(config or self.config, lambda ref, field: ref,
                                lambda digest: formatter.inspect_image(self.spool.path(digest)))

    def submit(self, spec: dict) -> int:
        """The spec checked as at submit (SpecError if refused), then queued."""
        return self.queue.jobs.submit("alice", self.validator().normalise({"printer": PRINTER, **spec}))

    def print_job(self, job_id: int, config: ServerConfig | None = None) -> dict:
        """Print the queue with the printer as ``config`` has it (default: as at submit) until job
        ``job_id`` has ended; the job, as ``hcq show --json`` has it."""
        config = config or self.config
        worker = PrinterWorker(config.printers[PRINTER], config, self.queue, self.spool, self.scheduler,
                               self.formatting)
        worker.start()
        try:
            wait_for(lambda: JobState(self.queue.views.state_of(job_id)).terminal, timeout=60,
                     what=f"job {job_id} to end")
        finally:
            worker.stop()
        return self.queue.views.show(job_id)

    def warnings(self, job: dict) -> list[str]:
        """What the job's warnings say."""
        return [w["meaning"] for w in job["warnings"]]


def path_config(state: Path, port: int, **keys: str) -> ServerConfig:
    """A configuration of one DICOM printer (:data:`PRINTER`) on 127.0.0.1:``port`` with ``keys``
    (TOML values), tried once."""
    text = dicom_config({PRINTER: port}, **keys).replace("@STATE@", str(state))
    return parse(text.replace("retry_limit = 4", "retry_limit = 1"), "<test>")


@contextmanager
def print_path(state: Path, port: int, **keys: str) -> Iterator[PrintPath]:
    config = path_config(state, port, **keys)
    engine = make_engine(f"sqlite:///{state / 'queue.db'}")
    upgrade(engine)
    queue = JobQueue(engine)
    queue.printers.sync([PRINTER])
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.start()
    formatting = FormatPool(1)
    try:
        yield PrintPath(config, queue, Spool(state / "spool"), formatting, scheduler)
    finally:
        scheduler.shutdown(wait=False)
        formatting.shutdown()
