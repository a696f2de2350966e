"""Job specs as people type them: enumerations in any case, film sizes without their unit, and
every mistake refused as the spec's error (naming the field), never as an internal error."""
from __future__ import annotations

import pytest

from hcserver.access import Peer
from tests.support.images import bundled
from tests.support.operations import make_operations

OWNER = Peer("alice", admin=False)
SMOOTHING_PRINTER = """
[printers.smooth]
driver = "preview"
dpi = 20
smoothing_types = ["MEDIUM", "SHARP"]
"""


@pytest.fixture(scope="module")
def ops(tmp_path_factory):
    operations = make_operations(tmp_path_factory.mktemp("specs"), SMOOTHING_PRINTER)
    with open(bundled("CT_small.dcm"), "rb") as image:
        response, _ = operations.handle({"op": "upload", "name": "ct"}, image.read(), OWNER)
    assert response["ok"], response
    operations.image_ref = response["image"]
    yield operations
    operations.formatting.shutdown()


def submit(ops, **fields) -> dict:
    response, _ = ops.handle({"id": 1, "op": "submit", "spec": {"printer": "film", **fields}}, b"", OWNER)
    return response


@pytest.mark.parametrize("typed", ["14x17", "14INx17IN", "14inx17in", "14INX17IN", " 14 x 17 "])
def test_a_film_size_may_be_typed_without_its_unit_or_in_any_case(ops, typed):
    response = submit(ops, images=[ops.image_ref] * 2, film_size=typed)
    assert response["ok"], response
    film = ops.queue.views.show(response["job"])["films"][0]
    assert (film["film_size"], film["layout"]) == ("14INX17IN", "STANDARD\\1,2")   # the automatic layout


def test_film_sizes_in_cm_and_by_name():
    from hcserver.formatter.geometry import film_size_id

    assert [film_size_id(t) for t in ("24x30cm", "24CMx30", "a4", "8.5x11", "15x15")] == \
        ["24CMX30CM", "24CMX30CM", "A4", "8_5INX11IN", "15X15"]


def test_enumerations_are_case_insensitive(ops):
    response = submit(ops, priority="HIGH", films=[{"film_size": "8inx10in", "orientation": "landscape",
                                                    "magnification": "cubic", "frames": [ops.image_ref]}])
    assert response["ok"], response
    job = ops.queue.views.show(response["job"])
    assert (job["priority"], job["films"][0]["orientation"], job["films"][0]["film_size"]) == \
        ("high", "LANDSCAPE", "8INX10IN")


@pytest.mark.parametrize("fields, field, words", [
    ({"orientation": "SIDEWAYS"}, "orientation", "'SIDEWAYS' is not one of: PORTRAIT, LANDSCAPE"),
    ({"film_size": "15x15"}, "film_size", "'15X15' is not one of: 8INX10IN"),
    ({"film_size": 14}, "film_size", "expected a non-empty string"),
])
def test_a_wrong_value_on_the_automatic_layout_path_is_the_specs_error(ops, fields, field, words):
    response = submit(ops, images=[ops.image_ref], **fields)
    assert not response["ok"]
    assert response["error"]["code"] == "invalid-spec", response["error"]
    assert response["error"]["message"].startswith(f"{field}: ") and words in response["error"]["message"]


def test_a_smoothing_type_the_printer_does_not_list_is_refused_for_the_film_or_a_frame(ops):
    def film(**options) -> dict:
        return {"film_size": "8INX10IN", "frames": [{"image": ops.image_ref, **options.pop("frame", {})}],
                **options}

    refused = submit(ops, printer="smooth", films=[film(smoothing="SOFT")])
    assert not refused["ok"] and refused["error"]["code"] == "invalid-spec", refused
    assert refused["error"]["message"] == "films[0].smoothing: 'SOFT' is not one of: MEDIUM, SHARP"
    refused = submit(ops, printer="smooth", films=[film(frame={"smoothing": "SOFT"})])
    assert refused["error"]["message"] == "films[0].frames[0].smoothing: 'SOFT' is not one of: MEDIUM, SHARP"
    accepted = submit(ops, printer="smooth", films=[film(smoothing="SHARP", frame={"smoothing": "MEDIUM"})])
    assert accepted["ok"], accepted
    (kept,) = ops.queue.attempts.film_specs(accepted["job"])
    assert (kept["smoothing"], kept["frames"][0]["smoothing"]) == ("SHARP", "MEDIUM")
    # a printer that lists none takes the printer's own values as they come
    assert submit(ops, films=[film(smoothing="SOFT", frame={"smoothing": "ANY"})])["ok"]
