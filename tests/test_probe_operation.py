"""``hcq probe`` through a real daemon: for administrators only, between jobs (refused while the
printer prints), as a table, JSON, or the printer's configuration block; printers named by a
profile print through the daemon."""
from __future__ import annotations

import json
import os
import tomllib

import pytest

from hcserver.config import parse
from hcserver.simulator import Fault, PrinterSimulator
from tests.support.configs import dicom_config
from tests.support.daemon import DaemonProcess, wait_for
from tests.support.hcq import run_hcq
from tests.support.jobs import job_of
from tests.support.root import needs_root
from tests.support.users import NOBODY, run_as

pytestmark = [pytest.mark.dicom, pytest.mark.slow]   # every test starts a daemon process


def hcq(daemon, *args, timeout=120):
    return run_hcq(daemon, *args, timeout=timeout)


@pytest.fixture
def restricted(tmp_path):
    """The simulator emulating the IHE restricted printer, and a daemon with a printer that names that
    profile (and a preview printer)."""
    with PrinterSimulator(port=0, ae_title="PRINTSCP", out_dir=tmp_path / "films", profile="ihe-restricted") as sim:
        config = dicom_config({"sim": sim.port}, profile='"ihe-restricted"') + (
            '\n[printers.film]\ndriver = "preview"\ndpi = 20\n')
        config = config.replace("[server]", '[server]\nsocket_group = "nogroup"', 1)
        process = DaemonProcess(config)
        os.chmod(process.dir, 0o755)   # let another user reach the socket
        process.start()
        yield sim, process
        process.cleanup()


@needs_root("running the non-administrator as another user")
def test_probe_prints_what_the_printer_accepts_for_administrators_only(restricted, images):
    sim, daemon = restricted
    table = hcq(daemon, "probe", "sim")
    assert table.returncode == 0, table.stderr
    assert "nothing printed" in table.stdout and "film sizes" in table.stdout
    assert "0x0106: Invalid Attribute Value" in table.stdout     # the meaning of each refusal
    answer = json.loads(hcq(daemon, "probe", "sim", "--json").stdout)
    assert answer["complete"] is True and answer["printer"] == "sim"
    assert [t["value"] for t in answer["medium_types"] if t["accepted"]] == ["STOREDPRINT"]   # as configured
    block = hcq(daemon, "probe", "sim", "--toml").stdout
    found = parse(block, "probe block").printers["sim"]
    assert (found.ae_title, found.port) == ("PRINTSCP", sim.port)
    assert found.display_formats == ("STANDARD\\1,1",) and found.medium_types == ("STOREDPRINT",)
    assert found.film_sizes == ("8INX10IN", "11INX14IN", "14INX17IN")
    assert tomllib.loads(block)["printers"]["sim"]["defaults"]["medium_type"] == "STOREDPRINT"
    assert sim.received_count("N-ACTION") == 0 and sim.films == []
    # a preview printer has nothing to probe; a user who is no administrator may not
    refused = hcq(daemon, "probe", "film")
    assert refused.returncode == 1 and "printer 'film' is a preview printer: only a DICOM printer" in refused.stderr
    assert run_as(NOBODY, daemon.socket, lambda client: client.probe("sim"))[:2] == ["error", "forbidden"]
    # the printer named by its profile prints, and refuses at submit what the profile lacks
    with daemon.client() as hc:
        job = hc.submit(job_of(images, layout="STANDARD\\1,1", per_film=1))
        assert hc.wait(job, timeout=60)["state"] == "completed"
        # a layout it lacks is composed into the STANDARD\1,1 it lists, with a warning
        composed = hc.wait(hc.submit(job_of(images)), timeout=60)
        assert composed["state"] == "completed" and "composed" in composed["warnings"][0]["meaning"], composed
    assert sim.films[-1]["film_session"]["medium_type"] == "STOREDPRINT"
    assert sim.films[-1]["film_box"]["image_display_format"] == "STANDARD\\1,1"
    audit = [json.loads(line) for line in (daemon.dir / "var" / "audit.log").read_text().splitlines()]
    probes = [(e["who"], e.get("refused")) for e in audit if e["action"] == "probe"]
    assert probes == [("root", None)] * 3 + [("root", "not-dicom"), ("nobody", "forbidden")]


def test_probe_is_refused_while_the_printer_prints_and_runs_between_jobs(tmp_path, images):
    with PrinterSimulator(port=0, ae_title="PRINTSCP", out_dir=tmp_path / "films") as sim:
        # every image box takes 3 s while the fault stands: the job of 20 films prints until it is cleared
        stall = sim.add_fault(Fault(operation="N-SET", behaviour="stall", stall_s=3, status=0x0000, times=None))
        daemon = DaemonProcess(dicom_config({"sim": sim.port})).start()
        try:
            with daemon.client() as hc:
                job = hc.submit(job_of(images, films=20, per_film=1, layout="STANDARD\\1,1"))
                wait_for(lambda: hc.show(job)["state"] == "processing", what="the job printing")
                busy = hcq(daemon, "probe", "sim")
                assert busy.returncode == 1
                assert f"hcq: printer 'sim' is printing job {job}: probe it between jobs" in busy.stderr
                assert sim.faults == [stall]
                sim.clear_faults()
                assert hc.wait(job, timeout=60)["state"] == "completed"
                done = hcq(daemon, "probe", "sim", "--json")
                assert done.returncode == 0, done.stderr
                assert json.loads(done.stdout)["complete"] is True
                assert hc.wait(hc.submit(job_of(images, per_film=1, layout="STANDARD\\1,1")),
                               timeout=60)["state"] == "completed"
        finally:
            daemon.cleanup()
        assert len(sim.films) == 21 and sim.received_count("N-ACTION") == 21
