"""A queue database that cannot be written: clients are told what happened, in words, with the
code ``database-unavailable``; the server serves on and takes jobs again once the fault is gone.

The faults are real: a full disk (SQLite on a small tmpfs, which the test mounts: CI runs as
root) and a read-only database (PostgreSQL with read-only transactions, as a standby is).
"""
from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess

import pytest

from hcserver.client import ClientError
from tests.support.configs import PREVIEW_CONFIG
from tests.support.daemon import DaemonProcess
from tests.support.hcq import run_hcq
from tests.support.root import require_root

pytestmark = pytest.mark.slow   # each test starts a daemon


def with_database(url: str) -> str:
    return PREVIEW_CONFIG.replace("retry_interval_s = 1", f'retry_interval_s = 1\ndatabase = "{url}"')


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB file system of its own."""
    require_root("mounting a file system")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mount)], check=True,
                   capture_output=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=False, capture_output=True)


def fill(directory) -> None:
    """Take every byte left on the file system of ``directory``."""
    with open(directory / "filler", "wb", buffering=0) as filler:
        for size in (1 << 16, 4096, 1):
            try:
                while True:
                    filler.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    assert os.statvfs(directory).f_bavail == 0


def test_full_disk_is_told_in_words_and_the_queue_takes_jobs_again_once_there_is_room(small_disk, images):
    database = small_disk / "queue.db"
    process = DaemonProcess(with_database(f"sqlite:///{database}")).start()
    try:
        with process.client() as hc:
            kept = hc.submit_files([images["CT_small.dcm"]], printer="film", hold=True)
        # The WAL is emptied, so the next write needs new space (else it reuses the WAL's pages).
        with sqlite3.connect(database) as checkpoint:
            assert checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
        fill(small_disk)

        refused = run_hcq(process, "submit", "-p", "film", "--hold", images["MR_small.dcm"])
        assert refused.returncode == 1
        assert refused.stderr == "hcq: the queue database cannot be written: the disk is full\n"
        with process.client() as hc:
            with pytest.raises(ClientError) as raised:
                hc.set_priority(kept, "high")
            assert raised.value.code == "database-unavailable"
            assert str(raised.value) == "the queue database cannot be written: the disk is full"
            assert [job["id"] for job in hc.list()] == [kept]   # reading goes on

        (small_disk / "filler").unlink()
        again = run_hcq(process, "submit", "-p", "film", "--hold", images["MR_small.dcm"])
        assert again.returncode == 0, again.stderr
        with process.client() as hc:
            assert [job["id"] for job in hc.list()] == [kept, int(again.stdout)]
        audit = [json.loads(line) for line in (process.dir / "var" / "audit.log").read_text().splitlines()]
    finally:
        process.cleanup()
    assert [(e["action"], e.get("refused"), e.get("why")) for e in audit] == [
        ("submit", None, None),
        ("submit", "database-unavailable", "the queue database cannot be written: the disk is full"),
        ("priority", "database-unavailable", "the queue database cannot be written: the disk is full"),
        ("submit", None, None)]


def test_read_only_database_is_told_in_words(postgres_url, images):
    import psycopg

    process = DaemonProcess(with_database(postgres_url)).start()
    admin_url, name = postgres_url.replace("postgresql+psycopg", "postgresql").rsplit("/", 1)
    try:
        with process.client() as hc:
            kept = hc.submit_files([images["CT_small.dcm"]], printer="film", hold=True)
        # As a standby is: every new session read-only; the server's sessions are ended, so it
        # opens new ones.
        with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as admin:
            admin.execute(f"ALTER DATABASE {name} SET default_transaction_read_only = on")
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))

        refused = run_hcq(process, "submit", "-p", "film", "--hold", images["MR_small.dcm"])
        assert refused.returncode == 1
        assert refused.stderr == "hcq: the queue database cannot be written: the database is read-only\n"
        with process.client() as hc:
            with pytest.raises(ClientError) as raised:
                hc.cancel(kept)
            assert raised.value.code == "database-unavailable"
            assert [job["id"] for job in hc.list()] == [kept]

        with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as admin:
            admin.execute(f"ALTER DATABASE {name} SET default_transaction_read_only = off")
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        with process.client() as hc:
            assert hc.cancel(kept)["state"] == "canceled"
    finally:
        process.cleanup()
