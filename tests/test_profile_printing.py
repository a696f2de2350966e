"""Every printer profile (hcserver.profiles) prints: a printer that names it prints a film to DCMTK's
dcmprscp configured to match the profile (its knobs: tests/support/profiles.py) and to the printer
simulator emulating it; and both printers refuse, alike, what the profile does not list."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE

from hcserver import profiles
from hcserver.drivers.base import Action, JobTicket
from hcserver.formatter.geometry import FILM_SIZES
from hcserver.simulator import PrinterSimulator
from hcserver.simulator import main as simulator_main
from tests.support.profiles import dcmprscp_options, profile_printer
from tests.support.scu import expect_failure, run_job, sheet

pytestmark = pytest.mark.dicom

NAMES = profiles.names()


def _boxes(layout: str) -> int:
    columns, rows = (int(n) for n in layout.split("\\")[1].split(","))
    return columns * rows


def film_of(printer):
    """A film of the profile's own: its default film size, its largest layout of at most 4 boxes."""
    layout = max((f for f in printer.display_formats if _boxes(f) <= 4), key=_boxes)
    return sheet(fmt=layout, film_size=printer.defaults.film_size, bits=printer.bit_depth)


def ticket_of(printer) -> JobTicket:
    return JobTicket(job_id=1, medium_type=printer.defaults.medium_type,
                     film_destination=printer.defaults.film_destination)


def lacking_film_size(printer) -> str:
    return next(size for size in FILM_SIZES if size not in printer.film_sizes)


@pytest.mark.parametrize("name", NAMES)
def test_a_profile_prints_to_dcmprscp_configured_to_match_it(name, dcmprscp_factory, drivers):
    scp = dcmprscp_factory(**dcmprscp_options(name))
    printer = profile_printer(name, scp.port)
    film = film_of(printer)
    observer = run_job(drivers(printer), [film], ticket_of(printer))
    assert observer.warnings == []
    stored = scp.films()
    assert [(f.display_format, f.film_size, f.orientation) for f in stored] == [
        (film.display_format, printer.defaults.film_size, "PORTRAIT")]
    assert len(stored[0].images) == _boxes(film.display_format)
    assert {image.bits_stored for image in stored[0].images} == {printer.bit_depth}
    # dcmprscp refuses a Presentation LUT referenced at the level its profile does not take (0x0105)
    assert (("N-CREATE", "presentation-lut") in observer.operations()) == printer.presentation_lut


@pytest.mark.parametrize("name", NAMES)
def test_a_profile_prints_to_the_simulator_emulating_it(name, drivers, tmp_path):
    with PrinterSimulator(port=0, ae_title="PRINTSCP", out_dir=tmp_path / "films", profile=name) as sim:
        printer = profile_printer(name, sim.port)
        film = film_of(printer)
        run_job(drivers(printer), [film], ticket_of(printer))
        assert sim.wait_for_films(1)
        record = sim.films[0]
    box, session = record["film_box"], record["film_session"]
    assert (box["image_display_format"], box["film_size_id"]) == (film.display_format, printer.defaults.film_size)
    assert session["medium_type"] == printer.defaults.medium_type
    assert {image["bits_stored"] for image in record["image_boxes"]} == {printer.bit_depth}
    plut_session, plut_box = session["presentation_lut"], box["presentation_lut"]
    if not printer.presentation_lut:
        assert plut_session is None and plut_box is None
    elif printer.plut_in_film_session:
        assert plut_session is not None and plut_box is None
    else:
        assert plut_session is None and plut_box is not None


@pytest.mark.parametrize("name", NAMES)
def test_what_a_profile_lacks_is_refused_alike_by_dcmprscp_and_the_simulator(name, dcmprscp_factory, drivers):
    scp = dcmprscp_factory(**dcmprscp_options(name))
    with PrinterSimulator(port=0, ae_title="PRINTSCP", profile=name) as sim:
        refusals = []
        for port in (scp.port, sim.port):
            printer = profile_printer(name, port)
            lacking = sheet(fmt=printer.display_formats[0], film_size=lacking_film_size(printer),
                            bits=printer.bit_depth)
            failure = expect_failure(drivers(printer), [lacking], Action.FAIL)
            refusals.append((failure.operation, failure.status))
        assert sim.films == []
    assert refusals == [("N-CREATE", 0x0106)] * 2
    assert scp.film_count() == 0


def test_both_refuse_a_presentation_lut_where_the_profile_does_not_take_it(drivers, dcmprscp_factory):
    # agfa-drystar-3000 takes it on the film session; a printer configured for the film box is
    # refused by both peers with 0x0105 (No such attribute)
    scp = dcmprscp_factory(**dcmprscp_options("agfa-drystar-3000"))
    with PrinterSimulator(port=0, ae_title="PRINTSCP", profile="agfa-drystar-3000") as sim:
        for port in (scp.port, sim.port):
            printer = profile_printer("agfa-drystar-3000", port, extra="plut_in_film_session = false\n")
            failure = expect_failure(drivers(printer), [film_of(printer)], Action.FAIL)
            assert (failure.operation, failure.status) == ("N-CREATE", 0x0105), failure.reason


def test_a_profile_that_takes_implicit_vr_only_is_emulated():
    with PrinterSimulator(port=0, profile="ihe-restricted") as restricted, PrinterSimulator(port=0) as anything:
        for sim, accepted in ((restricted, False), (anything, True)):
            ae = AE("T")
            ae.add_requested_context("1.2.840.10008.5.1.1.9", [ExplicitVRLittleEndian])
            assoc = ae.associate("127.0.0.1", sim.port)
            try:
                assert bool(assoc.is_established and assoc.accepted_contexts) == accepted
            finally:
                if assoc.is_established:
                    assoc.release()


def test_the_simulator_command_emulates_a_profile(drivers, capsys):
    with pytest.raises(SystemExit) as info:
        simulator_main(["--profile", "drystar"])
    assert info.value.code == 2
    assert "argument --profile: invalid choice: 'drystar' (choose from 'agfa-drystar-3000'," in capsys.readouterr().err
    proc = subprocess.Popen([sys.executable, "-m", "hcserver.simulator", "--port", "0", "--ae-title", "PRINTSCP",
                             "--profile", "ihe-restricted"], stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        while "emulating profile" not in line:   # what it prints once it listens
            assert proc.poll() is None, line
            line = proc.stderr.readline()
        assert line.rstrip().endswith(", emulating profile ihe-restricted"), line
        port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
        printer = profile_printer("ihe-restricted", port)
        run_job(drivers(printer), [film_of(printer)], ticket_of(printer))
        wide = profile_printer("ihe-restricted", port, extra='display_formats = ["STANDARD\\\\2,2"]\n'
                                                             'defaults = { layout = "STANDARD\\\\2,2" }\n')
        failure = expect_failure(drivers(wide), [sheet(fmt="STANDARD\\2,2", bits=12)], Action.FAIL)
        assert (failure.operation, failure.status) == ("N-CREATE", 0x0106)
    finally:
        proc.terminate()
        proc.wait(10)
