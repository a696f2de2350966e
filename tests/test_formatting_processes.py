"""Films are formatted in worker processes (hcserver.formatting): what happens when one dies,
and that none outlives the daemon. Real daemons, real processes, real signals."""
from __future__ import annotations

import fcntl
import os
import pickle
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from hcserver import formatter
from hcserver.formatter.film import PrinterProfile
from hcserver.formatting import (
    HAND_OVER_BYTES,
    NICENESS,
    RESULT_PIPE_BYTES,
    FormatPool,
    _format_and_hand_over,
    _take_back,
)
from tests.support.configs import PREVIEW_CONFIG
from tests.support.daemon import DaemonProcess, wait_for
from tests.support.images import bundled

ONE_FORMATTER = PREVIEW_CONFIG.replace("retry_interval_s = 1", "retry_interval_s = 0.5\nformat_processes = 1")


def children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found |= {int(p) for p in task.read_text().split()}
        except OSError:    # the process or thread ended meanwhile
            pass
    return found


def descendants(pid: int) -> set[int]:
    out, todo = set(), [pid]
    while todo:
        for child in children(todo.pop()):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def formatting_workers(daemon: DaemonProcess) -> set[int]:
    """The pool's workers: the forkserver's children (the forkserver is the daemon's child)."""
    return {pid for child in children(daemon.proc.pid) for pid in children(child)}


def job_spec(films: int = 2) -> dict:
    image = bundled("CT_small.dcm")
    return {"printer": "film", "films": [{"film_size": "8INX10IN", "layout": "STANDARD\\1,1",
                                          "frames": [image]} for _ in range(films)]}


@pytest.fixture
def daemon():
    process = DaemonProcess(ONE_FORMATTER).start()
    yield process
    for pid in formatting_workers(process):   # a test may leave one stopped
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    process.cleanup()


def test_formatter_errors_survive_the_trip_between_processes():
    for error in (formatter.OptionError("films[0].layout", "not a layout"),
                  formatter.UnprintableImage("/spool/x.dcm", "no pixel data")):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)
    assert pickle.loads(pickle.dumps(formatter.OptionError("f", "p"))).field == "f"
    assert pickle.loads(pickle.dumps(formatter.UnprintableImage("/a", "r"))).reason == "r"


def test_films_are_formatted_by_the_configured_worker_process(daemon):
    workers = wait_for(lambda: formatting_workers(daemon), what="a formatting process")
    assert len(workers) == 1, "format_processes = 1"
    (worker,) = workers
    os.kill(worker, signal.SIGSTOP)
    with daemon.client() as hc:
        job = hc.submit(job_spec(2))
        wait_for(lambda: hc.show(job)["state"] == "processing", what="the job to start")
        time.sleep(1.0)
        assert hc.show(job)["films_printed"] == 0, "no film without the formatting process"
        os.kill(worker, signal.SIGCONT)
        assert hc.wait(job, timeout=60)["state"] == "completed"
    assert formatting_workers(daemon) == workers, "the worker is reused, job after job"


def test_formatting_processes_yield_the_cpu_to_the_daemon(daemon):
    (worker,) = wait_for(lambda: formatting_workers(daemon), what="a formatting process")
    assert os.getpriority(os.PRIO_PROCESS, worker) == \
        os.getpriority(os.PRIO_PROCESS, daemon.proc.pid) + NICENESS


def test_the_result_pipe_is_widened_when_the_system_allows():
    pool = FormatPool(1)
    try:
        assert pool.format_film({}, {}, None, 0).exception(60) is not None   # a bad film comes back too
        executor = pool._pool()
        size = fcntl.fcntl(executor._result_queue._reader.fileno(), fcntl.F_GETPIPE_SZ)
        allowed = int(Path("/proc/sys/fs/pipe-max-size").read_text())
        assert size == (RESULT_PIPE_BYTES if allowed >= RESULT_PIPE_BYTES else 65536)
    finally:
        pool.shutdown()


def test_a_formatting_process_killed_mid_film_costs_a_retry_not_the_job(daemon):
    (worker,) = wait_for(lambda: formatting_workers(daemon), what="a formatting process")
    os.kill(worker, signal.SIGSTOP)   # the film handed to it waits, deterministically
    with daemon.client() as hc:
        job = hc.submit(job_spec(2))
        wait_for(lambda: hc.show(job)["state"] == "processing", what="the job to start")
        time.sleep(0.5)   # the worker thread has handed film 1 to the stopped process
        os.kill(worker, signal.SIGKILL)
        result = hc.wait(job, timeout=60)
        assert result["state"] == "completed", result
        events = hc.show(job)["events"]
        retries = [e for e in events if e["kind"] == "retry"]
        assert retries and "formatting process ended unexpectedly" in retries[0]["reason"], events
        assert sum(e["kind"] == "film-printed" for e in events) == 2
        # New workers replaced the dead one, and other jobs go on.
        assert not alive(worker)
        assert formatting_workers(daemon) - {worker}
        other = hc.submit(job_spec(1))
        assert hc.wait(other, timeout=60)["state"] == "completed"


def test_a_formatting_process_that_died_while_idle_is_replaced_without_a_retry(daemon):
    (worker,) = wait_for(lambda: formatting_workers(daemon), what="a formatting process")
    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: not alive(worker), what="the worker to end")
    with daemon.client() as hc:
        job = hc.submit(job_spec(1))
        assert hc.wait(job, timeout=60)["state"] == "completed"
        assert not [e for e in hc.show(job)["events"] if e["kind"] == "retry"]


def test_no_formatting_process_outlives_a_killed_daemon(daemon):
    with daemon.client() as hc:
        job = hc.submit(job_spec(1))
        assert hc.wait(job, timeout=60)["state"] == "completed"
    family = descendants(daemon.proc.pid)
    assert len(family) >= 2, "a forkserver and at least one worker"
    daemon.kill()
    wait_for(lambda: not any(alive(pid) for pid in family), timeout=30,
             what="the formatting processes to end after the daemon was killed")


def test_no_formatting_process_outlives_a_stopped_daemon(daemon):
    family = wait_for(lambda: descendants(daemon.proc.pid), what="the formatting processes")
    assert daemon.stop() == 0
    wait_for(lambda: not any(alive(pid) for pid in family), timeout=30,
             what="the formatting processes to end after the daemon stopped")


# A 8x10 in film at 300 dpi and 12 bits: one box of about 2400 x 3000 x 2 bytes (14 MB).
BIG_FILM = {"film_size": "8INX10IN", "layout": "STANDARD\\1,1", "magnification": "REPLICATE",
            "frames": [{"image": "ct"}]}
BIG_PROFILE = PrinterProfile(dpi=300, bit_depth=12, color=False, magnification="REPLICATE")


def test_a_big_box_comes_back_through_a_private_file_that_is_removed_once_mapped(tmp_path):
    images = {"ct": bundled("CT_small.dcm")}
    expected = formatter.format_film(BIG_FILM, images, BIG_PROFILE, 0)
    assert expected.boxes[0].pixels.nbytes > 10_000_000 > HAND_OVER_BYTES
    directory = tmp_path / "formatted"
    directory.mkdir(mode=0o700)
    os.umask(umask := os.umask(0))      # the files are private whatever the umask
    try:
        sheet, handed = _format_and_hand_over(BIG_FILM, images, BIG_PROFILE, 0, str(directory))
    finally:
        os.umask(umask)
    assert len(handed) == 1 and sheet.boxes[0].pixels.size == 0, "the pixels are in the file, not the sheet"
    (path,) = directory.iterdir()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.stat().st_size == expected.boxes[0].pixels.nbytes
    taken = _take_back(sheet, handed)
    assert list(directory.iterdir()) == [], "removed once mapped"
    assert np.array_equal(taken.boxes[0].pixels, expected.boxes[0].pixels)
    assert taken.boxes[0].pixels.dtype == expected.boxes[0].pixels.dtype
    assert not taken.boxes[0].pixels.flags.writeable


def test_a_pool_with_a_hand_over_directory_gives_the_same_pixels_and_leaves_nothing(tmp_path):
    images = {"ct": bundled("CT_small.dcm")}
    expected = formatter.format_film(BIG_FILM, images, BIG_PROFILE, 0)
    directory = tmp_path / "formatted"
    directory.mkdir()
    (directory / "left-by-a-crash.pixels").write_bytes(b"x" * 100)
    pool = FormatPool(1, hand_over_dir=directory)
    try:
        assert list(directory.iterdir()) == [], "what a stopped daemon left is removed at start"
        assert directory.stat().st_mode & 0o777 == 0o700
        sheets = [pool.format_film(BIG_FILM, images, BIG_PROFILE, 0) for _ in range(3)]
        for future in sheets:
            assert np.array_equal(future.result(120).boxes[0].pixels, expected.boxes[0].pixels)
        assert list(directory.iterdir()) == []
        small = dict(BIG_FILM, magnification="NONE")   # a box under the threshold: through the pipe
        small_profile = PrinterProfile(dpi=20, bit_depth=8, color=False)
        assert np.array_equal(pool.format_film(small, images, small_profile, 0).result(120).boxes[0].pixels,
                              formatter.format_film(small, images, small_profile, 0).boxes[0].pixels)
        failed = pool.format_film({}, images, BIG_PROFILE, 0)    # an error comes back as before
        assert failed.exception(60) is not None
    finally:
        pool.shutdown()


def test_a_hand_over_file_left_by_a_process_that_died_is_removed_when_the_processes_are_replaced(tmp_path):
    directory = tmp_path / "formatted"
    pool = FormatPool(1, hand_over_dir=directory)
    try:
        orphan, fresh = directory / "orphan.pixels", directory / "being-written.pixels"
        orphan.write_bytes(b"x" * 1000)
        fresh.write_bytes(b"y" * 1000)
        ten_minutes_ago = time.time() - 600
        os.utime(orphan, (ten_minutes_ago, ten_minutes_ago))
        pool._replace(pool._pool())          # as after a formatting process died
        assert [p.name for p in directory.iterdir()] == ["being-written.pixels"]
    finally:
        pool.shutdown()
