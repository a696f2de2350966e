"""Printer pools through a real daemon: members that are the bundled printer simulator and DCMTK's
dcmprscp, printing over DICOM; and a reload that changes the pools (preview printers).

Expected outcomes are written by hand from README, "Printer pools": a pool's job prints on the
first member that is free (first-available) or on the members in turn (round-robin); a member
that stops leaves the pool's jobs to the others and keeps the jobs sent to it.
"""
from __future__ import annotations

import json
import subprocess

import pytest

from hcserver.client import ClientError
from hcserver.simulator import Fault, PrinterSimulator
from tests.support.configs import dicom_config
from tests.support.daemon import DaemonProcess, wait_for
from tests.support.hcq import run_hcq
from tests.support.ports import free_port

pytestmark = pytest.mark.slow   # every test starts a daemon process


def pool(name: str, members: list[str], policy: str = "first-available") -> str:
    return f"\n[pools.{name}]\nprinters = {json.dumps(members)}\npolicy = \"{policy}\"\n"


def one_film(images, printer: str, **fields) -> dict:
    return {"printer": printer, **fields, "films": [{"layout": "STANDARD\\1,1", "film_size": "14INX17IN",
                                                     "frames": [images["CT_small.dcm"]]}]}


def hcq(process: DaemonProcess, *args: str) -> subprocess.CompletedProcess:
    return run_hcq(process, *args, timeout=120)


def printer(hc, name: str) -> dict:
    return {p["name"]: p for p in hc.printers()}[name]


@pytest.fixture
def started():
    processes: list[DaemonProcess] = []

    def start(config: str) -> DaemonProcess:
        processes.append(DaemonProcess(config).start())
        return processes[-1]

    yield start
    for process in processes:
        process.cleanup()


# ---- first-available, and a member that stops ---------------------------------------------------

def _stop(simulator: PrinterSimulator, how: str) -> None:
    if how == "FAILURE status":
        simulator.set_printer_status("FAILURE", "FILM JAM")
    else:   # result 1 (permanent), source 1 (service user), reason 3 (calling AE title not recognised)
        simulator.add_fault(Fault("A-ASSOCIATE", behaviour="reject", reject=(1, 1, 3), times=None))
        simulator.drop_associations()   # the printer restarts: the idle association of job 1 is gone


def _recover(simulator: PrinterSimulator, how: str) -> None:
    if how == "FAILURE status":
        simulator.set_printer_status("NORMAL", "NORMAL")
    else:
        simulator.clear_faults()


@pytest.mark.dicom
@pytest.mark.parametrize("how", ["FAILURE status", "permanent rejection"])
def test_a_pool_prints_on_its_first_member_and_a_stopped_member_hands_its_pool_jobs_over(
        started, tmp_path, dcmprscp, images, how):
    with PrinterSimulator(port=0, out_dir=tmp_path / "films") as simulator:
        config = dicom_config({"sim": simulator.port, "dcmtk": dcmprscp.port}) + pool("film", ["sim", "dcmtk"])
        process = started(config)
        with process.client() as hc:
            first = hc.wait(hc.submit(one_film(images, "film")), timeout=60)
            assert (first["state"], first["printer"], first["printed_on"]) == ("completed", "film", "sim")
            assert (len(simulator.films), dcmprscp.film_count()) == (1, 0)

            _stop(simulator, how)
            handed = hc.submit(one_film(images, "film"))   # sim is free: it takes it, and stops
            result = hc.wait(handed, timeout=60)
            assert (result["state"], result["printed_on"]) == ("completed", "dcmtk")
            assert printer(hc, "sim")["stopped"]
            events = hc.show(handed)["events"]
            starts = [e["reason"] for e in events if e["kind"] == "start"]
            assert starts[0].startswith("printing on sim (pool film)")
            assert starts[-1].startswith("printing on dcmtk (pool film)")
            assert [e["kind"] for e in events if e["kind"] in ("requeue", "complete")] == ["requeue", "complete"]

            own = hc.submit(one_film(images, "sim"))        # sent to sim itself: it waits for sim
            after = hc.wait(hc.submit(one_film(images, "film")), timeout=60)
            assert after["printed_on"] == "dcmtk" and hc.show(own)["state"] == "pending"
            assert dcmprscp.film_count() == 2 and len(simulator.films) == 1

            _recover(simulator, how)                        # its status poll finds it well again
            assert hc.wait(own, timeout=60)["state"] == "completed"
            again = hc.wait(hc.submit(one_film(images, "film")), timeout=60)
            assert again["printed_on"] == "sim"
    assert len(simulator.films) == 3 and dcmprscp.film_count() == 2


@pytest.mark.dicom
def test_a_switched_off_member_retries_its_pool_job_then_leaves_the_pools_jobs_to_the_others(
        started, tmp_path, dcmprscp, images):
    off = free_port()   # nothing listens: the printer is switched off (not stopped: nothing says why)
    process = started(dicom_config({"off": off, "dcmtk": dcmprscp.port}) + pool("film", ["off", "dcmtk"]))
    with process.client() as hc:
        first = hc.submit(one_film(images, "film"))
        result = hc.wait(first, timeout=60)
        assert (result["state"], result["printed_on"]) == ("completed", "dcmtk")
        kinds = [(e["kind"], e["reason"].split(" (node")[0]) for e in hc.show(first)["events"]
                 if e["kind"] in ("start", "retry", "complete")]
        assert [kind for kind, _ in kinds] == ["start", "retry", "start", "complete"]
        assert kinds[0][1] == "printing on off (pool film)" and kinds[2][1] == "printing on dcmtk (pool film)"
        assert not printer(hc, "off")["stopped"]

        later = hc.wait(hc.submit(one_film(images, "film")), timeout=60)   # dcmtk first now: no retry
        assert later["printed_on"] == "dcmtk" and later["attempts"] == 1
        assert hc.printers_and_pools()[1][0]["next"] == "dcmtk"

        with PrinterSimulator(port=off, out_dir=tmp_path / "films") as simulator:   # switched on again
            own = hc.wait(hc.submit(one_film(images, "off")), timeout=60)   # its own job completes on it ...
            assert own["state"] == "completed"
            again = hc.wait(hc.submit(one_film(images, "film")), timeout=60)
            assert again["printed_on"] == "off"                               # ... so it is first again
            assert len(simulator.films) == 2
    assert dcmprscp.film_count() == 2


@pytest.mark.dicom
def test_a_busy_first_member_leaves_the_next_pool_job_to_the_second(started, tmp_path, images):
    with PrinterSimulator(port=0, out_dir=tmp_path / "a") as a, PrinterSimulator(port=0, out_dir=tmp_path / "b") as b:
        a.add_fault(Fault("N-ACTION", behaviour="stall", times=None))   # a's film never ends: a stays busy
        process = started(dicom_config({"a": a.port, "b": b.port}) + pool("film", ["a", "b"]))
        with process.client() as hc:
            stuck = hc.submit(one_film(images, "film"))
            wait_for(lambda: hc.show(stuck)["state"] == "processing", what="job 1 to print on a")
            assert hc.show(stuck)["printed_on"] == "a"
            second = hc.wait(hc.submit(one_film(images, "film")), timeout=60)
            assert (second["state"], second["printed_on"]) == ("completed", "b")
            hc.cancel(stuck)


# ---- round robin, and what hcq shows ------------------------------------------------------------

@pytest.mark.dicom
def test_round_robin_alternates_and_hcq_knows_pools(started, tmp_path, images):
    with PrinterSimulator(port=0, out_dir=tmp_path / "a") as a, PrinterSimulator(port=0, out_dir=tmp_path / "b") as b:
        process = started(dicom_config({"a": a.port, "b": b.port}) + pool("film", ["a", "b"], "round-robin"))
        with process.client() as hc:
            jobs = [hc.wait(hc.submit(one_film(images, "film")), timeout=60) for _ in range(4)]
            assert [job["printed_on"] for job in jobs] == ["a", "b", "a", "b"]
            assert (len(a.films), len(b.films)) == (2, 2)

            # move into a pool and out of it; it prints where it was moved
            into = hc.submit(one_film(images, "a"), hold=True)
            out_of = hc.submit(one_film(images, "film"), hold=True)
        listed = json.loads(hcq(process, "list", "--printer", "film", "--json").stdout)
        assert [job["id"] for job in listed] == [out_of]
        assert hcq(process, "move", str(into), "film").stdout.strip() == f"job {into}: moved to film"
        assert hcq(process, "move", str(out_of), "b").stdout.strip() == f"job {out_of}: moved to b"
        refused = hcq(process, "move", str(into), "laser")
        assert refused.returncode != 0
        assert refused.stderr.strip() == "hcq: no printer or pool 'laser' (configured: a, b; pools: film)"
        with process.client() as hc:
            hc.release(into)
            hc.release(out_of)
            assert hc.wait(into, timeout=60)["printed_on"] == "a"   # a's turn after b
            assert hc.wait(out_of, timeout=60)["printed_on"] == "b"

        history = json.loads(hcq(process, "list", "--all", "--printer", "a", "--json").stdout)
        assert sorted(job["id"] for job in history) == sorted([jobs[0]["id"], jobs[2]["id"], into])
        table = hcq(process, "list", "--all", "--printer", "film").stdout
        assert table.count("film (a)") == 3 and table.count("film (b)") == 2
        shown = hcq(process, "show", str(jobs[1]["id"])).stdout
        assert "printer           film" in shown and "printed_on        b" in shown
        printers = hcq(process, "printers").stdout
        assert "pools" in printers and "round-robin" in printers and "a, b" in printers
        pools = json.loads(hcq(process, "pools", "--json").stdout)
        # the job moved into the pool was its latest (on a); the one moved out of it was b's own
        assert pools == [{"name": "film", "policy": "round-robin", "printers": ["a", "b"], "queued": 0,
                          "printing": [], "last_member": "a", "next": "b"}]
        assert {p["name"]: p["pools"] for p in json.loads(hcq(process, "printers", "--json").stdout)} == {
            "a": ["film"], "b": ["film"]}


@pytest.mark.dicom
def test_submit_to_a_pool_from_hcq_and_refusals(started, tmp_path, images):
    with PrinterSimulator(port=0, out_dir=tmp_path / "a") as a:
        process = started(dicom_config({"a": a.port, "b": a.port}) + pool("film", ["a", "b"]))
        done = hcq(process, "submit", "-p", "film", "--wait", images["CT_small.dcm"])
        assert done.returncode == 0, done.stderr
        with process.client() as hc:
            assert hc.show(int(done.stdout.strip()))["printed_on"] == "a"
            for name in ("a", "b"):
                hc.printer_admin("reject", name)
            with pytest.raises(ClientError) as refused:
                hc.submit(one_film(images, "film"))
            assert str(refused.value) == ("pool 'film' is not accepting jobs: none of its printers (a, b) accepts "
                                          "new jobs")
            hc.printer_admin("accept", "b")
            assert hc.wait(hc.submit(one_film(images, "film")), timeout=60)["printed_on"] == "b"   # a rejects


# ---- reload ---------------------------------------------------------------------------------

PREVIEWS = """
[server]
state_dir = "@STATE@"

[printers.a]
driver = "preview"
dpi = 20

[printers.b]
driver = "preview"
dpi = 20
"""


def film_of(images, printer: str, film_size: str) -> dict:
    return {"printer": printer, "films": [{"layout": "STANDARD\\1,1", "film_size": film_size,
                                           "frames": [images["CT_small.dcm"]]}]}


def test_reload_with_pools_changed(started, images):
    process = started(PREVIEWS + pool("film", ["a"]))
    both = PREVIEWS + pool("film", ["a", "b"])
    narrower = both.replace('[printers.b]\ndriver = "preview"\n', '[printers.b]\ndriver = "preview"\n'
                                                                  'film_sizes = ["8INX10IN"]\n'
                                                                  'defaults = { film_size = "8INX10IN" }\n')
    with process.client() as hc:
        hc.printer_admin("disable", "a")
        waiting = hc.submit(film_of(images, "film", "14INX17IN"))
        process.config.write_text(both)
        summary = hc.reload()
        assert (summary["pools_changed"], summary["held"]) == (["film"], [])
        done = hc.wait(waiting, timeout=60)            # b joined: it takes the waiting job
        assert (done["state"], done["printed_on"]) == ("completed", "b")

        hc.printer_admin("disable", "b")
        big = hc.submit(film_of(images, "film", "14INX17IN"))
        small = hc.submit(film_of(images, "film", "8INX10IN"))
        listed = hcq(process, "list", "--wide").stdout   # neither member takes them: the note says why
        assert listed.count("waits: no printer of pool film can take it: a is disabled: disabled by ") == 2
        assert "; b is disabled: disabled by " in listed
        process.config.write_text(narrower)           # b takes 8INX10IN only now
        summary = hc.reload()
        assert (summary["changed"], summary["held"]) == (["b"], [big])
        held = hc.show(big)
        assert held["state"] == "held" and hc.show(small)["state"] == "pending"
        assert held["events"][-1]["reason"] == (
            "pool film was reloaded and cannot print this job as it stands: films[0].film_size: '14INX17IN' is not "
            "one of: 8INX10IN (printer b of pool film)")

        process.config.write_text(PREVIEWS)           # the pool is gone: its waiting job is held, not lost
        summary = hc.reload()
        assert summary["pools_removed"] == ["film"]
        events = hc.show(small)["events"]
        assert hc.show(small)["state"] == "held"
        assert events[-1]["reason"] == "pool film was removed from the configuration"
        with pytest.raises(ClientError) as refused:
            hc.release(small)                          # it would wait for a pool no node knows
        assert "removed from the configuration" in str(refused.value)

        process.config.write_text(PREVIEWS + pool("film", ["a", "dryview3"]))
        with pytest.raises(ClientError) as refused:
            hc.reload()
        assert refused.value.code == "bad-config"
        assert "pools.film.printers[1]: no printer 'dryview3' (configured: a, b)" in str(refused.value)
    assert hcq(process, "pools").stdout.strip() == "no pools"   # the running configuration stays
