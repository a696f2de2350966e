"""Several hcserver nodes sharing one queue on a real PostgreSQL server (README, "Several nodes").

Each node is a real daemon process with its own state directory; they share the database and
one spool directory. The printers are printer simulators: every film carries its own image,
so the simulators' records tell which film arrived how often.
"""
from __future__ import annotations

import signal
from collections import Counter
from datetime import UTC, datetime

import pytest

from hcserver.simulator import Fault, PrinterSimulator
from tests.support.configs import node_config
from tests.support.daemon import DaemonProcess, start_nodes, wait_for
from tests.support.jobs import FILMS_PER_JOB
from tests.support.nodes import driver_of, kill_driver_mid_job, submit_jobs

# Real time, not a fake clock: each node is a process of its own, and its leases run out on its own
# clock (tests/test_queue.py moves a fake one for the same rules inside one process).
pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_a_job_submitted_on_any_node_is_printed_at_once_by_the_node_driving_its_printer(postgres_url, tmp_path,
                                                                                       images):
    # Leases of 300 s: the lease timer runs every 100 s, so only LISTEN/NOTIFY can make the
    # driving node start a job submitted elsewhere within the 10 s allowed below.
    spool = tmp_path / "spool"
    nodes = start_nodes([node_config(postgres_url, spool, name, 300) for name in ("alpha", "beta")])
    try:
        driver = wait_for(lambda: driver_of(nodes[0], "film"), 10, "a node to drive the printer")
        by_name = {"alpha": nodes[0], "beta": nodes[1]}
        other = by_name["beta" if driver == "alpha" else "alpha"]
        assert driver_of(other, "film") == driver, "both nodes see the same driver"
        with other.client() as hc:
            job = hc.submit_files([images["CT_small.dcm"], images["MR_small.dcm"]], printer="film")
            result = hc.wait(job, timeout=10)   # the waiting node learns of the end by NOTIFY too
            assert result["state"] == "completed", result
            start = next(e for e in hc.show(job)["events"] if e["kind"] == "start")
            assert f"(node {driver})" in start["reason"]
    finally:
        for node in nodes:
            node.cleanup()


@pytest.mark.dicom
def test_a_node_that_stops_cleanly_hands_its_printer_and_queued_jobs_over_at_once(postgres_url, tmp_path):
    """Jobs queued on the stopping node, one of them part printed: the other node takes them
    on as soon as the printer is released (leases of 300 s: no lease tick helps within 30 s)."""
    slow = [Fault(operation="N-ACTION", behaviour="stall", stall_s=0.3, times=None)]
    with PrinterSimulator(port=0, out_dir=tmp_path / "films", faults=slow) as sim:
        spool = tmp_path / "spool"
        nodes = start_nodes([node_config(postgres_url, spool, name, 300, {"sim": sim.port})
                             for name in ("alpha", "beta")])
        try:
            driver = wait_for(lambda: driver_of(nodes[0], "sim"), 10, "a node to drive the printer")
            driving, other = (nodes[0], nodes[1]) if driver == "alpha" else (nodes[1], nodes[0])
            jobs = submit_jobs(driving, tmp_path, "sim", 1, 2)
            with driving.client() as hc:
                wait_for(lambda: hc.show(jobs[0])["films_printed"] >= 1, 30, "the first film")
            assert driving.stop() == 0
            with other.client() as hc:
                results = [hc.wait(job, timeout=30) for job in jobs]
                assert [r["state"] for r in results] == ["completed", "completed"], results
                assert driver_of(other, "sim") not in (None, driver)
        finally:
            for node in nodes:
                node.cleanup()
        films = sim.films
    arrived = Counter(film["image_boxes"][0]["md5"] for film in films)
    assert len(arrived) == 2 * FILMS_PER_JOB and sum(arrived.values()) == 2 * FILMS_PER_JOB, \
        "a clean stop prints no film twice"


@pytest.mark.dicom
def test_a_node_killed_mid_job_is_taken_over_when_its_lease_runs_out(postgres_url, tmp_path):
    lease_s = 3   # renewed every second: a loaded machine never lets a live node's lease lapse
    slow = [Fault(operation="N-ACTION", behaviour="stall", stall_s=0.15, times=None)]
    with PrinterSimulator(port=0, out_dir=tmp_path / "films1", faults=list(slow)) as sim1, \
            PrinterSimulator(port=0, out_dir=tmp_path / "films2", faults=list(slow)) as sim2:
        ports = {"sim1": sim1.port, "sim2": sim2.port}
        names = ("alpha", "beta", "gamma")
        spool = tmp_path / "spool"
        started = start_nodes([node_config(postgres_url, spool, name, lease_s, ports) for name in names])
        nodes = dict(zip(names, started))
        try:
            # Jobs spread over the nodes: each submits to both printers.
            jobs = []
            number = 1
            for node in started:
                for printer in ("sim1", "sim2"):
                    jobs += submit_jobs(node, tmp_path, printer, number, 2)
                    number += 2 * FILMS_PER_JOB
            killed = [kill_driver_mid_job(nodes, "sim1")]
            # The killed node's printer and job pass to a surviving node once its leases run out.
            survivor = next(node for name, node in nodes.items() if name not in killed)
            wait_for(lambda: driver_of(survivor, "sim1") not in (None, *killed), 30,
                     "another node to drive sim1")
            killed.append(kill_driver_mid_job({n: d for n, d in nodes.items() if n not in killed}, "sim2"))
            last = next(node for name, node in nodes.items() if name not in killed)
            with last.client() as hc:
                results = [hc.wait(job, timeout=180) for job in jobs]
                events = {job: hc.show(job)["events"] for job in jobs}
        finally:
            for node in started:
                node.cleanup()
        films = sim1.films + sim2.films
        peaks = (sim1.peak_open_associations, sim2.peak_open_associations)
    assert [r["state"] for r in results] == ["completed"] * len(jobs), results
    assert all(r["films_printed"] == FILMS_PER_JOB for r in results)
    arrived = Counter(film["image_boxes"][0]["md5"] for film in films)
    assert len(arrived) == len(jobs) * FILMS_PER_JOB, "every film arrived"
    repeats = sum(count - 1 for count in arrived.values())
    assert repeats <= len(killed), f"{repeats} films printed twice with only {len(killed)} nodes killed"
    taken_over = [e for evs in events.values() for e in evs
                  if e["kind"] == "requeue" and "stopped renewing its lease" in e["reason"]]
    assert {e["reason"].split()[1] for e in taken_over} == set(killed), taken_over
    assert peaks == (1, 1), "one association per printer at any time"
    print(f"{len(killed)} nodes killed ({', '.join(killed)}), {len(jobs)} jobs, {len(films)} films received, "
          f"{repeats} repeated, {len(taken_over)} jobs taken over")


def test_a_node_whose_listening_connection_drops_looks_again_after_reconnecting(postgres_url, tmp_path,
                                                                               images):
    """A notification sent while a node's LISTEN connection is down is lost; after reconnecting
    the node wakes every printer once, so the job still starts without waiting for a lease tick."""
    import psycopg

    spool = tmp_path / "spool"
    nodes = start_nodes([node_config(postgres_url, spool, name, 300) for name in ("alpha", "beta")])
    try:
        driver = wait_for(lambda: driver_of(nodes[0], "film"), 10, "a node to drive the printer")
        driving, other = (nodes[0], nodes[1]) if driver == "alpha" else (nodes[1], nodes[0])
        with psycopg.connect(postgres_url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as db:
            cut = db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE application_name LIKE %s", (f"hcserver listen {driver}#%",)).fetchall()
        assert cut == [(True,)], "the driving node's listening connection, found by its name"
        with other.client() as hc:
            job = hc.submit_files([images["CT_small.dcm"]], printer="film")
            result = hc.wait(job, timeout=15)   # leases of 300 s: no lease tick within this
            assert result["state"] == "completed", result
        wait_for(lambda: "listening for the other nodes' job changes again" in driving.log.read_text(), 10,
                 "the node to listen again")
        assert driving.alive()
    finally:
        for node in nodes:
            node.cleanup()


@pytest.mark.dicom
def test_a_node_that_stalls_past_its_lease_stops_printing_when_it_wakes(postgres_url, tmp_path):
    """SIGSTOP the driving node for longer than its lease (a VM pause, a stuck disk): the other
    node takes its printer and job over. When it wakes it may finish the film it was on (the one
    in flight) but must claim nothing more and print no further film."""
    lease_s = 3
    slow = [Fault(operation="N-ACTION", behaviour="stall", stall_s=0.2, times=None)]
    with PrinterSimulator(port=0, out_dir=tmp_path / "films", faults=slow) as sim:
        spool = tmp_path / "spool"
        started = start_nodes([node_config(postgres_url, spool, name, lease_s, {"sim": sim.port})
                               for name in ("alpha", "beta")])
        nodes = dict(zip(("alpha", "beta"), started))
        try:
            jobs = submit_jobs(started[0], tmp_path, "sim", 1, 3)
            driver = wait_for(lambda: driver_of(started[0], "sim"), 10, "a node to drive the printer")
            other = "beta" if driver == "alpha" else "alpha"
            wait_for(lambda: len(sim.films) >= 2, 30, "two films")
            nodes[driver].proc.send_signal(signal.SIGSTOP)
            try:
                wait_for(lambda: sum(f["calling_ae"] == other.upper() for f in sim.films) >= 2, 60,
                         "the other node to print after the lease ran out")
            finally:
                woke = datetime.now(UTC)
                nodes[driver].proc.send_signal(signal.SIGCONT)
            with nodes[other].client() as hc:
                results = [hc.wait(job, timeout=120) for job in jobs]
        finally:
            for node in started:
                node.cleanup()
        films = sim.films
    assert [r["state"] for r in results] == ["completed"] * 3, results
    arrived = Counter(film["image_boxes"][0]["md5"] for film in films)
    assert len(arrived) == 3 * FILMS_PER_JOB, "every film arrived"
    assert sum(arrived.values()) - len(arrived) <= 1, "at most the film in flight was printed twice"
    late = [f for f in films if f["calling_ae"] == driver.upper() and datetime.fromisoformat(f["time"]) > woke]
    assert len(late) <= 1, f"the node that woke printed {len(late)} more films"


def test_a_second_node_with_the_same_name_refuses_to_start(postgres_url, tmp_path):
    spool = tmp_path / "spool"
    (first,) = start_nodes([node_config(postgres_url, spool, "alpha", 300)])
    twin = DaemonProcess(node_config(postgres_url, spool, "alpha", 300))
    try:
        with pytest.raises(RuntimeError, match="another hcserver node named 'alpha' is connected"):
            twin.start()
        assert first.alive()
    finally:
        twin.cleanup()
        first.cleanup()
