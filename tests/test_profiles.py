"""Printer profiles (hcserver.profiles): named capability sets a printer of the configuration names
instead of listing every capability. Their printing against DCMTK's dcmprscp and the simulator is
in test_profile_printing.py."""
from __future__ import annotations

import pytest

from hcserver import formatter, profiles
from hcserver.config import ConfigError, parse
from hcserver.formatter.geometry import FILM_SIZES
from hcserver.jobspec import JobSpecValidator, SpecError
from tests.support.images import bundled

EXPECTED = {"agfa-drystar-3000", "aycan-paper", "ihe-full", "ihe-restricted", "kodak-8700-9410", "offis-dcmprint",
            "printscp"}


def printer_with(profile: str, extra: str = ""):
    return parse(f'[printers.p]\ndriver = "dicom"\nprofile = "{profile}"\n{extra}', "test.toml").printers["p"]


def test_the_bundled_profiles():
    assert set(profiles.names()) == EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_profile_is_a_valid_printer_and_says_where_it_comes_from(name):
    profile = profiles.load(name)
    # modelled on DCMTK's printer descriptions or a published conformance statement, and says which
    assert ("printers.cfg" in profile.source and "section [" in profile.source) or \
        "conformance statement" in profile.source
    printer = printer_with(name)
    for key, value in profile.printer.items():
        if key != "defaults":
            assert getattr(printer, key) == (tuple(value) if isinstance(value, list) else value), key
    # a profile names what it accepts: nothing left to "anything" but what its source leaves open
    assert printer.film_sizes and printer.display_formats and printer.magnification_types
    assert printer.defaults.film_size in printer.film_sizes
    assert printer.defaults.magnification in printer.magnification_types


def test_the_printers_own_keys_win_and_defaults_merge_key_by_key():
    printer = printer_with("aycan-paper", 'film_sizes = ["8INX10IN"]\nbit_depth = 8\n'
                                          'defaults = { copies = 2, film_size = "8INX10IN" }\n')
    assert printer.film_sizes == ("8INX10IN",)
    assert printer.bit_depth == 8
    assert printer.magnification_types == ("REPLICATE",)        # from the profile
    assert (printer.defaults.copies, printer.defaults.medium_type, printer.defaults.magnification) == (
        2, "PAPER", "REPLICATE")                                  # the printer's, then the profile's


def test_a_printers_own_key_is_still_checked_against_the_profiles_defaults():
    with pytest.raises(ConfigError, match=r"printers\.p\.defaults\.film_size: '8INX10IN' is not one this printer "
                                          r"accepts \(14INX17IN\)"):
        printer_with("aycan-paper", 'film_sizes = ["14INX17IN"]\n')


def test_an_unknown_profile_is_named_with_the_bundled_ones():
    with pytest.raises(ConfigError) as info:
        printer_with("drystar")
    assert info.value.key == "printers.p.profile"
    assert "unknown printer profile 'drystar' (bundled: agfa-drystar-3000, aycan-paper," in str(info.value)
    with pytest.raises(ConfigError, match=r"printers\.p\.profile: expected the name of a printer profile, got 3"):
        parse('[printers.p]\ndriver = "dicom"\nprofile = 3\n', "test.toml")


@pytest.mark.parametrize("raw, problem", [
    ({"description": "x", "source": "y", "hosts": {}}, "unknown key 'hosts'"),
    ({"description": "x"}, "source is required"),
    ({"description": "x", "source": "y", "printer": {"host": "10.0.0.1"}}, "printer.host: not a key a profile may set"),
    ({"description": "x", "source": "y", "scp": {"implicit_only": "yes"}}, "scp.implicit_only: expected a bool"),
    ({"description": "x", "source": "y", "scp": {"max_pdu": True}}, "scp.max_pdu: expected a int"),
    ({"description": "x", "source": "y", "printer": []}, "printer must be a dict"),
])
def test_a_file_that_is_no_profile_is_refused_with_the_reason(raw, problem):
    with pytest.raises(profiles.ProfileError, match=problem):
        profiles.parse("mine", raw)


def _validator(profile: str) -> JobSpecValidator:
    config = parse(f'[printers.p]\ndriver = "dicom"\nprofile = "{profile}"\n', "test.toml")
    # image references are file paths here, inspected as at submit
    return JobSpecValidator(config, lambda reference, field: reference, formatter.inspect_image)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_job_asking_for_what_the_profile_lacks_is_refused_at_submit_naming_the_field(name):
    printer = printer_with(name)
    validator = _validator(name)
    ct = bundled("CT_small.dcm")
    accepted = {"film_size": printer.film_sizes[0], "layout": printer.display_formats[0], "frames": [ct]}
    assert validator.normalise({"films": [accepted]})["films"][0]["film_size"] == printer.film_sizes[0]
    lacking = {
        "film_size": next(size for size in FILM_SIZES if size not in printer.film_sizes),
        "layout": next(f"STANDARD\\{n},{n + 1}" for n in range(1, 10)
                       if f"STANDARD\\{n},{n + 1}" not in printer.display_formats),
        "magnification": next((m for m in formatter.MAGNIFICATIONS if m not in printer.magnification_types), None),
    }
    for key, value in lacking.items():
        if value is None:   # the profile takes every magnification hcserver knows
            continue
        if key == "layout" and "STANDARD\\1,1" in printer.display_formats:
            # a layout it lacks is composed into the STANDARD\1,1 it lists (hcserver.filmplan)
            assert validator.normalise({"films": [{**accepted, key: value}]})["films"][0]["layout"] == value
            continue
        with pytest.raises(SpecError) as info:
            validator.normalise({"films": [{**accepted, key: value}]})
        assert info.value.field == f"films[0].{key}", str(info.value)
        assert repr(value) in str(info.value) or "accepts only" in str(info.value)
    if printer.medium_types:
        with pytest.raises(SpecError, match=r"^medium_type: 'MAMMO BLUE FILM' is not one of: "):
            validator.normalise({"medium_type": "MAMMO BLUE FILM", "films": [accepted]})
