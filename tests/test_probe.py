"""Capability probing (hcserver.drivers.dicom.probe) against real peers: DCMTK's dcmprscp configured
as restrictive printers (the knobs of each printer profile) and the printer simulator emulating the
profiles, misbehaving, or accepting anything. Expected values come from the profiles and dcmprscp's
knobs, never from the probe's own lists."""
from __future__ import annotations

import tomllib

import pytest

from hcserver import profiles
from hcserver.cli.probe_view import toml_block
from hcserver.config import parse
from hcserver.drivers.dicom.probe import probe
from hcserver.simulator import Fault, PrinterSimulator
from tests.support.dcmtk import DEFAULT_OPTIONS
from tests.support.profiles import dcmprscp_options, profile_printer
from tests.support.scu import SERVER, printer, run_job, sheet

pytestmark = pytest.mark.dicom

NAMES = profiles.names()
# The Film Size IDs and Magnification Types a printer may accept (docs/CONFORMANCE.md, the printer
# settings), in that order, and the common STANDARD layouts the probe tries, written out here
FILM_SIZES = ("8INX10IN", "8_5INX11IN", "10INX12IN", "10INX14IN", "11INX14IN", "11INX17IN", "14INX14IN",
              "14INX17IN", "24CMX24CM", "24CMX30CM", "A4", "A3")
MAGNIFICATIONS = ("REPLICATE", "BILINEAR", "CUBIC", "NONE")
DISPLAY_FORMATS = tuple(f"STANDARD\\{layout}" for layout in (
    "1,1", "1,2", "2,1", "2,2", "2,3", "3,2", "3,3", "3,4", "4,3", "3,5", "4,4", "4,5", "5,4",
    "4,6", "5,5", "5,6", "5,7", "6,5"))


def accepted(result, key: str) -> set[str]:
    return {t.value for t in getattr(result, key) if t.accepted}


def block_config(result, port: int):
    """The printer the probe's --toml block configures, as the configuration reads it."""
    answer = result.to_dict()
    answer["connection"] = {"driver": "dicom", "ae_title": "PRINTSCP", "host": "127.0.0.1", "port": port}
    block = toml_block(answer)
    tomllib.loads(block)   # valid TOML on its own
    return parse(block, "probe block").printers[result.printer]


@pytest.mark.parametrize("name", NAMES)
def test_probing_dcmprscp_configured_as_a_profile_finds_its_knobs(name, dcmprscp_factory, drivers):
    options = dcmprscp_options(name)
    knobs = {**DEFAULT_OPTIONS, **options}
    scp = dcmprscp_factory(**options)
    configured = profile_printer(name, scp.port)      # its configured values are tried too
    result = probe(configured, SERVER.station)
    assert result.complete, result.stopped
    listed = {key: set(knobs[key].split("\\")) for key in ("film_sizes", "medium_types", "film_destinations",
                                                             "magnification_types")}
    assert accepted(result, "film_sizes") == listed["film_sizes"] & set(FILM_SIZES)
    assert accepted(result, "medium_types") == listed["medium_types"]
    assert accepted(result, "film_destinations") == listed["film_destinations"]
    assert accepted(result, "magnification_types") == listed["magnification_types"] & set(MAGNIFICATIONS)
    assert accepted(result, "display_formats") == {f"STANDARD\\{f}" for f in knobs["display_formats"].split("\\")}
    assert accepted(result, "bit_depths") == ({"12", "8"} if knobs["supports_12bit"] else {"8"})
    # DCMTK accepts the Presentation LUT class whatever its knob says (its README): the level is the knob's
    assert accepted(result, "presentation_lut") == {"created",
                                                    "film-session" if knobs["plut_in_session"] else "film-box"}
    assert result.sop_classes["color-meta"] is False and result.sop_classes["printer-configuration"] is False
    assert result.printer_attributes == {"PrinterStatus": "NORMAL", "PrinterStatusInfo": "NORMAL"}
    assert scp.film_count() == 0          # nothing was printed
    # the block it writes is the configuration of a printer that prints there
    found = block_config(result, scp.port)
    assert found.plut_in_film_session == knobs["plut_in_session"]
    film = sheet(fmt=found.display_formats[-1], film_size=found.defaults.film_size, bits=found.bit_depth)
    run_job(drivers(found), [film])
    assert [f.display_format for f in scp.films()] == [found.display_formats[-1]]


@pytest.mark.parametrize("name", NAMES)
def test_probing_the_simulator_emulating_a_profile_finds_the_profile(name, tmp_path):
    profile = profiles.load(name).printer
    with PrinterSimulator(port=0, ae_title="PRINTSCP", profile=name) as sim:
        result = probe(profile_printer(name, sim.port), SERVER.station)
        log = list(sim.log)
        assert sim.films == []
    assert result.complete, result.stopped
    assert result.settings["film_sizes"] == [s for s in FILM_SIZES if s in profile["film_sizes"]]
    assert set(result.settings["display_formats"]) == set(profile["display_formats"])
    assert set(result.settings["magnification_types"]) == set(profile["magnification_types"])
    for key in ("medium_types", "film_destinations"):
        if key in profile:
            assert set(result.settings[key]) == set(profile[key])
    assert result.settings["bit_depth"] == profile.get("bit_depth", 8)
    assert result.settings["color"] == profile.get("color", False)
    assert result.settings["presentation_lut"] == profile.get("presentation_lut", False)
    if profile.get("presentation_lut"):
        assert result.settings["plut_in_film_session"] == profile.get("plut_in_film_session", False)
    assert result.settings.get("annotation_box", False) == profile.get("annotation_box", False)
    assert result.configuration and "PrintingBitDepth" in result.configuration[0]
    # never an N-ACTION, and every film session and film box it created it deleted
    operations = [(e["operation"], e["sop_class"], e["status"]) for e in log if e.get("direction") == "in"]
    assert not any(op == "N-ACTION" for op, _, _ in operations)
    for sop in ("film-session", "film-box", "presentation-lut"):
        created = sum(1 for op, s, status in operations if (op, s) == ("N-CREATE", sop) and status == 0)
        deleted = sum(1 for op, s, status in operations if (op, s) == ("N-DELETE", sop) and status == 0)
        assert created == deleted, sop


def test_a_printer_that_takes_anything_is_tried_with_the_common_list_only(sim):
    result = probe(printer(sim.port), SERVER.station)
    assert result.complete
    assert [t.value for t in result.display_formats] == list(DISPLAY_FORMATS)
    assert accepted(result, "display_formats") == set(DISPLAY_FORMATS)
    assert accepted(result, "film_sizes") == set(FILM_SIZES)
    assert result.settings["annotation_box"] is True and result.annotation[0].meaning == "2 annotation box(es)"
    assert result.settings["color"] is True and result.settings["print_job"] is True
    assert result.printer_attributes["ManufacturerModelName"] == "Printer Simulator"
    assert result.requests < 150


def test_a_refusal_is_kept_with_its_status_and_meaning_and_the_probe_goes_on(sim):
    sim.add_fault(Fault(operation="N-CREATE", sop_class="film-session", status=0x0213, comment="no memory left"))
    result = probe(printer(sim.port), SERVER.station)
    assert result.complete
    first = result.medium_types[0]
    assert (first.value, first.accepted, first.status) == ("PAPER", False, 0x0213)
    assert (first.meaning, first.comment) == ("Resource limitation", "no memory left")
    assert all(t.accepted for t in result.medium_types[1:])
    assert "medium_types" in result.settings and "PAPER" not in result.settings["medium_types"]


def test_a_printer_that_will_not_delete_a_film_session_gets_a_new_association_for_the_next(sim):
    # N-DELETE is optional for a Print SCP: what it does not delete it holds until the association ends
    sim.add_fault(Fault(operation="N-DELETE", sop_class="film-session", status=0x0211, times=None))
    result = probe(printer(sim.port), SERVER.station)
    assert result.complete, result.stopped
    sessions = len(result.medium_types) + len(result.film_destinations) + 2   # the LUT's, the film boxes'
    assert result.associations == sim.associations == 1 + sessions
    assert [n for n in result.notes if n.startswith("N-DELETE film-session refused")] == [
        "N-DELETE film-session refused: 0x0211 Unrecognized operation (printer says: injected fault); what it "
        "holds ends with a new association"]
    assert all(t.accepted for t in result.medium_types + result.film_sizes + result.bit_depths)
    assert accepted(result, "presentation_lut") == {"created", "film-box", "film-session"}


def test_a_printer_that_aborts_mid_probe_is_reported_with_what_was_learnt(sim):
    # the 4th film box: after the base layout and two film sizes
    sim.add_fault(Fault(operation="N-CREATE", sop_class="film-box", behaviour="abort", nth=4))
    result = probe(printer(sim.port), SERVER.station)
    assert not result.complete
    assert "N-CREATE film-box" in result.stopped and "aborted the association" in result.stopped
    assert [t.value for t in result.film_sizes] == ["8INX10IN", "8_5INX11IN"]
    assert len(result.medium_types) == 5 and result.display_formats == []
    # what it had learnt; not the film sizes it was trying (more may be accepted), nor what came after
    assert result.cut_short == "film_sizes"
    assert len(result.settings["medium_types"]) == 5 and len(result.settings["film_destinations"]) == 4
    assert "film_sizes" not in result.settings and "display_formats" not in result.settings
    assert "film_sizes: left out, the probe stopped while trying them" in result.notes


def test_a_printer_that_closes_the_connection_on_an_image_is_reported_with_why(sim):
    sim.add_fault(Fault(operation="N-SET", sop_class="image-box", behaviour="close"))
    result = probe(printer(sim.port), SERVER.station)
    assert result.cut_short == "bit_depths" and result.bit_depths == []
    assert result.stopped.startswith("N-SET grayscale-image-box: the printer closed the connection"), result.stopped
    assert len(result.settings["magnification_types"]) == 4 and "bit_depth" not in result.settings


def test_a_probe_is_bounded_by_its_request_limit(sim):
    result = probe(printer(sim.port), SERVER.station, max_requests=10)
    assert (result.complete, result.requests) == (False, 10)
    assert result.stopped == "stopped after 10 requests, the probe's limit"
    assert sim.releases == 1           # it ends its association politely


def test_a_printer_that_rejects_the_association_is_reported(tmp_path):
    with PrinterSimulator(port=0, refuse=(1, 1, 3)) as sim:
        result = probe(printer(sim.port), SERVER.station)
    assert not result.complete and result.requests == 0
    assert "association rejected by printer" in result.stopped
    assert result.settings == {"defaults": {"film_size": "14INX17IN", "orientation": "PORTRAIT",
                                            "magnification": "CUBIC", "priority": "med", "copies": 1}}
