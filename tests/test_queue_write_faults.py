"""A queue database that refuses writes while a job prints (here: its disk is full): the printing
job is requeued as soon as the database takes writes again, with the true reason, and the film
the printer accepted meanwhile is recorded, not printed again. Before, the job stayed processing
until its lease ran out and was then requeued "stopped renewing its lease", film and all.

A real fault: the daemon's SQLite database lives on a small tmpfs that the test fills up while
the printer simulator holds film 1's N-ACTION, and empties again. Mounting needs root (CI runs as
root).
"""
from __future__ import annotations

import errno
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from hcserver.db import make_engine, upgrade
from hcserver.queue import unwritable
from hcserver.simulator import Fault, PrinterSimulator
from tests.support.daemon import DaemonProcess, wait_for
from tests.support.root import cannot, require_root

pytestmark = [pytest.mark.slow, pytest.mark.dicom]   # a daemon printing to the simulator


@pytest.fixture
def small_disk(tmp_path):
    require_root("mounting a small file system")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m,mode=0700", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        cannot(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "--lazy", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte; returns the file that does it."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as out:
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    out.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    return filler


@pytest.fixture
def simulator(tmp_path):
    with PrinterSimulator(port=0, out_dir=tmp_path / "films") as sim:
        yield sim


def test_a_full_disk_requeues_the_printing_job_promptly_with_the_true_reason(small_disk, simulator, images):
    process = DaemonProcess(f"""
[server]
state_dir = "@STATE@"
database = "sqlite:///{small_disk / 'queue.db'}"
lease_s = 60
retry_interval_s = 0.2

[printers.sim]
driver = "dicom"
ae_title = "PRINTSCP"
host = "127.0.0.1"
port = {simulator.port}
dpi = 40
dimse_timeout_s = 10
""").start()
    # Film 1's N-ACTION is answered (printed) only after 3 s: the disk fills up meanwhile.
    simulator.add_fault(Fault("N-ACTION", behaviour="stall", stall_s=3))
    try:
        with process.client() as hc:
            job = hc.submit({"printer": "sim", "films": [
                {"layout": "STANDARD\\1,1", "frames": [images["CT_small.dcm"]]},
                {"layout": "STANDARD\\1,2", "frames": [images["CT_small.dcm"], images["MR_small.dcm"]]}]})
            # Its one image box is set (the simulator counts a request once answered): the N-ACTION is next.
            wait_for(lambda: simulator.received_count("N-SET") == 1, what="film 1's image box")
            filler = fill(small_disk)
            wait_for(lambda: "database or disk is full" in process.log.read_text(), timeout=20,
                     what="the film's record to be refused")
            time.sleep(1.5)   # the worker tries again meanwhile
            assert len(simulator.films) == 1   # film 1 printed; its record was refused
            assert hc.show(job)["state"] == "processing"
            filler.unlink()
            # Requeued within seconds, not after lease_s (60 s), and printed on from film 2.
            requeue = wait_for(lambda: [e for e in hc.show(job)["events"] if e["kind"] == "requeue"], timeout=15,
                               what="the job to be requeued once the disk has room again")
            result = hc.wait(job, timeout=60)
            events = hc.show(job)["events"]
    finally:
        process.cleanup()
    assert requeue[0]["reason"] == ("the queue database could not be written: database or disk is full; "
                                    "resumes at film 2")
    assert (result["state"], result["films_printed"], result["failed_attempts"]) == ("completed", 2, 0)
    assert len(simulator.films) == 2, "film 1 was recorded, not printed again"
    printed = [e for e in events if e["kind"] == "film-printed"]
    assert [e["data"]["film"] for e in printed] == [0, 1]
    assert printed[0]["reason"].endswith("recorded late: the queue database could not be written when it printed")


def test_a_read_only_database_is_told_apart_from_other_errors(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'queue.db'}")
    upgrade(engine)
    engine.dispose()
    read_only = create_engine(f"sqlite:///file:{tmp_path / 'queue.db'}?mode=ro&uri=true")
    with pytest.raises(OperationalError) as refused, read_only.begin() as connection:
        connection.execute(text("UPDATE printers SET reason = 'x'"))
    assert unwritable(refused.value) == "the queue database could not be written: attempt to write a readonly database"
    assert unwritable(ValueError("not the database")) is None
