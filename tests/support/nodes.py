"""Several daemon processes (nodes) on one PostgreSQL queue: who drives a printer, jobs for a
node, and killing the driving node part way through a job."""
from __future__ import annotations

from tests.support.daemon import DaemonProcess, wait_for
from tests.support.jobs import FILMS_PER_JOB, submit_batch


def driver_of(node: DaemonProcess, printer: str) -> str | None:
    with node.client() as hc:
        return next(p["node"] for p in hc.printers() if p["name"] == printer)


def submit_jobs(node: DaemonProcess, tmp_path, printer: str, first_number: int, jobs: int) -> list[int]:
    with node.client() as hc:
        return submit_batch(hc, tmp_path, first_number, jobs, printer)


def kill_driver_mid_job(nodes: dict[str, DaemonProcess], printer: str) -> str:
    """SIGKILL the node driving ``printer`` while it is printing a job part way."""
    alive = next(node for node in nodes.values() if node.alive())

    def printing_part_way():
        driver = driver_of(alive, printer)
        with alive.client() as hc:
            busy = [j for j in hc.list() if j["printer"] == printer and j["state"] == "processing"
                    and j["node"] == driver and 1 <= j["films_printed"] < FILMS_PER_JOB - 1]
        return driver if busy and driver in nodes and nodes[driver].alive() else None

    driver = wait_for(printing_part_way, 60, f"a job part way through on {printer}")
    nodes[driver].kill()
    return driver
